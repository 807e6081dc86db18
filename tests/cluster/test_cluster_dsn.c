/*
 * test_cluster_dsn.c - where a node's DSN comes from ([cluster] store,
 * store_file, $MASKD_CLUSTER_DSN, in rising precedence) and what of it
 * may be logged (never a password).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "maskd/cluster.h"
#include "../test_util.h"

static void mask_is(const char *dsn, const char *want)
{
	char out[256];

	cluster_dsn_mask(dsn, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_mask(void **state)
{
	mask_is("postgresql://maskd:s3cret@127.0.0.1:5432/maskd",
		"postgresql://maskd:***@127.0.0.1:5432/maskd");
	mask_is("postgres://u:p@h/db?sslmode=require&password=x2&a=b",
		"postgres://u:***@h/db?sslmode=require&password=***&a=b");
	mask_is("postgresql://u@h/db", "postgresql://u@h/db");
	mask_is("postgresql://h:5432/db", "postgresql://h:5432/db");
	mask_is("host=h user=u password=s3cret dbname=d",
		"host=h user=u password=*** dbname=d");
	mask_is("host=h password='a b\\' c' dbname=d",
		"host=h password=*** dbname=d");
	mask_is("", "");
}

static void test_mask_truncates(void **state)
{
	char out[12];

	cluster_dsn_mask("postgresql://u:secret@host/db", out, sizeof(out));
	assert_string_equal(out, "postgresql:");
	assert_null(strstr(out, "secret"));
}

static void test_sources(void **state)
{
	struct config_cluster cfg;
	char err[256], *dsn, *dir = test_tmpdir(), path[512];
	FILE *f;

	assert_non_null(dir);
	memset(&cfg, 0, sizeof(cfg));
	unsetenv(CLUSTER_DSN_ENV);
	/* nothing: single-node */
	assert_int_equal(cluster_dsn(&cfg, &dsn, err, sizeof(err)), 0);
	assert_null(dsn);
	/* store */
	strcpy(cfg.store, "postgresql://a@h/db");
	assert_int_equal(cluster_dsn(&cfg, &dsn, err, sizeof(err)), 0);
	assert_string_equal(dsn, "postgresql://a@h/db");
	cluster_dsn_free(dsn);
	/* store_file: its first line wins over store */
	snprintf(path, sizeof(path), "%s/dsn", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("postgresql://b:pw@h/db\nignored\n", f);
	fclose(f);
	strcpy(cfg.store_file, path);
	assert_int_equal(cluster_dsn(&cfg, &dsn, err, sizeof(err)), 0);
	assert_string_equal(dsn, "postgresql://b:pw@h/db");
	cluster_dsn_free(dsn);
	/* the environment wins over both */
	setenv(CLUSTER_DSN_ENV, "host=e", 1);
	assert_int_equal(cluster_dsn(&cfg, &dsn, err, sizeof(err)), 0);
	assert_string_equal(dsn, "host=e");
	cluster_dsn_free(dsn);
	unsetenv(CLUSTER_DSN_ENV);
	/* a missing file is an error naming the key, not the DSN */
	unlink(path);
	assert_int_equal(cluster_dsn(&cfg, &dsn, err, sizeof(err)), ENOENT);
	assert_null(dsn);
	assert_non_null(strstr(err, "cluster.store_file"));
	/* an empty one too */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(cluster_dsn(&cfg, &dsn, err, sizeof(err)), EINVAL);
	assert_null(dsn);
	test_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_mask_truncates),
		cmocka_unit_test(test_sources),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
