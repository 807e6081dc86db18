/*
 * metrics.c - the metrics registry and its Prometheus text renderer (see
 * metrics.h).
 *
 * The registry is a short array of (group, arg) pairs under one mutex:
 * tens of groups at most, walked only when /metrics is scraped or a
 * module starts or stops, so nothing cleverer is worth having.
 */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/metrics.h"

struct metrics_src {
	const struct metrics_group *g;
	void *arg;
	void *snap;		/* snap_size bytes; NULL for cells */
};

struct metrics {
	pthread_mutex_t lock;
	struct metrics_src *src;	/* in registration order */
	size_t n, cap;
};

int metrics_alloc(struct metrics **mp)
{
	struct metrics *m;

	m = calloc(1, sizeof(*m));
	if (!m)
		return ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL)) {
		free(m);
		return ENOMEM;
	}
	*mp = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		free(m->src[i].snap);
	free(m->src);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int metrics_hist_init(struct metrics_hist *h, const uint64_t *bounds,
		      size_t n)
{
	size_t i;

	if (n > METRICS_HIST_MAX || (n && !bounds))
		return EINVAL;
	for (i = 1; i < n; i++)
		if (bounds[i] <= bounds[i - 1])
			return EINVAL;
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->n = n;
	return 0;
}

/* ---- registration ---- */

static bool metrics_name_ok(const char *s, bool colon)
{
	size_t i;

	if (!s || !*s)
		return false;
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon && c == ':'))
			continue;
		if (i > 0 && c >= '0' && c <= '9')
			continue;
		return false;
	}
	return true;
}

static bool metrics_scale_ok(uint64_t scale)
{
	if (scale == 0)
		return true;
	while (scale % 10 == 0)
		scale /= 10;
	return scale == 1;
}

static int metrics_row_check(const struct metrics_group *g,
			     const struct metrics_row *r)
{
	if (!metrics_name_ok(r->name, true) || !r->help || r->n == 0)
		return EINVAL;
	switch (r->type) {
	case METRICS_COUNTER:
	case METRICS_GAUGE:
		break;
	case METRICS_HISTOGRAM:
		/* the renderer reads the whole struct from the owner's
		 * memory: a snapshot has no room for it */
		if (g->readh || r->n != 1 || r->label ||
		    !metrics_scale_ok(r->scale))
			return EINVAL;
		break;
	default:
		return EINVAL;
	}
	if (r->label) {
		/* "__" names are Prometheus's own; "le" is the histograms' */
		if (!metrics_name_ok(r->label, false) ||
		    !strncmp(r->label, "__", 2) || !strcmp(r->label, "le"))
			return EINVAL;
	} else if (r->n != 1 || r->label_values) {
		return EINVAL;
	}
	if (r->off % alignof(uint64_t))
		return EINVAL;
	if (g->readh && (r->off > g->snap_size ||
			 r->n > (g->snap_size - r->off) / sizeof(uint64_t)))
		return EINVAL;
	return 0;
}

/* Is @name one of @g's rows (other than row @skip)? */
static bool metrics_group_has(const struct metrics_group *g,
			      const char *name, size_t skip)
{
	size_t i;

	for (i = 0; i < g->n_rows; i++)
		if (i != skip && !strcmp(g->rows[i].name, name))
			return true;
	return false;
}

/* Called with the lock held. */
static int metrics_group_check(const struct metrics *m,
			       const struct metrics_group *g, const void *arg)
{
	size_t i, j;
	int err;

	if (!g->name || (!g->rows && g->n_rows) ||
	    (g->readh && !g->snap_size))
		return EINVAL;
	for (i = 0; i < g->n_rows; i++) {
		err = metrics_row_check(g, &g->rows[i]);
		if (err)
			return err;
		if (metrics_group_has(g, g->rows[i].name, i))
			return EEXIST;
	}
	for (j = 0; j < m->n; j++) {
		if (m->src[j].g == g && m->src[j].arg == arg)
			return EEXIST;
		for (i = 0; i < g->n_rows; i++)
			if (metrics_group_has(m->src[j].g, g->rows[i].name,
					      (size_t)-1))
				return EEXIST;
	}
	return 0;
}

int metrics_register(struct metrics *m, const struct metrics_group *g,
		     void *arg)
{
	struct metrics_src *n, s = { g, arg, NULL };
	size_t cap;
	int err;

	if (!m)
		return 0;
	if (!g)
		return EINVAL;

	pthread_mutex_lock(&m->lock);
	err = metrics_group_check(m, g, arg);
	if (err)
		goto out;
	if (g->readh) {
		s.snap = malloc(g->snap_size);
		if (!s.snap) {
			err = ENOMEM;
			goto out;
		}
	}
	if (m->n == m->cap) {
		cap = m->cap ? m->cap * 2 : 16;
		n = realloc(m->src, cap * sizeof(*n));
		if (!n) {
			err = ENOMEM;
			goto out;
		}
		m->src = n;
		m->cap = cap;
	}
	m->src[m->n++] = s;
	s.snap = NULL;
 out:
	pthread_mutex_unlock(&m->lock);
	free(s.snap);
	return err;
}

void metrics_unregister(struct metrics *m, const struct metrics_group *g,
			const void *arg)
{
	size_t i;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->n; i++) {
		if (m->src[i].g != g || m->src[i].arg != arg)
			continue;
		free(m->src[i].snap);
		/* keep the order: the page reads the same after a restart
		 * of one module */
		memmove(&m->src[i], &m->src[i + 1],
			(m->n - i - 1) * sizeof(*m->src));
		m->n--;
		break;
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- rendering ---- */

static const char *metrics_type_name(enum metrics_type t)
{
	switch (t) {
	case METRICS_COUNTER:	return "counter";
	case METRICS_GAUGE:	return "gauge";
	default:		return "histogram";
	}
}

/* HELP text: backslash and newline escaped, as the format asks. */
static void metrics_put_help(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* A label value: the same, and the double quote. */
static void metrics_put_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/*
 * @v in units of 1/@scale, as an exact decimal: 1500 at scale 1000 is
 * "1.5", 5 is "0.005". No floating point, so le="0.005" is always
 * spelled the same way.
 */
static void metrics_put_scaled(FILE *f, uint64_t v, uint64_t scale)
{
	char frac[24];
	int digits = 0, len;
	uint64_t s;

	if (scale <= 1) {
		fprintf(f, "%llu", (unsigned long long)v);
		return;
	}
	for (s = scale; s > 1; s /= 10)
		digits++;
	len = snprintf(frac, sizeof(frac), "%0*llu", digits,
		       (unsigned long long)(v % scale));
	while (len > 0 && frac[len - 1] == '0')
		frac[--len] = '\0';
	fprintf(f, "%llu", (unsigned long long)(v / scale));
	if (len)
		fprintf(f, ".%s", frac);
}

static uint64_t metrics_cell(const struct metrics_src *s, size_t off)
{
	uint64_t v;

	if (s->snap) {
		memcpy(&v, (const char *)s->snap + off, sizeof(v));
		return v;
	}
	return metrics_get((const _Atomic uint64_t *)
			   ((const char *)s->arg + off));
}

static void metrics_put_hist(FILE *f, const struct metrics_row *r,
			     const struct metrics_hist *h)
{
	uint64_t acc = 0;
	size_t i, n = h->n <= METRICS_HIST_MAX ? h->n : METRICS_HIST_MAX;

	for (i = 0; i < n; i++) {
		acc += metrics_get(&h->bucket[i]);
		fprintf(f, "%s_bucket{le=\"", r->name);
		metrics_put_scaled(f, h->bounds[i], r->scale);
		fprintf(f, "\"} %llu\n", (unsigned long long)acc);
	}
	acc += metrics_get(&h->bucket[n]);
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", r->name,
		(unsigned long long)acc);
	fprintf(f, "%s_sum ", r->name);
	metrics_put_scaled(f, metrics_get(&h->sum), r->scale);
	fprintf(f, "\n%s_count %llu\n", r->name, (unsigned long long)acc);
}

static void metrics_put_row(FILE *f, const struct metrics_src *s,
			    const struct metrics_row *r)
{
	uint64_t v;
	size_t i;

	fprintf(f, "# HELP %s ", r->name);
	metrics_put_help(f, r->help);
	fprintf(f, "\n# TYPE %s %s\n", r->name, metrics_type_name(r->type));

	if (r->type == METRICS_HISTOGRAM) {
		metrics_put_hist(f, r, (const struct metrics_hist *)
				 ((const char *)s->arg + r->off));
		return;
	}
	if (!r->label) {
		fprintf(f, "%s %llu\n", r->name,
			(unsigned long long)metrics_cell(s, r->off));
		return;
	}
	for (i = 0; i < r->n; i++) {
		v = metrics_cell(s, r->off + i * sizeof(uint64_t));
		if (!r->label_values) {
			/* by index: a sparse family (HTTP status codes) */
			if (v)
				fprintf(f, "%s{%s=\"%zu\"} %llu\n", r->name,
					r->label, i, (unsigned long long)v);
			continue;
		}
		fprintf(f, "%s{%s=\"", r->name, r->label);
		metrics_put_label_value(f, r->label_values[i]);
		fprintf(f, "\"} %llu\n", (unsigned long long)v);
	}
}

int metrics_render(struct metrics *m, char **textp, size_t *lenp,
		   const char **failedp)
{
	const struct metrics_src *s;
	char *text = NULL;
	size_t len = 0, i, j;
	FILE *f;
	int err = 0;

	if (failedp)
		*failedp = NULL;
	f = open_memstream(&text, &len);
	if (!f)
		return ENOMEM;

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->n && !err; i++) {
		s = &m->src[i];
		if (s->g->readh) {
			memset(s->snap, 0, s->g->snap_size);
			err = s->g->readh(s->arg, s->snap);
			if (err) {
				if (failedp)
					*failedp = s->g->name;
				break;
			}
		}
		for (j = 0; j < s->g->n_rows; j++)
			metrics_put_row(f, s, &s->g->rows[j]);
	}
	pthread_mutex_unlock(&m->lock);

	if (ferror(f) && !err)
		err = ENOMEM;
	if (fclose(f) && !err)
		err = ENOMEM;
	if (err) {
		free(text);
		return err;
	}
	*textp = text;
	*lenp = len;
	return 0;
}
