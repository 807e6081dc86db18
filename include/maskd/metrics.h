/*
 * metrics.h - one registry of counters, gauges and histograms, rendered
 * as Prometheus text (GET /metrics).
 *
 * Declared once. A module lists its metrics in one X-macro file (a .inc:
 * src/sip/sip_metrics.inc, include/maskd/relay_metrics.inc, ...), a row
 * per metric, in one of three forms:
 *
 *   X(field, "maskd_x_total", COUNTER, "Help.")      a counter or GAUGE
 *   XL(field, "maskd_x_total", COUNTER, "Help.", "label", n, values)
 *       a labelled family: n cells, field[n]. @values NULL: the label's
 *       value is the cell's index ("404") and cells at 0 are left out;
 *       else a static array of n strings, and every cell is shown.
 *   XH(field, "maskd_x_seconds", "Help.", scale)      a histogram
 *       (struct metrics_hist field; observed in units of 1/scale of the
 *       rendered unit: 1000 to observe ms and render seconds)
 *
 * and expands that file twice: into the struct that holds the values
 * (X = METRICS_X_CELL and friends: _Atomic uint64_t cells), and into its
 * rows (METRICS_ROW*). Then it registers {rows, where the values are}
 * into the registry main.c made, and /metrics renders every group
 * registered. For example (src/sip/):
 *
 *   struct sip_counters {
 *   #define X METRICS_X_CELL
 *   #include "sip_metrics.inc"
 *   #undef X
 *   };
 *   static const struct metrics_row sip_metrics_rows[] = {
 *   #define X(f, name, kind, help) \
 *           METRICS_ROW(struct sip_counters, f, name, kind, help),
 *   #include "sip_metrics.inc"
 *   #undef X
 *   };
 *   static const struct metrics_group sip_metrics_group =
 *           METRICS_GROUP("sip", sip_metrics_rows);
 *   ... metrics_register(reg, &sip_metrics_group, &s->counters);
 *   ... metrics_inc(&s->counters.calls_total);    (any thread)
 *
 * Two ways a group's values are read:
 *  - cells (METRICS_GROUP): each row is the offset of an _Atomic uint64_t
 *    (or of its first cell, or of a struct metrics_hist) from the @arg
 *    given to metrics_register(). The owner updates them with the
 *    metrics_*() helpers below - one relaxed atomic operation, no lock, no
 *    allocation: fit for hot paths - and the registry loads them relaxed.
 *    Each value is exact; a page is not a snapshot of one instant.
 *  - snapshot (METRICS_GROUP_SNAP): the group's read handler fills a plain
 *    struct (uint64_t fields, the X expanded with METRICS_X_PLAIN) that the
 *    rows index; for values computed when read (sums over worker threads,
 *    free ports) or read from elsewhere (the store), and for counters a
 *    single thread keeps in plain integers. No histogram here.
 *
 * Threads and lifetime. main.c creates the registry before any module
 * starts and frees it after the last one has stopped. metrics_register(),
 * metrics_unregister() and metrics_render() may be called from any thread;
 * one mutex serialises them (it is never taken where values are updated).
 * Modules register at start-up (a module_metrics_register() that main.c
 * calls) and unregister in their own stop function before they free what
 * @arg points at: once metrics_unregister() returns, the registry never
 * reads that memory or calls that handler again. A render runs read
 * handlers on the rendering thread (the control thread, for /metrics)
 * with the mutex held: a handler reads only what that thread may read,
 * does not block, and does not call metrics_*(). Rows and groups are
 * static const; the registry keeps pointers to them.
 */
#ifndef MASKD_METRICS_H
#define MASKD_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct metrics;

enum metrics_type {
	METRICS_COUNTER = 0,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

/* Bucket bounds a histogram may have, the implicit +Inf not counted. */
#define METRICS_HIST_MAX 16

/*
 * A histogram with fixed buckets, in its owner's memory like any cell.
 * metrics_hist_init() sets the bounds once, before it is registered;
 * metrics_hist_observe() adds one observation from any thread. bucket[i]
 * counts observations <= bounds[i] and > bounds[i-1] (not cumulative: the
 * renderer adds them up); bucket[n] those above the last bound. The count
 * is the buckets' sum, so it always agrees with them; @sum may be read a
 * moment before or after them.
 */
struct metrics_hist {
	const uint64_t *bounds;		/* static, ascending; NULL: none */
	size_t n;
	_Atomic uint64_t bucket[METRICS_HIST_MAX + 1];
	_Atomic uint64_t sum;
};

/* One metric (a family, for labelled ones and histograms). */
struct metrics_row {
	const char *name;		/* [a-zA-Z_:][a-zA-Z0-9_:]* */
	const char *help;		/* one line */
	enum metrics_type type;
	size_t off;			/* of the value in the group's struct */
	size_t n;			/* cells: 1, or a labelled family's */
	const char *label;		/* labelled: the label's name */
	const char *const *label_values; /* labelled: NULL = the index */
	uint64_t scale;			/* histogram: a power of 10; 0 = 1 */
};

/*
 * metrics_read_h - fill @snap (zeroed, the group's snap_size bytes) with
 * the group's values. Returns 0, or an errno when they cannot be read now
 * (the store): the render then fails with it. See the header comment for
 * where it runs.
 */
typedef int (metrics_read_h)(void *arg, void *snap);

struct metrics_group {
	const char *name;		/* "sip": names it in errors */
	const struct metrics_row *rows;
	size_t n_rows;
	metrics_read_h *readh;		/* NULL: cells */
	size_t snap_size;		/* with @readh */
};

#define METRICS_NROWS(rows_) (sizeof(rows_) / sizeof((rows_)[0]))

/* A group of cells, and a group read through a snapshot of @type_. */
#define METRICS_GROUP(name_, rows_) \
	{ (name_), (rows_), METRICS_NROWS(rows_), NULL, 0 }
#define METRICS_GROUP_SNAP(name_, rows_, readh_, type_) \
	{ (name_), (rows_), METRICS_NROWS(rows_), (readh_), sizeof(type_) }

/* The struct a .inc expands into: cells (updated in place) ... */
#define METRICS_X_CELL(field, name, kind, help) _Atomic uint64_t field;
#define METRICS_XL_CELL(field, name, kind, help, label, n, values) \
	_Atomic uint64_t field[n];
#define METRICS_XH_CELL(field, name, help, scale) struct metrics_hist field;
/* ... or a snapshot's plain fields. */
#define METRICS_X_PLAIN(field, name, kind, help) uint64_t field;
#define METRICS_XL_PLAIN(field, name, kind, help, label, n, values) \
	uint64_t field[n];

/* The rows a .inc expands into; @type_ is the struct above. */
#define METRICS_ROW(type_, field, name_, kind, help_) \
	{ .name = (name_), .help = (help_), .type = METRICS_##kind, \
	  .off = offsetof(type_, field), .n = 1 }
#define METRICS_ROW_L(type_, field, name_, kind, help_, label_, n_, values_) \
	{ .name = (name_), .help = (help_), .type = METRICS_##kind, \
	  .off = offsetof(type_, field), .n = (n_), .label = (label_), \
	  .label_values = (values_) }
#define METRICS_ROW_H(type_, field, name_, help_, scale_) \
	{ .name = (name_), .help = (help_), .type = METRICS_HISTOGRAM, \
	  .off = offsetof(type_, field), .n = 1, .scale = (scale_) }

/* ---- updating a cell: any thread, relaxed, no lock ---- */

static inline void metrics_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void metrics_inc(_Atomic uint64_t *c)
{
	metrics_add(c, 1);
}

/* For gauges that go down (calls_live). */
static inline void metrics_dec(_Atomic uint64_t *c)
{
	atomic_fetch_sub_explicit(c, 1, memory_order_relaxed);
}

/* For gauges sampled from elsewhere (nta's transaction count). */
static inline void metrics_set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t metrics_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c,
				    memory_order_relaxed);
}

/*
 * metrics_own_add() - for a cell only ONE thread ever writes: a load and a
 * store instead of a locked read-modify-write, so a per-packet counter
 * costs a plain add; readers still see whole values.
 */
static inline void metrics_own_add(_Atomic uint64_t *c, uint64_t n)
{
	metrics_set(c, metrics_get(c) + n);
}

/*
 * metrics_hist_init() - @h counts into the @n buckets bounded by @bounds
 * (static, strictly ascending, n <= METRICS_HIST_MAX) and the +Inf one.
 * Before it is registered or observed. Returns 0 or EINVAL.
 */
int metrics_hist_init(struct metrics_hist *h, const uint64_t *bounds,
		      size_t n);

/* metrics_hist_observe() - one observation of @v. Any thread; relaxed
 * atomics, a scan of at most METRICS_HIST_MAX bounds. */
static inline void metrics_hist_observe(struct metrics_hist *h, uint64_t v)
{
	size_t i = 0;

	while (i < h->n && v > h->bounds[i])
		i++;
	metrics_inc(&h->bucket[i]);
	metrics_add(&h->sum, v);
}

/* ---- the registry ---- */

/* metrics_alloc() - an empty registry. Returns 0 or ENOMEM. */
int metrics_alloc(struct metrics **mp);

/* metrics_free() - after every group has been unregistered. NULL-safe. */
void metrics_free(struct metrics *m);

/*
 * metrics_register() - render @g's rows, read from @arg (cells) or by
 * g->readh(@arg, ...) (snapshot), from now on. Returns 0; EINVAL for a
 * malformed row (a bad name or label, a row outside the snapshot, a
 * histogram in a snapshot, a bad scale); EEXIST when a name is already
 * registered, or @g with this @arg; ENOMEM. @m NULL: nothing is done and
 * 0 is returned (a module run without a registry, as in unit tests).
 */
int metrics_register(struct metrics *m, const struct metrics_group *g,
		     void *arg);

/*
 * metrics_unregister() - stop rendering @g for @arg; waits for a render
 * in progress. Unknown pairs and a NULL @m are ignored, so a stop
 * function may call it whether or not it registered.
 */
void metrics_unregister(struct metrics *m, const struct metrics_group *g,
			const void *arg);

/*
 * metrics_render() - every registered group in Prometheus text format
 * 0.0.4, groups in the order they registered, rows in their order. Sets
 * *textp (malloc'd, NUL-terminated; the caller frees it) and *lenp, and
 * returns 0; or returns ENOMEM, or a read handler's errno with *failedp
 * (may be NULL) set to that group's name.
 */
int metrics_render(struct metrics *m, char **textp, size_t *lenp,
		   const char **failedp);

#endif
