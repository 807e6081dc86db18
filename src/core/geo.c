/*
 * geo.c - a number's country from the generated calling-code tables
 * (geo_table.h). The tables hold a few hundred rows: a linear longest-
 * prefix walk costs well under a microsecond, once per create.
 */
#include <errno.h>
#include <string.h>

#include "maskd/e164.h"
#include "maskd/geo.h"
#include "geo_table.h"

int geo_lookup(const char *e164, char country[GEO_COUNTRY_SIZE],
	       unsigned *cc_len)
{
	const char *d;
	size_t best = 0, n;
	unsigned i, area, len = 0;

	country[0] = '\0';
	if (!e164_valid(e164))
		return EINVAL;
	d = e164 + 1;
	if (d[0] == '1') {
		/* NANP: +1 and a three-digit area code */
		if (strlen(d) < 4)
			return ENOENT;
		area = (unsigned)(d[1] - '0') * 100 +
		       (unsigned)(d[2] - '0') * 10 + (unsigned)(d[3] - '0');
		memcpy(country, geo_nanp_default, GEO_COUNTRY_SIZE);
		for (i = 0; i < geo_nanp_count; i++)
			if (geo_nanp_rows[i].area == area) {
				memcpy(country, geo_nanp_rows[i].country,
				       GEO_COUNTRY_SIZE);
				break;
			}
		if (cc_len)
			*cc_len = 1;
		return country[0] ? 0 : ENOENT;
	}
	for (i = 0; i < geo_cc_count; i++) {
		n = strlen(geo_cc_rows[i].prefix);
		if (n > best && !strncmp(d, geo_cc_rows[i].prefix, n)) {
			best = n;
			memcpy(country, geo_cc_rows[i].country,
			       GEO_COUNTRY_SIZE);
			len = geo_cc_rows[i].cc_len;
		}
	}
	if (!best)
		return ENOENT;
	if (cc_len)
		*cc_len = len;
	return 0;
}

const char *geo_match_name(enum geo_match m)
{
	switch (m) {
	case GEO_MATCH_COUNTRY:
		return "country";
	case GEO_MATCH_AREA:
		return "area";
	default:
		return "none";
	}
}

int geo_match_parse(const char *s, enum geo_match *out)
{
	if (!strcmp(s, "none"))
		*out = GEO_MATCH_NONE;
	else if (!strcmp(s, "country"))
		*out = GEO_MATCH_COUNTRY;
	else if (!strcmp(s, "area"))
		*out = GEO_MATCH_AREA;
	else
		return EINVAL;
	return 0;
}

uint64_t geo_table_fingerprint(void)
{
	return (uint64_t)geo_table_hash;
}
