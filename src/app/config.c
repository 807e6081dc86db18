/*
 * config.c - read and validate maskd's INI file with libinih, by walking
 * the table of keys (config_table.c).
 *
 * Debian's libinih is built without INI_HANDLER_LINENO and with a 200-byte
 * line buffer, so inih alone can neither tell the handler which line it is
 * on nor say that it cut a long line in two. We therefore feed it through
 * our own reader (cfg_reader), which counts lines, refuses long ones, and
 * tracks [section] headers itself; the handler only sees key = value.
 *
 * Runs once on the main thread at start-up; nothing here is shared.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config_internal.h"

/*
 * cfg_fail() - record "path:line: message" unless an error is already
 * recorded: the first error is the one worth reading, the rest often follow
 * from it.
 */
void cfg_fail(struct cfg_ctx *ctx, int err, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ctx->failed)
		return;

	ctx->failed = err;

	if (!ctx->err || !ctx->errlen)
		return;

	n = snprintf(ctx->err, ctx->errlen, "%s:%d: ", ctx->path, line);
	if (n < 0 || (size_t)n >= ctx->errlen)
		return;

	va_start(ap, fmt);
	vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

int cfg_key_line(const struct cfg_ctx *ctx, enum cfg_sec sec,
		 const char *name)
{
	size_t i;

	for (i = 0; i < cfg_n_rows; i++) {
		if (cfg_rows[i].sec == sec && !strcmp(cfg_rows[i].name, name))
			return ctx->key_line ? ctx->key_line[i] : 0;
	}
	return 0;
}

void *cfg_base(const struct config *cfg, enum cfg_sec sec,
	       const struct config_trunk *trunk)
{
	if (cfg_sections[sec].repeated)
		return (void *)trunk;
	return (char *)cfg + cfg_sections[sec].off;
}

/* Every row of @sec takes its default; a table error aborts. */
static void cfg_defaults_section(struct config *cfg, enum cfg_sec sec,
				 void *base)
{
	char v[CFG_VALUE_SIZE];
	struct cfg_ctx ctx;
	size_t i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	for (i = 0; i < cfg_n_rows; i++) {
		const struct cfg_row *row = &cfg_rows[i];

		if (row->sec != sec || !row->def)
			continue;
		snprintf(v, sizeof(v), "%s", row->def);
		if (cfg_set(&ctx, row, base, v)) {
			/* the table is wrong: test_config catches it */
			fprintf(stderr, "config: default of %s.%s: %s\n",
				cfg_sections[sec].name, row->name, ctx.what);
			abort();
		}
	}
}

/* --- sections ---------------------------------------------------------- */

static bool cfg_trunk_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (!len || len >= CONFIG_NAME_SIZE)
		return false;

	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789_-") == len;
}

static struct config_trunk *cfg_trunk(struct cfg_ctx *ctx)
{
	return &ctx->cfg->trunks[ctx->cfg->n_trunks - 1];
}

/* Is what @row holds empty? For required keys. */
static bool cfg_row_empty(const struct cfg_row *row, const void *base,
			  int line)
{
	const char *p = (const char *)base + row->off;

	switch (row->type) {
	case CT_CIDRS:
	case CT_STRLIST:
	case CT_WORDS:
		return !*(const size_t *)((const char *)base + row->off_n);
	case CT_STRING:
		return !*p;
	case CT_ADDR:
		return !((const struct net_addr *)p)->port;
	default:
		return !line;
	}
}

/* The section just read is complete: a repeated one checks its keys. */
static void cfg_section_end(struct cfg_ctx *ctx)
{
	size_t i;

	if (ctx->sec < 0 || !cfg_sections[ctx->sec].repeated)
		return;

	for (i = 0; i < cfg_n_rows; i++) {
		const struct cfg_row *row = &cfg_rows[i];

		if (row->sec == (enum cfg_sec)ctx->sec &&
		    (row->flags & CFG_REQUIRED) &&
		    cfg_row_empty(row, cfg_trunk(ctx), ctx->key_line[i])) {
			cfg_fail(ctx, EINVAL, ctx->sec_line[ctx->sec],
				 "%s.%s: required", ctx->section, row->name);
			return;
		}
	}
}

static void cfg_trunk_begin(struct cfg_ctx *ctx, const char *name)
{
	struct config *cfg = ctx->cfg;
	struct config_trunk *trunks, *t;
	size_t i;

	if (!cfg_trunk_name_valid(name)) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s: bad trunk name (1 to "
			 "%d of A-Z a-z 0-9 _ -)", ctx->section,
			 CONFIG_NAME_SIZE - 1);
		return;
	}

	for (i = 0; i < cfg->n_trunks; i++) {
		if (!strcmp(cfg->trunks[i].name, name)) {
			cfg_fail(ctx, EINVAL, ctx->line,
				 "%s: duplicate trunk name", ctx->section);
			return;
		}
	}

	trunks = realloc(cfg->trunks, (cfg->n_trunks + 1) * sizeof(*trunks));
	if (!trunks) {
		cfg_fail(ctx, ENOMEM, ctx->line, "%s: out of memory",
			 ctx->section);
		return;
	}
	cfg->trunks = trunks;

	t = &trunks[cfg->n_trunks++];
	memset(t, 0, sizeof(*t));
	memcpy(t->name, name, strlen(name) + 1);
	cfg_defaults_section(cfg, CS_TRUNK, t);

	/* each trunk has its own keys: forget the last one's */
	for (i = 0; i < cfg_n_rows; i++) {
		if (cfg_rows[i].sec == CS_TRUNK)
			ctx->key_line[i] = 0;
	}
	ctx->sec = CS_TRUNK;
	ctx->sec_line[CS_TRUNK] = ctx->line;
}

static void cfg_section_begin(struct cfg_ctx *ctx, const char *name)
{
	size_t i, len;

	cfg_section_end(ctx);
	if (ctx->failed)
		return;

	ctx->sec = -1;
	snprintf(ctx->section, sizeof(ctx->section), "%s", name);

	for (i = 0; i < CS_N; i++) {
		const struct cfg_section *s = &cfg_sections[i];

		len = strlen(s->name);
		if (s->repeated && !strncmp(name, s->name, len) &&
		    name[len] == '.') {
			cfg_trunk_begin(ctx, name + len + 1);
			return;
		}
		if (s->repeated && !strcmp(name, s->name)) {
			cfg_fail(ctx, EINVAL, ctx->line, "%s: needs a name: "
				 "[%s.NAME]", name, s->name);
			return;
		}
		if (s->repeated || strcmp(name, s->name))
			continue;

		if (ctx->sec_line[i]) {
			cfg_fail(ctx, EINVAL, ctx->line,
				 "%s: duplicate section", name);
			return;
		}
		ctx->sec_line[i] = ctx->line;
		ctx->sec = (int)i;
		return;
	}

	cfg_fail(ctx, EINVAL, ctx->line, "%s: unknown section", name);
}

/* --- the reader and the handler ---------------------------------------- */

static bool cfg_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Looks at each line before inih does. Returns false (after cfg_fail())
 * for what inih would silently get wrong: lines it would cut, indented
 * lines it would glue to the previous value (multi-line values are on in
 * Debian's build) and text after a section's ']'.
 */
static bool cfg_line_check(struct cfg_ctx *ctx, const char *line, size_t len,
			   int max)
{
	char name[CFG_SECTION_SIZE];
	const char *start = line, *s, *end;

	if (memchr(line, '\0', len)) {
		cfg_fail(ctx, EINVAL, ctx->line, "line contains a NUL byte");
		return false;
	}

	if (len > (size_t)max) {
		cfg_fail(ctx, EINVAL, ctx->line,
			 "line too long (max %d characters)", max);
		return false;
	}

	/* inih skips a UTF-8 byte order mark on the first line */
	if (ctx->line == 1 && !strncmp(start, "\xEF\xBB\xBF", 3))
		start += 3;

	for (s = start; cfg_is_blank(*s); s++)
		;

	if (!*s || *s == ';' || *s == '#')
		return true;

	if (s != start) {
		cfg_fail(ctx, EINVAL, ctx->line, "line starts with blanks "
			 "(continuation lines are not supported)");
		return false;
	}

	if (*s != '[') {
		/* as inih: '=' or ':' before any " ;" comment */
		for (end = s; *end && *end != '=' && *end != ':'; end++) {
			if (*end == ';' && cfg_is_blank(end[-1]))
				break;
		}
		if (*end != '=' && *end != ':') {
			cfg_fail(ctx, EINVAL, ctx->line, "syntax error "
				 "(expected [section] or key = value)");
			return false;
		}
		return true;
	}

	end = strchr(s, ']');
	if (!end) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s: missing ']'", s);
		return false;
	}

	if ((size_t)(end - s - 1) >= sizeof(name)) {
		cfg_fail(ctx, EINVAL, ctx->line, "%.64s...: unknown section",
			 s + 1);
		return false;
	}
	memcpy(name, s + 1, (size_t)(end - s - 1));
	name[end - s - 1] = '\0';

	for (end++; cfg_is_blank(*end); end++)
		;
	if (*end && *end != ';' && *end != '#') {
		cfg_fail(ctx, EINVAL, ctx->line, "%s: text after ']'", name);
		return false;
	}

	cfg_section_begin(ctx, name);
	return !ctx->failed;
}

/*
 * The ini_reader: hands inih one line at a time, so ctx->line is the line
 * of the key the handler is called for. Returning NULL ends the parse;
 * we do that on the first error, like a compiler that stops at the first
 * message worth reading.
 */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_ctx *ctx = stream;
	ssize_t n;
	size_t len;

	if (ctx->failed || num < 3)
		return NULL;

	errno = 0;
	n = getline(&ctx->buf, &ctx->bufsize, ctx->fp);
	if (n < 0) {
		int err = errno ? errno : EIO;

		if (ferror(ctx->fp))
			cfg_fail(ctx, err, ctx->line + 1, "read error: %s",
				 strerror(err));
		return NULL;
	}

	ctx->line++;
	len = (size_t)n;
	if (len && ctx->buf[len - 1] == '\n')
		len--;
	if (len && ctx->buf[len - 1] == '\r')
		len--;
	ctx->buf[len] = '\0';

	/* inih needs room for the newline and the NUL */
	if (!cfg_line_check(ctx, ctx->buf, len, num - 2))
		return NULL;

	memcpy(str, ctx->buf, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static void cfg_unquote(char *v)
{
	size_t len = strlen(v);

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		memmove(v, v + 1, len - 2);
		v[len - 2] = '\0';
	}
}

static int cfg_handler(void *user, const char *section, const char *name,
		       const char *value)
{
	struct cfg_ctx *ctx = user;
	char v[CFG_VALUE_SIZE];
	size_t i;

	(void)section;		/* inih cuts names at 50 bytes; we track it */

	if (ctx->failed)
		return 0;

	if (ctx->sec < 0) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s: key outside any section",
			 name);
		return 0;
	}

	for (i = 0; i < cfg_n_rows; i++) {
		if (cfg_rows[i].sec == (enum cfg_sec)ctx->sec &&
		    !strcmp(cfg_rows[i].name, name))
			break;
	}
	if (i == cfg_n_rows) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s.%s: unknown key",
			 ctx->section, name);
		return 0;
	}

	if (ctx->key_line[i]) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s.%s: duplicate key",
			 ctx->section, name);
		return 0;
	}
	ctx->key_line[i] = ctx->line;

	if (strlen(value) >= sizeof(v)) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s.%s: too long",
			 ctx->section, name);
		return 0;
	}
	memcpy(v, value, strlen(value) + 1);
	cfg_unquote(v);

	if (cfg_set(ctx, &cfg_rows[i], cfg_base(ctx->cfg, cfg_rows[i].sec,
			ctx->sec == CS_TRUNK ? cfg_trunk(ctx) : NULL), v)) {
		cfg_fail(ctx, EINVAL, ctx->line, "%s.%s: %s", ctx->section,
			 name, ctx->what);
		return 0;
	}

	return 1;
}

/* Checks that need the whole file: required keys and pairs of keys. */
static void cfg_finish(struct cfg_ctx *ctx)
{
	size_t i;

	cfg_section_end(ctx);
	if (ctx->failed)
		return;

	if (!ctx->cfg->n_trunks) {
		cfg_fail(ctx, EINVAL, 0, "trunk: at least one [trunk.NAME] "
			 "section is required");
		return;
	}

	for (i = 0; i < cfg_n_rows; i++) {
		const struct cfg_row *row = &cfg_rows[i];
		int line = ctx->key_line[i];

		if (!(row->flags & CFG_REQUIRED) ||
		    cfg_sections[row->sec].repeated)
			continue;
		if (cfg_row_empty(row, cfg_base(ctx->cfg, row->sec, NULL),
				  line)) {
			cfg_fail(ctx, EINVAL, line ? line :
				 ctx->sec_line[row->sec], "%s.%s: required",
				 cfg_sections[row->sec].name, row->name);
			return;
		}
	}

	for (i = 0; i < cfg_n_rows; i++) {
		if (cfg_rows[i].check && cfg_rows[i].check(ctx))
			return;
	}
}

/* --- public ------------------------------------------------------------ */

void config_defaults(struct config *cfg)
{
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < CS_N; i++) {
		if (!cfg_sections[i].repeated)
			cfg_defaults_section(cfg, (enum cfg_sec)i,
					     cfg_base(cfg, (enum cfg_sec)i,
						      NULL));
	}
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct cfg_ctx ctx;
	int line;

	if (!cfg)
		return EINVAL;

	config_defaults(cfg);

	memset(&ctx, 0, sizeof(ctx));
	ctx.path = path ? path : "(null)";
	ctx.cfg = cfg;
	ctx.sec = -1;
	ctx.err = err;
	ctx.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';

	ctx.key_line = calloc(cfg_n_rows, sizeof(*ctx.key_line));
	if (!ctx.key_line) {
		cfg_fail(&ctx, ENOMEM, 0, "file: out of memory");
		goto out;
	}

	if (!path) {
		cfg_fail(&ctx, EINVAL, 0, "file: no path given");
		goto out;
	}

	ctx.fp = fopen(path, "re");
	if (!ctx.fp) {
		int e = errno;

		cfg_fail(&ctx, e, 0, "file: cannot open (%s)", strerror(e));
		goto out;
	}

	line = ini_parse_stream(cfg_reader, &ctx, cfg_handler, &ctx);
	if (ctx.failed)
		goto out;

	/* what inih refused by itself: a line that is no [section] or key */
	if (line > 0) {
		cfg_fail(&ctx, EINVAL, line, "syntax error (expected [section] "
			 "or key = value)");
		goto out;
	}
	if (line < 0) {
		cfg_fail(&ctx, ENOMEM, 0, "file: inih failed (%d)", line);
		goto out;
	}

	cfg_finish(&ctx);
 out:
	if (ctx.fp)
		fclose(ctx.fp);
	free(ctx.buf);
	free(ctx.key_line);
	if (ctx.failed)
		config_free(cfg);
	return ctx.failed;
}

void config_free(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;

	cfg_strv_free(cfg->sip.pass_headers, cfg->sip.n_pass_headers);
	cfg->sip.pass_headers = NULL;
	cfg->sip.n_pass_headers = 0;
	cfg_strv_free(cfg->sip.worker_ports, cfg->sip.n_worker_ports);
	cfg->sip.worker_ports = NULL;
	cfg->sip.n_worker_ports = 0;
	cfg_strv_free(cfg->sip.worker_tls_ports, cfg->sip.n_worker_tls_ports);
	cfg->sip.worker_tls_ports = NULL;
	cfg->sip.n_worker_tls_ports = 0;

	for (i = 0; i < cfg->n_trunks; i++)
		free(cfg->trunks[i].sources);
	free(cfg->trunks);
	cfg->trunks = NULL;
	cfg->n_trunks = 0;

	cfg_strv_free(cfg->events.secrets, cfg->events.n_secrets);
	cfg->events.secrets = NULL;
	cfg->events.n_secrets = 0;
	free(cfg->events.allow);
	cfg->events.allow = NULL;
	cfg->events.n_allow = 0;

	cfg_strv_free(cfg->api.tokens, cfg->api.n_tokens);
	cfg->api.tokens = NULL;
	cfg->api.n_tokens = 0;

	/* a secret outlives no config; explicit_bzero() is never elided */
	explicit_bzero(cfg->gateway.auth_password,
		       sizeof(cfg->gateway.auth_password));
}
