/*
 * test_tlsconf.c - the least TLS version set through OpenSSL's
 * configuration (the system's other settings kept), and the certificate
 * directory for sofia-sip: what it holds, its modes, and every file that
 * must stop start-up instead.
 *
 * Keys and certificates are made here with OpenSSL (P-256): a CA, an
 * intermediate, a leaf under it, and a stray key.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "maskd/tlsconf.h"

struct fixture {
	char dir[64];		/* everything of this test */
	char tmp[128];		/* TMPDIR for tlsconf_dir_make() */
	EVP_PKEY *ca_key, *mid_key, *leaf_key, *stray_key;
	X509 *ca, *mid, *leaf;
};

static struct log quiet = { .level = LOG_LVL_ERROR, .fd = -1 };

static void path_of(const struct fixture *f, const char *name, char *out,
		    size_t size)
{
	snprintf(out, size, "%s/%s", f->dir, name);
}

static X509 *cert_make(const char *cn, EVP_PKEY *key, X509 *issuer,
		       EVP_PKEY *issuer_key, bool ca)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0xffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "CA:FALSE");
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, issuer_key ? issuer_key : key,
			      EVP_sha256()) > 0);
	return x;
}

/* @key (may be NULL) and the certificates @a, @b, @c (each may be NULL)
 * written to @name. */
static void pem_write(const struct fixture *f, const char *name,
		      EVP_PKEY *key, X509 *a, X509 *b, X509 *c)
{
	char path[256];
	FILE *fp;

	path_of(f, name, path, sizeof(path));
	fp = fopen(path, "w");
	assert_non_null(fp);
	if (key)
		assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0,
						      NULL, NULL), 1);
	if (a)
		assert_int_equal(PEM_write_X509(fp, a), 1);
	if (b)
		assert_int_equal(PEM_write_X509(fp, b), 1);
	if (c)
		assert_int_equal(PEM_write_X509(fp, c), 1);
	assert_int_equal(fclose(fp), 0);
}

static void text_write(const struct fixture *f, const char *name,
		       const char *text)
{
	char path[256];
	FILE *fp;

	path_of(f, name, path, sizeof(path));
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[256];
	FILE *fp;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/maskd_test_tls_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->tmp, sizeof(f->tmp), "%s/tmp", f->dir);
	assert_int_equal(mkdir(f->tmp, 0700), 0);
	assert_int_equal(setenv("TMPDIR", f->tmp, 1), 0);

	f->ca_key = EVP_EC_gen("P-256");
	f->mid_key = EVP_EC_gen("P-256");
	f->leaf_key = EVP_EC_gen("P-256");
	f->stray_key = EVP_EC_gen("P-256");
	assert_non_null(f->stray_key);
	f->ca = cert_make("test ca", f->ca_key, NULL, NULL, true);
	f->mid = cert_make("test intermediate", f->mid_key, f->ca, f->ca_key,
			   true);
	f->leaf = cert_make("127.0.0.1", f->leaf_key, f->mid, f->mid_key,
			    false);

	pem_write(f, "chain.pem", NULL, f->leaf, f->mid, NULL);
	pem_write(f, "leaf.pem", NULL, f->leaf, NULL, NULL);
	pem_write(f, "leaf.key", f->leaf_key, NULL, NULL, NULL);
	pem_write(f, "stray.key", f->stray_key, NULL, NULL, NULL);
	pem_write(f, "ca.pem", NULL, f->ca, NULL, NULL);
	text_write(f, "garbage.pem", "-----BEGIN CERTIFICATE-----\n"
		   "bm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
	text_write(f, "empty.pem", "# nothing here\n");

	/* the key under a passphrase: no prompt, refused */
	path_of(f, "locked.key", path, sizeof(path));
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, f->leaf_key,
					      EVP_aes_128_cbc(),
					      (unsigned char *)"secret", 6,
					      NULL, NULL), 1);
	assert_int_equal(fclose(fp), 0);

	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	EVP_PKEY_free(f->ca_key);
	EVP_PKEY_free(f->mid_key);
	EVP_PKEY_free(f->leaf_key);
	EVP_PKEY_free(f->stray_key);
	X509_free(f->ca);
	X509_free(f->mid);
	X509_free(f->leaf);
	free(f);
	return 0;
}

/* How many entries TMPDIR holds. */
static int tmp_entries(const struct fixture *f)
{
	struct dirent *e;
	DIR *d = opendir(f->tmp);
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int make(const struct fixture *f, const char *cert, const char *key,
		const char *ca, char dir[TLSCONF_DIR_SIZE])
{
	char c[256], k[256], a[256] = "";

	path_of(f, cert, c, sizeof(c));
	path_of(f, key, k, sizeof(k));
	if (ca)
		path_of(f, ca, a, sizeof(a));
	return tlsconf_dir_make(c, k, a, dir, &quiet);
}

static STACK_OF(X509) *certs_read(const char *path)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	FILE *fp = fopen(path, "r");
	X509 *x;

	assert_non_null(fp);
	while ((x = PEM_read_X509(fp, NULL, NULL, NULL)))
		sk_X509_push(sk, x);
	fclose(fp);
	return sk;
}

static void test_dir_layout(void **state)
{
	struct fixture *f = *state;
	char dir[TLSCONF_DIR_SIZE], path[TLSCONF_DIR_SIZE + 32];
	STACK_OF(X509) *sk;
	EVP_PKEY *key;
	struct stat st;
	FILE *fp;

	assert_int_equal(make(f, "chain.pem", "leaf.key", "ca.pem", dir), 0);
	assert_int_equal(strncmp(dir, f->tmp, strlen(f->tmp)), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* agent.pem: the key, then the leaf alone */
	snprintf(path, sizeof(path), "%s/agent.pem", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	fp = fopen(path, "r");
	assert_non_null(fp);
	key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_eq(key, f->leaf_key), 1);
	EVP_PKEY_free(key);
	sk = certs_read(path);
	assert_int_equal(sk_X509_num(sk), 1);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 0), f->leaf), 0);
	sk_X509_pop_free(sk, X509_free);

	/* cafile.pem: the CA, then the chain's intermediate */
	snprintf(path, sizeof(path), "%s/cafile.pem", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	sk = certs_read(path);
	assert_int_equal(sk_X509_num(sk), 2);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 0), f->ca), 0);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 1), f->mid), 0);
	sk_X509_pop_free(sk, X509_free);

	/* what sofia-sip does with it: the key matches the certificate */
	{
		SSL_CTX *ctx = SSL_CTX_new(TLS_method());

		snprintf(path, sizeof(path), "%s/agent.pem", dir);
		assert_int_equal(SSL_CTX_use_certificate_file(ctx, path,
						SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, path,
						SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
		SSL_CTX_free(ctx);
	}

	tlsconf_dir_remove(dir);
	assert_string_equal(dir, "");
	assert_int_equal(tmp_entries(f), 0);
	tlsconf_dir_remove(dir);	/* "" again: nothing */
	tlsconf_dir_remove(NULL);
}

static void test_dir_without_ca(void **state)
{
	struct fixture *f = *state;
	char dir[TLSCONF_DIR_SIZE], path[TLSCONF_DIR_SIZE + 32];

	/* a lone leaf and no CA: no cafile.pem at all */
	assert_int_equal(make(f, "leaf.pem", "leaf.key", NULL, dir), 0);
	snprintf(path, sizeof(path), "%s/cafile.pem", dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/agent.pem", dir);
	assert_int_equal(access(path, R_OK), 0);
	tlsconf_dir_remove(dir);
	assert_int_equal(tmp_entries(f), 0);
}

/* Every file that must stop start-up: the errno, and nothing left. */
static void test_dir_refused(void **state)
{
	struct fixture *f = *state;
	char dir[TLSCONF_DIR_SIZE];

	assert_int_equal(make(f, "chain.pem", "stray.key", "ca.pem", dir),
			 EINVAL);
	assert_string_equal(dir, "");
	assert_int_equal(make(f, "missing.pem", "leaf.key", "ca.pem", dir),
			 ENOENT);
	assert_int_equal(make(f, "chain.pem", "missing.key", "ca.pem", dir),
			 ENOENT);
	assert_int_equal(make(f, "chain.pem", "leaf.key", "missing.pem", dir),
			 ENOENT);
	assert_int_equal(make(f, "garbage.pem", "leaf.key", NULL, dir),
			 EINVAL);
	assert_int_equal(make(f, "empty.pem", "leaf.key", NULL, dir), EINVAL);
	assert_int_equal(make(f, "leaf.key", "leaf.key", NULL, dir), EINVAL);
	assert_int_equal(make(f, "chain.pem", "ca.pem", NULL, dir), EINVAL);
	assert_int_equal(make(f, "chain.pem", "locked.key", NULL, dir),
			 EINVAL);
	assert_int_equal(make(f, "chain.pem", "leaf.key", "empty.pem", dir),
			 EINVAL);
	assert_int_equal(make(f, "chain.pem", "leaf.key", "leaf.key", dir),
			 EINVAL);
	assert_string_equal(dir, "");
	assert_int_equal(tmp_entries(f), 0);
}

/* A system configuration of @text, as $OPENSSL_CONF. */
static void system_conf(const struct fixture *f, const char *name,
			const char *text)
{
	char path[256];

	text_write(f, name, text);
	path_of(f, name, path, sizeof(path));
	assert_int_equal(setenv("OPENSSL_CONF", path, 1), 0);
}

static void test_min_version(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *ctx;

	/* the system lowers everything: TLS 1.0 and security level 0. The
	 * level is kept, the version raised */
	system_conf(f, "weak.cnf", "openssl_conf = a\n[a]\nssl_conf = b\n"
		    "[b]\nsystem_default = c\nnamed = d\n"
		    "[c]\nMinProtocol = TLSv1\n"
		    "CipherString = DEFAULT:@SECLEVEL=0\n"
		    "[d]\nMinProtocol = TLSv1.1\n");
	assert_int_equal(tlsconf_min_version(&quiet), 0);
	ctx = SSL_CTX_new(TLS_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_security_level(ctx), 0);
	/* another named set is carried over as it was */
	assert_int_equal(SSL_CTX_config(ctx, "named"), 1);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_1_VERSION);
	SSL_CTX_free(ctx);

	/* a TLS 1.3 minimum is not lowered */
	system_conf(f, "strict.cnf", "openssl_conf = a\n[a]\nssl_conf = b\n"
		    "[b]\nsystem_default = c\n"
		    "[c]\nssl.MinProtocol = TLSv1.3\n");
	assert_int_equal(tlsconf_min_version(&quiet), 0);
	ctx = SSL_CTX_new(TLS_method());
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	SSL_CTX_free(ctx);

	/* no system file at all; and a file with no ssl_conf */
	assert_int_equal(setenv("OPENSSL_CONF", "/nonexistent/openssl.cnf",
				1), 0);
	assert_int_equal(tlsconf_min_version(&quiet), 0);
	ctx = SSL_CTX_new(TLS_method());
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	SSL_CTX_free(ctx);
	system_conf(f, "plain.cnf", "# nothing for ssl_conf\n[x]\ny = z\n");
	assert_int_equal(tlsconf_min_version(&quiet), 0);
	ctx = SSL_CTX_new(TLS_method());
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	SSL_CTX_free(ctx);

	/* values OpenSSL's parser would otherwise read differently */
	system_conf(f, "quoted.cnf", "openssl_conf = a\n[a]\nssl_conf = b\n"
		    "[b]\nsystem_default = c\n"
		    "[c]\nCipherString = \"DEFAULT:@SECLEVEL=0\"\n"
		    "Ciphersuites = TLS_AES_128_GCM_SHA256\n");
	assert_int_equal(tlsconf_min_version(&quiet), 0);
	ctx = SSL_CTX_new(TLS_method());
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_security_level(ctx), 0);
	SSL_CTX_free(ctx);
	unsetenv("OPENSSL_CONF");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir_layout),
		cmocka_unit_test(test_dir_without_ca),
		cmocka_unit_test(test_dir_refused),
		cmocka_unit_test(test_min_version),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
