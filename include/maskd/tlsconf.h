/*
 * tlsconf.h - the OpenSSL set-up SIP over TLS needs and sofia-sip cannot
 * be asked for: the least TLS version, and the [sip] tls_* files checked
 * and laid out the way sofia-sip reads them.
 *
 * sofia-sip 1.12.11 (tport_tls.c) makes its own SSL_CTX with
 * TLS_method() and offers neither a minimum version nor any hook on the
 * context; it reads its key, certificate and CAs from one directory
 * (TPTAG_CERTIFICATE), by fixed names, and carries on without a
 * certificate when the files are bad. So maskd checks the files first,
 * writes the directory itself, and sets the minimum version for the whole
 * process through OpenSSL's own configuration (system_default), which
 * every SSL_CTX applies when it is created.
 *
 * Runs on the main thread at start-up, before the threads that use
 * OpenSSL exist; nothing here keeps state of its own.
 */
#ifndef MASKD_TLSCONF_H
#define MASKD_TLSCONF_H

#include <stddef.h>

#include "maskd/log.h"

/* A directory made by tlsconf_dir_make(): "$TMPDIR/maskd-tls-XXXXXX". */
#define TLSCONF_DIR_SIZE 4096

/*
 * tlsconf_min_version() - from now on, every SSL_CTX the process creates
 * refuses TLS below 1.2 (sofia-sip's, the API's, libcurl's).
 *
 * The system's OpenSSL configuration (openssl.cnf, or $OPENSSL_CONF) is
 * loaded first and its ssl_conf sections are kept: system_default only
 * gets MinProtocol = TLSv1.2, unless it already asks for TLSv1.3. A
 * context made afterwards is checked, so a setting that did not take is
 * an error rather than a silent TLS 1.0. Not thread-safe: OpenSSL keeps
 * these settings in globals; call before any other thread uses OpenSSL.
 * Returns 0, or EPROTO (the reason logged).
 */
int tlsconf_min_version(struct log *log);

/*
 * tlsconf_dir_make() - check @cert (PEM, a chain, leaf first), @key (PEM,
 * unencrypted, matching the leaf) and @ca (PEM CA certificates; "" =
 * none), then write them into a new directory, mode 0700, as sofia-sip's
 * TPTAG_CERTIFICATE wants it: agent.pem holds the key and the leaf,
 * cafile.pem (mode 0600 like agent.pem) the CAs of @ca and the chain's
 * intermediates (OpenSSL completes the chain it sends from there). The
 * directory's path goes into @dir (TLSCONF_DIR_SIZE bytes); the caller
 * removes it with tlsconf_dir_remove(), best as soon as sofia-sip has read
 * it. Returns 0; ENOENT/EACCES (a file cannot be read), EINVAL (a file
 * does not parse, the key does not match, @ca holds no certificate), each
 * logged with the file's name; or an errno writing the directory, which
 * is then gone.
 */
int tlsconf_dir_make(const char *cert, const char *key, const char *ca,
		     char dir[TLSCONF_DIR_SIZE], struct log *log);

/*
 * tlsconf_dir_remove() - remove what tlsconf_dir_make() wrote and the
 * directory. "" or NULL: nothing. Leaves @dir "".
 */
void tlsconf_dir_remove(char dir[TLSCONF_DIR_SIZE]);

#endif
