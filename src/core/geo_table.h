/*
 * geo_table.h - the shape of the calling-code tables that
 * cmake/geo_table.cmake generates from data/calling_codes.tsv and
 * data/nanp_area_codes.tsv (geo_table.c in the build directory). Only
 * src/core/geo.c reads them.
 */
#ifndef MASKD_GEO_TABLE_H
#define MASKD_GEO_TABLE_H

struct geo_cc_row {
	const char *prefix;	/* leading digits of the number */
	char country[3];
	unsigned cc_len;	/* digits of the calling code itself */
};

struct geo_nanp_row {
	unsigned area;		/* three-digit NANP area code */
	char country[3];
};

extern const struct geo_cc_row geo_cc_rows[];
extern const unsigned geo_cc_count;
extern const struct geo_nanp_row geo_nanp_rows[];
extern const unsigned geo_nanp_count;
extern const char geo_nanp_default[3];
extern const unsigned long long geo_table_hash;

#endif
