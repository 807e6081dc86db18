/*
 * tlsconf.c - the least TLS version for the whole process, and the
 * directory of PEM files sofia-sip's TLS transport reads.
 *
 * Runs on the main thread at start-up only (see tlsconf.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "maskd/tlsconf.h"

#define TLSCONF_MIN_PROTOCOL "TLSv1.2"
#define TLSCONF_AGENT "agent.pem"	/* sofia-sip: key and certificate */
#define TLSCONF_CAFILE "cafile.pem"	/* sofia-sip: CAs */

/* Log what OpenSSL's error queue holds, and empty it. */
static void tlsconf_log_errors(struct log *log, const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error())) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_error(log, "tls: %s: %s", what, buf);
	}
}

/* ---- the least version -------------------------------------------------- */

/* @name names the SSL_CONF command @cmd: OpenSSL drops anything up to a
 * first dot ("ssl.MinProtocol") and compares without case. */
static bool tlsconf_cmd_is(const char *name, const char *cmd)
{
	const char *dot = strchr(name, '.');

	return !strcasecmp(dot ? dot + 1 : name, cmd);
}

/* "key = value" so that OpenSSL's parser reads @value back unchanged:
 * its escape character, variables, comments and quotes escaped. */
static void tlsconf_put(BIO *b, const char *key, const char *value)
{
	const char *v;

	BIO_printf(b, "%s = ", key);
	for (v = value; *v; v++) {
		if (strchr("\\$#\"'", *v))
			BIO_write(b, "\\", 1);
		BIO_write(b, v, 1);
	}
	BIO_write(b, "\n", 1);
}

/*
 * The ssl_conf of the system's configuration: the section listing its
 * named command sets, or NULL when it has none (or no file at all: then
 * OpenSSL runs on its defaults too).
 */
static STACK_OF(CONF_VALUE) *tlsconf_system_names(CONF *sys)
{
	const char *app, *ssl;

	app = NCONF_get_string(sys, NULL, "openssl_conf");
	ssl = app ? NCONF_get_string(sys, app, "ssl_conf") : NULL;
	ERR_clear_error();	/* a missing key is no error here */
	return ssl ? NCONF_get_section(sys, ssl) : NULL;
}

/*
 * An OpenSSL configuration with one module, ssl_conf, holding the
 * system's named command sets as they are, but for system_default, which
 * gets MinProtocol = TLSv1.2 in place of any lower one (and is made when
 * the system has none). Loading it replaces the system's ssl_conf
 * settings (OpenSSL keeps one set per process), so they are carried over.
 */
static void tlsconf_write(BIO *b, CONF *sys)
{
	STACK_OF(CONF_VALUE) *names = sys ? tlsconf_system_names(sys) : NULL;
	STACK_OF(CONF_VALUE) *cmds;
	CONF_VALUE *n, *c;
	bool have_default = false, keep_min;
	int i, j;

	BIO_printf(b, "openssl_conf = maskd_init\n[maskd_init]\n"
		   "ssl_conf = maskd_ssl\n[maskd_ssl]\n");
	for (i = 0; i < sk_CONF_VALUE_num(names); i++) {
		n = sk_CONF_VALUE_value(names, i);
		if (sk_CONF_VALUE_num(NCONF_get_section(sys, n->value)) <= 0)
			continue;	/* OpenSSL refuses an empty set */
		BIO_printf(b, "%s = maskd_ssl_%d\n", n->name, i);
		if (!strcmp(n->name, "system_default"))
			have_default = true;
	}
	if (!have_default)
		BIO_printf(b, "system_default = maskd_ssl_default\n"
			   "[maskd_ssl_default]\nMinProtocol = %s\n",
			   TLSCONF_MIN_PROTOCOL);

	for (i = 0; i < sk_CONF_VALUE_num(names); i++) {
		n = sk_CONF_VALUE_value(names, i);
		cmds = NCONF_get_section(sys, n->value);
		if (sk_CONF_VALUE_num(cmds) <= 0)
			continue;
		BIO_printf(b, "[maskd_ssl_%d]\n", i);
		keep_min = false;
		for (j = 0; j < sk_CONF_VALUE_num(cmds); j++) {
			c = sk_CONF_VALUE_value(cmds, j);
			if (!strcmp(n->name, "system_default") &&
			    tlsconf_cmd_is(c->name, "MinProtocol")) {
				if (strcasecmp(c->value, "TLSv1.3"))
					continue;
				keep_min = true;
			}
			tlsconf_put(b, c->name, c->value);
		}
		if (!strcmp(n->name, "system_default") && !keep_min)
			BIO_printf(b, "MinProtocol = %s\n",
				   TLSCONF_MIN_PROTOCOL);
	}
	ERR_clear_error();
}

/* The system's configuration file as OpenSSL finds it, or NULL. */
static CONF *tlsconf_system_load(struct log *log)
{
	char *file = CONF_get1_default_config_file();
	CONF *sys = NCONF_new(NULL);
	long line = 0;

	if (file && sys && NCONF_load(sys, file, &line) <= 0) {
		if (access(file, F_OK) == 0)
			log_warn(log, "tls: cannot read %s (line %ld); only "
				 "MinProtocol = %s is set", file, line,
				 TLSCONF_MIN_PROTOCOL);
		NCONF_free(sys);
		sys = NULL;
	}
	OPENSSL_free(file);
	ERR_clear_error();
	return sys;
}

int tlsconf_min_version(struct log *log)
{
	CONF *sys = NULL, *ours = NULL;
	SSL_CTX *probe = NULL;
	BIO *b = NULL;
	long line = 0;
	int err = EPROTO;

	/* the system's file first: OpenSSL loads it once per process, and
	 * on the first SSL_CTX_new() it would replace ours */
	if (!OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL)) {
		tlsconf_log_errors(log, "init");
		goto out;
	}
	sys = tlsconf_system_load(log);

	b = BIO_new(BIO_s_mem());
	ours = NCONF_new(NULL);
	if (!b || !ours)
		goto out;
	tlsconf_write(b, sys);
	if (NCONF_load_bio(ours, b, &line) <= 0 ||
	    CONF_modules_load(ours, NULL, 0) <= 0) {
		tlsconf_log_errors(log, "system_default");
		goto out;
	}

	probe = SSL_CTX_new(TLS_method());
	if (!probe) {
		tlsconf_log_errors(log, "context");
		goto out;
	}
	if (SSL_CTX_get_min_proto_version(probe) < TLS1_2_VERSION) {
		log_error(log, "tls: OpenSSL did not take MinProtocol = %s",
			  TLSCONF_MIN_PROTOCOL);
		goto out;
	}
	err = 0;
 out:
	if (err)
		log_error(log, "tls: cannot make TLS 1.2 the least version");
	SSL_CTX_free(probe);
	NCONF_free(ours);
	BIO_free(b);
	NCONF_free(sys);
	return err;
}

/* ---- the files ---------------------------------------------------------- */

/* No passphrase prompt, ever: an encrypted key simply fails to load. */
static int tlsconf_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int tlsconf_open(const char *path, BIO **bp, struct log *log)
{
	*bp = BIO_new_file(path, "r");
	if (*bp)
		return 0;
	if (errno == 0)
		errno = EIO;
	log_error(log, "tls: cannot read %s: %s", path, strerror(errno));
	ERR_clear_error();
	return errno;
}

static int tlsconf_key_read(const char *path, EVP_PKEY **keyp,
			    struct log *log)
{
	BIO *b;
	int err;

	err = tlsconf_open(path, &b, log);
	if (err)
		return err;
	*keyp = PEM_read_bio_PrivateKey(b, NULL, tlsconf_no_passphrase, NULL);
	BIO_free(b);
	if (!*keyp) {
		log_error(log, "tls: %s: no unencrypted PEM private key", path);
		tlsconf_log_errors(log, path);
		return EINVAL;
	}
	return 0;
}

/* Every certificate of a PEM file, in order; at least one. */
static int tlsconf_certs_read(const char *path, STACK_OF(X509) **certsp,
			      struct log *log)
{
	STACK_OF(X509) *certs;
	unsigned long e;
	X509 *x;
	BIO *b;
	int err;

	err = tlsconf_open(path, &b, log);
	if (err)
		return err;
	certs = sk_X509_new_null();
	if (!certs) {
		BIO_free(b);
		return ENOMEM;
	}
	while ((x = PEM_read_bio_X509(b, NULL, tlsconf_no_passphrase, NULL))) {
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			err = ENOMEM;
			break;
		}
	}
	BIO_free(b);

	/* the end of the file is an error too: "no start line" */
	e = ERR_peek_last_error();
	if (!err && (ERR_GET_LIB(e) != ERR_LIB_PEM ||
		     ERR_GET_REASON(e) != PEM_R_NO_START_LINE) && e)
		err = EINVAL;
	if (!err && sk_X509_num(certs) == 0)
		err = EINVAL;
	if (err) {
		log_error(log, "tls: %s: not a PEM certificate file", path);
		tlsconf_log_errors(log, path);
		sk_X509_pop_free(certs, X509_free);
		return err;
	}
	ERR_clear_error();
	*certsp = certs;
	return 0;
}

/* @name in @dir, created 0600 (never an existing file): @key, @leaf and
 * @certs, each when not NULL, in that order. */
static int tlsconf_file_write(const char *dir, const char *name,
			      EVP_PKEY *key, X509 *leaf,
			      STACK_OF(X509) *certs)
{
	char path[TLSCONF_DIR_SIZE + 32];
	FILE *f;
	int fd, i, ok = 1, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
		return err;
	}
	if (key)
		ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (ok && leaf)
		ok = PEM_write_X509(f, leaf);
	for (i = 0; ok && i < sk_X509_num(certs); i++)
		ok = PEM_write_X509(f, sk_X509_value(certs, i));
	if (!ok)
		err = EIO;
	if (fclose(f) && !err)
		err = errno;
	ERR_clear_error();
	return err;
}

static void tlsconf_warn_dates(X509 *leaf, const char *path, struct log *log)
{
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
		log_warn(log, "tls: %s: the certificate has expired: peers "
			 "that check it will refuse maskd", path);
	else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
		log_warn(log, "tls: %s: the certificate is not valid yet",
			 path);
}

int tlsconf_dir_make(const char *cert, const char *key, const char *ca,
		     char dir[TLSCONF_DIR_SIZE], struct log *log)
{
	STACK_OF(X509) *chain = NULL, *cas = NULL, *trust = NULL;
	EVP_PKEY *pkey = NULL;
	const char *tmp;
	X509 *leaf;
	int i, err;

	dir[0] = '\0';
	err = tlsconf_certs_read(cert, &chain, log);
	if (err)
		goto out;
	err = tlsconf_key_read(key, &pkey, log);
	if (err)
		goto out;
	leaf = sk_X509_value(chain, 0);
	if (X509_check_private_key(leaf, pkey) != 1) {
		log_error(log, "tls: %s does not match the certificate of %s",
			  key, cert);
		ERR_clear_error();
		err = EINVAL;
		goto out;
	}
	tlsconf_warn_dates(leaf, cert, log);
	if (ca && ca[0]) {
		err = tlsconf_certs_read(ca, &cas, log);
		if (err)
			goto out;
	}

	tmp = getenv("TMPDIR");
	if (!tmp || !tmp[0])
		tmp = "/tmp";
	if (snprintf(dir, TLSCONF_DIR_SIZE, "%s/maskd-tls-XXXXXX", tmp) >=
	    TLSCONF_DIR_SIZE - 32) {
		dir[0] = '\0';
		err = ENAMETOOLONG;
		goto out;
	}
	if (!mkdtemp(dir)) {	/* mode 0700 */
		err = errno;
		log_error(log, "tls: cannot create %s: %s", dir,
			  strerror(err));
		dir[0] = '\0';
		goto out;
	}

	/* agent.pem: the key, then the leaf, which is all that sofia-sip
	 * reads of it (SSL_CTX_use_certificate_file() takes the first) */
	err = tlsconf_file_write(dir, TLSCONF_AGENT, pkey, leaf, NULL);
	if (err)
		goto fail;

	/* cafile.pem: the CAs, then the chain's intermediates, from which
	 * OpenSSL completes the chain it presents (borrowed pointers) */
	trust = sk_X509_new_null();
	if (!trust) {
		err = ENOMEM;
		goto fail;
	}
	for (i = 0; i < sk_X509_num(cas); i++)
		if (!sk_X509_push(trust, sk_X509_value(cas, i)))
			err = ENOMEM;
	for (i = 1; i < sk_X509_num(chain); i++)
		if (!sk_X509_push(trust, sk_X509_value(chain, i)))
			err = ENOMEM;
	if (!err && sk_X509_num(trust) > 0)
		err = tlsconf_file_write(dir, TLSCONF_CAFILE, NULL, NULL,
					 trust);
	if (err)
		goto fail;
	goto out;
 fail:
	log_error(log, "tls: cannot write into %s: %s", dir, strerror(err));
	tlsconf_dir_remove(dir);
 out:
	sk_X509_free(trust);
	EVP_PKEY_free(pkey);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(cas, X509_free);
	return err;
}

void tlsconf_dir_remove(char dir[TLSCONF_DIR_SIZE])
{
	static const char *const names[] = { TLSCONF_AGENT, TLSCONF_CAFILE };
	char path[TLSCONF_DIR_SIZE + 32];
	size_t i;

	if (!dir || !dir[0])
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
	dir[0] = '\0';
}
