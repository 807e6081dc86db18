/*
 * test_geo.c - a number's country from the calling-code tables generated
 * out of data/calling_codes.tsv and data/nanp_area_codes.tsv.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "maskd/geo.h"

static void expect(const char *num, int rc, const char *country,
		   unsigned cc_len)
{
	char c[GEO_COUNTRY_SIZE] = "??";
	unsigned len = 99;

	assert_int_equal(geo_lookup(num, c, &len), rc);
	assert_string_equal(c, country);
	if (rc == 0)
		assert_int_equal(len, cc_len);
}

static void test_nanp(void **state)
{
	(void)state;
	expect("+14155550100", 0, "US", 1);	/* San Francisco */
	expect("+12125550100", 0, "US", 1);	/* New York */
	expect("+14165550100", 0, "CA", 1);	/* Toronto */
	expect("+16045550100", 0, "CA", 1);	/* Vancouver */
	expect("+15145550100", 0, "CA", 1);	/* Montreal */
	expect("+18765550100", 0, "JM", 1);	/* Jamaica */
	expect("+17875550100", 0, "PR", 1);	/* Puerto Rico */
	expect("+12425550100", 0, "BS", 1);	/* Bahamas */
	expect("+18095550100", 0, "DO", 1);	/* Dominican Republic */
	expect("+18685550100", 0, "TT", 1);	/* Trinidad and Tobago */
	/* an area code not listed: the table's default */
	expect("+19995550100", 0, "US", 1);
}

static void test_calling_codes(void **state)
{
	(void)state;
	expect("+442071234567", 0, "GB", 2);
	expect("+447700900123", 0, "GB", 2);
	expect("+919845012345", 0, "IN", 2);
	expect("+4930123456", 0, "DE", 2);
	expect("+33123456789", 0, "FR", 2);
	expect("+353861234567", 0, "IE", 3);	/* not 35 + something */
	expect("+97141234567", 0, "AE", 3);
	/* +7: Kazakhstan's 6 and 7 ranges, the rest Russia */
	expect("+74951234567", 0, "RU", 1);
	expect("+79161234567", 0, "RU", 1);
	expect("+77011234567", 0, "KZ", 1);
	expect("+76221234567", 0, "KZ", 1);
}

static void test_unknown(void **state)
{
	char c[GEO_COUNTRY_SIZE] = "??";

	(void)state;
	/* +999 and +88 are no calling codes of the table */
	expect("+99912345678", ENOENT, "", 0);
	expect("+88012", EINVAL, "", 0);	/* too short for E.164 */
	expect("+8812345678", ENOENT, "", 0);
	expect("14155550100", EINVAL, "", 0);
	expect("+0415555010", EINVAL, "", 0);
	/* the length out-parameter is optional */
	assert_int_equal(geo_lookup("+442071234567", c, NULL), 0);
	assert_string_equal(c, "GB");
}

static void test_match_names(void **state)
{
	enum geo_match m;

	(void)state;
	assert_int_equal(geo_match_parse("none", &m), 0);
	assert_int_equal(m, GEO_MATCH_NONE);
	assert_int_equal(geo_match_parse("country", &m), 0);
	assert_int_equal(m, GEO_MATCH_COUNTRY);
	assert_int_equal(geo_match_parse("area", &m), 0);
	assert_int_equal(m, GEO_MATCH_AREA);
	assert_int_equal(geo_match_parse("Country", &m), EINVAL);
	assert_int_equal(geo_match_parse("", &m), EINVAL);
	assert_string_equal(geo_match_name(GEO_MATCH_AREA), "area");
	assert_string_equal(geo_match_name(GEO_MATCH_NONE), "none");
	assert_true(geo_table_fingerprint() != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nanp),
		cmocka_unit_test(test_calling_codes),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_match_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
