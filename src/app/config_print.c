/*
 * config_print.c - the config table written out: the effective config
 * (maskd --print-config) and the commented template that is
 * conf/maskd.conf (maskd --config-template).
 *
 * Main thread only, like the rest of the config.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define CFG_PRINT_SIZE 8192	/* one value as text; longer is cut */
#define CFG_WRAP 76		/* template comment width, "; " included */

static const char cfg_template_head[] =
"; maskd.conf - maskd's configuration, set up for running on loopback.\n"
";\n"
"; Generated from the table in src/app/config_table.c by\n"
"; scripts/gen-conf.sh (maskd --config-template): change the table, not\n"
"; this file; a test fails when the two differ.\n"
";\n"
"; Every key is listed with its default and unit. Lines starting with ';'\n"
"; or '#' are comments; \"key = value ; note\" also works (the ';' needs a\n"
"; blank before it). Keys must start at the beginning of the line, and a\n"
"; line may hold at most 198 characters. Values may be wrapped in double\n"
"; quotes (\"\" is the empty string). Unknown sections or keys, and a key\n"
"; given twice, are errors. Booleans: yes/no, true/false, on/off, 1/0.\n"
"; Sizes: bytes, or a number followed by K, M, G or T (powers of 1024).\n"
";\n"
"; Check a file without starting the daemon: maskd --check-config FILE;\n"
"; see what maskd makes of it, defaults included: maskd --print-config FILE\n";

void cfg_format_size(uint64_t n, char *buf, size_t size)
{
	static const char suffix[] = "KMGT";
	int i;

	for (i = 3; i >= 0; i--) {
		unsigned shift = 10u * (unsigned)(i + 1);

		if (n && !(n & ((1ULL << shift) - 1))) {
			snprintf(buf, size, "%" PRIu64 "%c", n >> shift,
				 suffix[i]);
			return;
		}
	}
	snprintf(buf, size, "%" PRIu64, n);
}

static uint64_t cfg_load_uint(const void *p, size_t size)
{
	switch (size) {
	case 1: return *(const uint8_t *)p;
	case 2: return *(const uint16_t *)p;
	case 4: return *(const uint32_t *)p;
	default: return *(const uint64_t *)p;
	}
}

/* Appends @s to @buf (of @size, holding @*n), comma-separated. */
static void cfg_join(char *buf, size_t size, size_t *n, const char *s)
{
	int w;

	if (*n >= size)
		return;
	w = snprintf(buf + *n, size - *n, "%s%s", *n ? "," : "", s);
	if (w > 0)
		*n += (size_t)w;
}

void cfg_format(const struct cfg_row *row, const void *base, char *buf,
		size_t size)
{
	const char *p = (const char *)base + row->off;
	size_t count = row->off_n ?
		       *(const size_t *)((const char *)base + row->off_n) : 0;
	char item[128];
	size_t i, n = 0;
	uint64_t v;

	buf[0] = '\0';
	switch (row->type) {
	case CT_BOOL:
		snprintf(buf, size, "%s", *(const bool *)p ? "yes" : "no");
		break;
	case CT_UINT:
		snprintf(buf, size, "%" PRIu64, cfg_load_uint(p, row->size));
		break;
	case CT_SIZE:
		cfg_format_size(cfg_load_uint(p, row->size), buf, size);
		break;
	case CT_ENUM:
		v = cfg_load_uint(p, row->size);
		for (i = 0; row->names[i].name; i++) {
			if ((uint64_t)row->names[i].value == v)
				snprintf(buf, size, "%s", row->names[i].name);
		}
		break;
	case CT_STRING:
		snprintf(buf, size, "%s", p);
		break;
	case CT_ADDR:
		net_addr_format((const struct net_addr *)p, buf, size);
		break;
	case CT_CIDRS:
		for (i = 0; i < count; i++) {
			net_cidr_format(&(*(struct net_cidr *const *)p)[i],
					item, sizeof(item));
			cfg_join(buf, size, &n, item);
		}
		break;
	case CT_STRLIST:
		for (i = 0; i < count; i++)
			cfg_join(buf, size, &n, (*(char **const *)p)[i]);
		break;
	case CT_WORDS:
		for (i = 0; i < count; i++)
			cfg_join(buf, size, &n, p + i * (row->size / row->max));
		break;
	}
}

/* What inih would trim or unquote must be quoted to come back as is. */
static int cfg_put(FILE *f, const char *key, const char *v)
{
	size_t len = strlen(v);
	bool quote = len && (v[0] == ' ' || v[0] == '\t' ||
			     v[len - 1] == ' ' || v[len - 1] == '\t' ||
			     (len >= 2 && v[0] == '"' && v[len - 1] == '"'));

	if (!*v)
		return fprintf(f, "%s =\n", key) < 0 ? EIO : 0;
	return fprintf(f, quote ? "%s = \"%s\"\n" : "%s = %s\n", key, v) < 0 ?
	       EIO : 0;
}

static int cfg_print_section(const struct config *cfg, enum cfg_sec sec,
			     const void *base, FILE *f)
{
	char *buf;
	size_t i;
	int err = 0;

	buf = malloc(CFG_PRINT_SIZE);
	if (!buf)
		return ENOMEM;
	for (i = 0; i < cfg_n_rows && !err; i++) {
		const struct cfg_row *row = &cfg_rows[i];

		if (row->sec != sec)
			continue;
		cfg_format(row, base, buf, CFG_PRINT_SIZE);
		if ((row->flags & CFG_SECRET) && *buf)
			snprintf(buf, CFG_PRINT_SIZE, "***");
		err = cfg_put(f, row->name, buf);
	}
	free(buf);
	return err;
}

int config_print(const struct config *cfg, FILE *f)
{
	size_t i, t;
	int err = 0;

	for (i = 0; i < CS_N && !err; i++) {
		const struct cfg_section *s = &cfg_sections[i];

		if (!s->repeated) {
			if (fprintf(f, "%s[%s]\n", i ? "\n" : "", s->name) < 0)
				return EIO;
			err = cfg_print_section(cfg, (enum cfg_sec)i,
						cfg_base(cfg, (enum cfg_sec)i,
							 NULL), f);
			continue;
		}
		for (t = 0; t < cfg->n_trunks && !err; t++) {
			if (fprintf(f, "%s[%s.%s]\n", i ? "\n" : "", s->name,
				    cfg->trunks[t].name) < 0)
				return EIO;
			err = cfg_print_section(cfg, (enum cfg_sec)i,
						&cfg->trunks[t], f);
		}
	}
	if (!err && fflush(f))
		err = errno ? errno : EIO;
	return err;
}

/* --- the template ------------------------------------------------------ */

/* @text as "; " comment lines of at most CFG_WRAP characters. */
static int cfg_comment(FILE *f, const char *text)
{
	const char *s = text, *end, *brk;
	size_t width = CFG_WRAP - 2;

	while (*s) {
		end = s + strlen(s);
		if ((size_t)(end - s) > width) {
			/* the last blank that keeps the line in width */
			for (brk = s + width; brk > s && *brk != ' '; brk--)
				;
			if (brk == s)
				brk = strchr(s + width, ' ');
			if (brk)
				end = brk;
		}
		if (fprintf(f, "; %.*s\n", (int)(end - s), s) < 0)
			return EIO;
		s = end;
		while (*s == ' ')
			s++;
	}
	return 0;
}

/* The generated line under a key's help: range, unit, default. */
static void cfg_doc_line(const struct cfg_row *row, char *buf, size_t size)
{
	char lo[32], hi[32], def[128];
	size_t i, n = 0;

	if (row->flags & CFG_REQUIRED) {
		snprintf(buf, size, "Required, no default.");
		return;
	}
	snprintf(def, sizeof(def), "%s", *row->def ? row->def : "empty");

	switch (row->type) {
	case CT_UINT:
		snprintf(buf, size, "%" PRIu64 "..%" PRIu64 "%s%s. Default: "
			 "%s", row->min, row->max, row->unit ? " " : "",
			 row->unit ? row->unit : "", def);
		break;
	case CT_SIZE:
		cfg_format_size(row->min, lo, sizeof(lo));
		cfg_format_size(row->max, hi, sizeof(hi));
		if (row->max == UINT64_MAX)
			snprintf(buf, size, "Bytes (K, M, G, T allowed), at "
				 "least %s. Default: %s", lo, def);
		else
			snprintf(buf, size, "Bytes (K, M, G, T allowed), "
				 "%s..%s. Default: %s", lo, hi, def);
		break;
	case CT_BOOL:
		snprintf(buf, size, "yes or no. Default: %s", def);
		break;
	case CT_ENUM:
		n = (size_t)snprintf(buf, size, "One of:");
		for (i = 0; row->names[i].name && n < size; i++)
			n += (size_t)snprintf(buf + n, size - n, "%s %s",
					      i ? "," : "",
					      row->names[i].name);
		if (n < size)
			snprintf(buf + n, size - n, ". Default: %s", def);
		break;
	default:
		snprintf(buf, size, "Default: %s", def);
		break;
	}
}

int config_template(FILE *f)
{
	char doc[512];
	size_t i, r;
	int err = 0;

	if (fputs(cfg_template_head, f) < 0)
		return EIO;

	for (i = 0; i < CS_N && !err; i++) {
		const struct cfg_section *s = &cfg_sections[i];

		if (fputs("\n", f) < 0)
			return EIO;
		if (s->help && (err = cfg_comment(f, s->help)))
			break;
		if ((s->repeated ? fprintf(f, "[%s.%s]\n", s->name,
					   s->example) :
		     fprintf(f, "[%s]\n", s->name)) < 0)
			return EIO;

		for (r = 0; r < cfg_n_rows && !err; r++) {
			const struct cfg_row *row = &cfg_rows[r];

			if (row->sec != (enum cfg_sec)i)
				continue;
			cfg_doc_line(row, doc, sizeof(doc));
			if ((err = cfg_comment(f, row->help)) ||
			    (err = cfg_comment(f, doc)))
				break;
			err = cfg_put(f, row->name, row->def ? row->def :
				      row->example);
		}
	}
	if (!err && fflush(f))
		err = errno ? errno : EIO;
	return err;
}
