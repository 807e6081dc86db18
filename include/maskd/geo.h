/*
 * geo.h - where a phone number is: its country from its E.164 digits.
 *
 * The tables are data (data/calling_codes.tsv, data/nanp_area_codes.tsv),
 * compiled in at build time; lookups are pure functions of constant
 * tables, so any thread may call them. A number's country is the longest
 * calling-code prefix in the table; for +1 (NANP) the area code decides
 * (an unlisted one: the table's default, the US).
 */
#ifndef MASKD_GEO_H
#define MASKD_GEO_H

#include <stdint.h>

#define GEO_COUNTRY_SIZE 3	/* ISO 3166-1 alpha-2 and the NUL */
#define GEO_AREA_DIGITS_MAX 6

enum geo_match {
	GEO_MATCH_NONE = 0,
	GEO_MATCH_COUNTRY,
	GEO_MATCH_AREA,
};

/*
 * geo_lookup() - the country of E.164 number @e164 ("+441632960000") into
 * @country ("GB") and the digits of its calling code into *cc_len (may be
 * NULL). Returns 0, or ENOENT (a calling code the table does not know:
 * @country is then "") or EINVAL (not E.164).
 */
int geo_lookup(const char *e164, char country[GEO_COUNTRY_SIZE],
	       unsigned *cc_len);

/* geo_match_name() / geo_match_parse(): "none", "country", "area";
 * parse returns 0 or EINVAL. */
const char *geo_match_name(enum geo_match m);
int geo_match_parse(const char *s, enum geo_match *out);

/* geo_table_fingerprint() - changes whenever the data files do. */
uint64_t geo_table_fingerprint(void);

#endif
