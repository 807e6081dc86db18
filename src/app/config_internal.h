/*
 * config_internal.h - the config table, shared by the parser (config.c),
 * the rows (config_table.c) and the writers (config_print.c).
 *
 * One row per key. To add a key: add its field to the section's struct in
 * include/maskd/config.h and one row to cfg_rows[] in config_table.c
 * (CFG_UINT(...) etc.); the parser, the defaults, the errors,
 * --print-config and the generated conf/maskd.conf follow from the row.
 * Then run scripts/gen-conf.sh so the shipped file matches (a test fails
 * until it does).
 *
 * Everything here runs on the main thread at start-up.
 */
#ifndef MASKD_CONFIG_INTERNAL_H
#define MASKD_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "maskd/config.h"

#define CFG_SECTION_SIZE 128
#define CFG_WHAT_SIZE 256
#define CFG_VALUE_SIZE 256	/* a value, as read (inih's line is shorter) */

/* The sections, in the order of the generated file. */
enum cfg_sec {
	CS_SIP,
	CS_TRUNK,
	CS_FLOOD,
	CS_GATEWAY,
	CS_RTP,
	CS_MEDIA,
	CS_RECORDING,
	CS_STORE,
	CS_API,
	CS_SESSION,
	CS_EVENTS,
	CS_CONFERENCE,
	CS_HOOKS,
	CS_LOG,
	CS_CLUSTER,
	CS_N
};

struct cfg_section {
	const char *name;
	size_t off;		/* its struct in struct config */
	/* [name.NAME], any number of them, each a struct config_trunk */
	bool repeated;
	const char *example;	/* repeated: the NAME in the template */
	const char *help;	/* written above it in the template */
};

enum cfg_type {
	CT_BOOL,	/* bool: yes/no, true/false, on/off, 1/0 */
	CT_UINT,	/* uint16/32/64_t, decimal digits only, min..max */
	CT_SIZE,	/* uint32/64_t bytes, K/M/G/T suffixes, min..max */
	CT_STRING,	/* char[size] */
	CT_ADDR,	/* struct net_addr, host:port */
	CT_CIDRS,	/* struct net_cidr * + size_t count at off_n */
	CT_STRLIST,	/* char ** + size_t count at off_n; "" = none */
	CT_WORDS,	/* char[max][size] + size_t count at off_n; "" = none */
	CT_ENUM,	/* an integer field; names[] maps words to values */
};

/* Row flags */
#define CFG_SECRET	0x1	/* never printed: --print-config shows *** */
#define CFG_REQUIRED	0x2	/* no default: the file must set it */
#define CFG_EMPTY_OK	0x4	/* CT_ADDR: empty = none (port 0) */

struct cfg_ctx;
struct cfg_row;

/* An extra check of one value (a list's item @i), after its type's own:
 * 0, or EINVAL with the complaint set by cfg_what(). */
typedef int (cfg_valid_h)(struct cfg_ctx *ctx, const char *v, size_t i);

/* A check across keys, once the whole file is read: 0 or cfg_fail()'s
 * EINVAL. */
typedef int (cfg_check_h)(struct cfg_ctx *ctx);

struct cfg_enum {
	const char *name;
	int value;
};

struct cfg_row {
	enum cfg_sec sec;
	const char *name;
	enum cfg_type type;
	size_t off;		/* the field in its section's struct */
	size_t size;		/* its size (CT_WORDS: all max words) */
	size_t off_n;		/* lists: the count's offset */
	uint64_t min, max;	/* CT_UINT, CT_SIZE; CT_WORDS: max = words */
	const char *unit;	/* CT_UINT: "seconds", ... (template) */
	const char *def;	/* default as written in the file */
	const char *example;	/* CFG_REQUIRED: the template's value */
	unsigned flags;
	const struct cfg_enum *names;	/* CT_ENUM, NULL-terminated */
	const char *what;	/* CT_ENUM: complaint for another word */
	cfg_valid_h *valid;
	cfg_check_h *check;
	const char *help;
};

/* What config_load() needs while inih walks the file. */
struct cfg_ctx {
	const char *path;
	FILE *fp;
	char *buf;			/* getline() buffer */
	size_t bufsize;
	int line;			/* line last handed to inih */

	struct config *cfg;

	int sec;			/* enum cfg_sec; -1 before any */
	char section[CFG_SECTION_SIZE];	/* as written, for messages */
	int sec_line[CS_N];		/* each section's line; 0 = absent */
	int *key_line;			/* per row: its line, 0 = not set */

	char what[CFG_WHAT_SIZE];	/* complaint of the last value */

	int failed;			/* errno of the first error, 0 = none */
	char *err;
	size_t errlen;
};

extern const struct cfg_section cfg_sections[CS_N];
extern const struct cfg_row cfg_rows[];
extern const size_t cfg_n_rows;

/* config_check.c: the rows' checks (see cfg_valid_h, cfg_check_h) */
cfg_valid_h cfg_valid_host;
cfg_valid_h cfg_valid_ip;
cfg_valid_h cfg_valid_ip_or_empty;
cfg_valid_h cfg_valid_nonempty;
cfg_valid_h cfg_valid_event_url;
cfg_valid_h cfg_valid_event_secret;
cfg_valid_h cfg_valid_retry_schedule;
cfg_check_h cfg_check_hooks;
cfg_check_h cfg_check_events;
cfg_valid_h cfg_valid_even;
cfg_valid_h cfg_valid_transport;
cfg_valid_h cfg_valid_auth_secret;
cfg_valid_h cfg_valid_auth_quoted;
cfg_valid_h cfg_valid_country_code;
cfg_valid_h cfg_valid_national_prefix;
cfg_valid_h cfg_valid_pass_header;
cfg_valid_h cfg_valid_token;
cfg_check_h cfg_check_sip_tls;
cfg_valid_h cfg_valid_sip_workers;
cfg_valid_h cfg_valid_port;
cfg_check_h cfg_check_sip_workers;
cfg_check_h cfg_check_gateway_auth;
cfg_check_h cfg_check_rtp_ports;
cfg_check_h cfg_check_api_tls;
cfg_check_h cfg_check_session_ttl;

int cfg_what(struct cfg_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cfg_fail(struct cfg_ctx *ctx, int err, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The line of section.key in the file, 0 when the file does not set it
 * (sections that are not repeated only). */
int cfg_key_line(const struct cfg_ctx *ctx, enum cfg_sec sec,
		 const char *name);

/* The struct a row of @sec writes into: the section's, or @trunk's. */
void *cfg_base(const struct config *cfg, enum cfg_sec sec,
	       const struct config_trunk *trunk);

/* A row's value as it would be written in the file. */
void cfg_format(const struct cfg_row *row, const void *base, char *buf,
		size_t size);
void cfg_format_size(uint64_t n, char *buf, size_t size);

bool cfg_all_digits(const char *s);

/*
 * cfg_set() - parse @v (unquoted, writable) as @row's type and store it
 * into @base, the row's section struct (config_value.c). 0, or EINVAL
 * with ctx->what.
 */
int cfg_set(struct cfg_ctx *ctx, const struct cfg_row *row, void *base,
	    char *v);
void cfg_strv_free(char **v, size_t n);

#endif
