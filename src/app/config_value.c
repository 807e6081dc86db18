/*
 * config_value.c - one value of the config file into its field, by the
 * row's type: numbers, sizes, booleans, words, addresses and lists.
 *
 * Main thread only, at start-up, like the rest of the config.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

int cfg_what(struct cfg_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->what, sizeof(ctx->what), fmt, ap);
	va_end(ap);

	return EINVAL;
}

bool cfg_all_digits(const char *s)
{
	if (!*s)
		return false;

	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}

	return true;
}

/* --- values ------------------------------------------------------------ */

/*
 * strtoull() alone takes " 12", "+12" and "-1" (as 2^64-1) and stops at
 * "12abc": insist on digits only, so a typo is an error, not a value.
 */
static int cfg_uint(struct cfg_ctx *ctx, const char *v, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	unsigned long long n;
	char *end;

	if (!cfg_all_digits(v))
		return cfg_what(ctx, "not a number");

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return cfg_what(ctx, "out of range %" PRIu64 "..%" PRIu64,
				min, max);

	*out = n;
	return 0;
}

/* "4G", "512M", "1048576": bytes, with an optional binary suffix. */
static int cfg_size(struct cfg_ctx *ctx, const char *v, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	char digits[32];
	unsigned shift = 0;
	unsigned long long n;
	size_t len = strlen(v);
	char *end;

	if (len && strchr("KkMmGgTt", v[len - 1])) {
		switch (v[len - 1]) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		default: shift = 40; break;
		}
		len--;
	}

	if (!len || len >= sizeof(digits))
		goto nan;

	memcpy(digits, v, len);
	digits[len] = '\0';
	if (!cfg_all_digits(digits))
		goto nan;

	errno = 0;
	n = strtoull(digits, &end, 10);
	if (errno || n > (UINT64_MAX >> shift))
		goto range;

	n <<= shift;
	if (n < min || n > max)
		goto range;

	*out = n;
	return 0;
 nan:
	return cfg_what(ctx, "not a size (bytes, or a number with K, M, G "
			"or T)");
 range:
	return cfg_what(ctx, "out of range %" PRIu64 "..%" PRIu64 " bytes",
			min, max);
}

static int cfg_bool(struct cfg_ctx *ctx, const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}

	return cfg_what(ctx, "not a boolean (yes/no, true/false, on/off, "
			"1/0)");
}

static int cfg_enum(struct cfg_ctx *ctx, const struct cfg_row *row,
		    const char *v, int *out)
{
	const struct cfg_enum *names = row->names;
	char list[CFG_WHAT_SIZE] = "";
	size_t i, n = 0;

	for (i = 0; names[i].name; i++) {
		if (!strcmp(v, names[i].name)) {
			*out = names[i].value;
			return 0;
		}
	}

	if (row->what)
		return cfg_what(ctx, "%s", row->what);

	/* "'x' is not a, b or c" */
	for (i = 0; names[i].name; i++)
		n += (size_t)snprintf(list + n, n < sizeof(list) ?
				      sizeof(list) - n : 0, "%s%s",
				      !i ? "" : names[i + 1].name ? ", " :
				      " or ", names[i].name);
	return cfg_what(ctx, "'%s' is not %s", v, list);
}

static void cfg_store_uint(void *p, size_t size, uint64_t n)
{
	switch (size) {
	case 1: *(uint8_t *)p = (uint8_t)n; break;
	case 2: *(uint16_t *)p = (uint16_t)n; break;
	case 4: *(uint32_t *)p = (uint32_t)n; break;
	default: *(uint64_t *)p = n; break;
	}
}

/* Splits a comma list in place; trims blanks around each item. */
static char *cfg_next_item(char **sp)
{
	char *s = *sp, *item, *end;

	if (!s)
		return NULL;

	end = strchr(s, ',');
	if (end) {
		*end = '\0';
		*sp = end + 1;
	}
	else {
		*sp = NULL;
	}

	while (*s == ' ' || *s == '\t')
		s++;
	item = s;
	end = s + strlen(s);
	while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';

	return item;
}

static size_t cfg_count_items(const char *v)
{
	size_t n = 1;

	for (; *v; v++)
		n += (*v == ',');

	return n;
}

void cfg_strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* A list of strings, each checked by the row; "" is the empty list. */
static int cfg_strlist(struct cfg_ctx *ctx, const struct cfg_row *row,
		       void *base, char *list)
{
	char ***vp = (char ***)((char *)base + row->off);
	size_t *np = (size_t *)((char *)base + row->off_n);
	char *rest = list, *item;
	char **items = NULL;
	size_t n = 0;
	int err = 0;

	if (*list) {
		items = calloc(cfg_count_items(list), sizeof(*items));
		if (!items)
			return cfg_what(ctx, "out of memory");
	}

	while (*list && (item = cfg_next_item(&rest))) {
		if (row->valid && (err = row->valid(ctx, item, n)))
			goto out;
		items[n] = strdup(item);
		if (!items[n]) {
			err = cfg_what(ctx, "out of memory");
			goto out;
		}
		n++;
	}

	cfg_strv_free(*vp, *np);
	*vp = items;
	*np = n;
	items = NULL;
 out:
	cfg_strv_free(items, n);
	return err;
}

static int cfg_cidrs(struct cfg_ctx *ctx, const struct cfg_row *row,
		     void *base, char *list)
{
	struct net_cidr **vp = (struct net_cidr **)((char *)base + row->off);
	size_t *np = (size_t *)((char *)base + row->off_n);
	char *rest = list, *item;
	struct net_cidr *cidrs;
	size_t n = 0;
	int err = 0;

	/* a list whose default is empty may be empty ([events] allow);
	 * one without a default (trunk sources) may not */
	if (!*list && row->def && !*row->def) {
		free(*vp);
		*vp = NULL;
		*np = 0;
		return 0;
	}
	cidrs = calloc(cfg_count_items(list), sizeof(*cidrs));
	if (!cidrs)
		return cfg_what(ctx, "out of memory");

	while ((item = cfg_next_item(&rest))) {
		if (!*item) {
			err = cfg_what(ctx, "empty entry in the CIDR list");
			goto out;
		}
		if (net_cidr_parse(item, &cidrs[n])) {
			err = cfg_what(ctx, "bad CIDR '%s'", item);
			goto out;
		}
		n++;
	}

	free(*vp);
	*vp = cidrs;
	*np = n;
	cidrs = NULL;
 out:
	free(cidrs);
	return err;
}

/* A fixed table of short words: nothing to allocate or free. */
static int cfg_words(struct cfg_ctx *ctx, const struct cfg_row *row,
		     void *base, char *list)
{
	char *words = (char *)base + row->off;
	size_t *np = (size_t *)((char *)base + row->off_n);
	size_t size = row->size / row->max;	/* one word's */
	char *rest = list, *item;
	size_t n = 0;

	while (*list && (item = cfg_next_item(&rest))) {
		if (!*item)
			return cfg_what(ctx, "empty entry in the list");
		if (n == row->max)
			return cfg_what(ctx, "more than %" PRIu64 " entries",
					row->max);
		if (strlen(item) >= size)
			return cfg_what(ctx, "'%s' longer than %zu", item,
					size - 1);
		memcpy(words + n * size, item, strlen(item) + 1);
		n++;
	}
	*np = n;
	return 0;
}

int cfg_set(struct cfg_ctx *ctx, const struct cfg_row *row,
		   void *base, char *v)
{
	void *p = (char *)base + row->off;
	struct net_addr a;
	uint64_t n = 0;
	bool b = false;
	int e = 0, err;

	switch (row->type) {
	case CT_BOOL:
		err = cfg_bool(ctx, v, &b);
		if (!err && !(err = row->valid ? row->valid(ctx, v, 0) : 0))
			*(bool *)p = b;
		return err;
	case CT_UINT:
	case CT_SIZE:
		err = row->type == CT_UINT ?
		      cfg_uint(ctx, v, row->min, row->max, &n) :
		      cfg_size(ctx, v, row->min, row->max, &n);
		if (!err && !(err = row->valid ? row->valid(ctx, v, 0) : 0))
			cfg_store_uint(p, row->size, n);
		return err;
	case CT_ENUM:
		err = cfg_enum(ctx, row, v, &e);
		if (!err && !(err = row->valid ? row->valid(ctx, v, 0) : 0))
			cfg_store_uint(p, row->size, (uint64_t)e);
		return err;
	case CT_STRING:
		/* the row's own complaint first: it says what is expected */
		if (row->valid && (err = row->valid(ctx, v, 0)))
			return err;
		if (strlen(v) >= row->size)
			return cfg_what(ctx, "longer than %zu characters",
					row->size - 1);
		memcpy(p, v, strlen(v) + 1);
		return 0;
	case CT_ADDR:
		if (!*v && (row->flags & CFG_EMPTY_OK)) {
			memset(p, 0, sizeof(struct net_addr));
			return 0;
		}
		if (net_addr_parse(v, &a, ctx->what, sizeof(ctx->what)))
			return EINVAL;
		memcpy(p, &a, sizeof(a));
		return 0;
	case CT_CIDRS:
		return cfg_cidrs(ctx, row, base, v);
	case CT_STRLIST:
		return cfg_strlist(ctx, row, base, v);
	case CT_WORDS:
		return cfg_words(ctx, row, base, v);
	}
	return cfg_what(ctx, "unknown type");
}
