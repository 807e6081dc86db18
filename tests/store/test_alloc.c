/*
 * test_alloc.c - virtual number allocation against a model, at random.
 *
 * DESIGN.md's promise: with no party in more than N concurrent sessions, a
 * pool of 2N-1 numbers always suffices, and (party, VN) never identifies
 * two active sessions. Thousands of random creates, closes, expiries and
 * retention purges are run against the real store and checked against a
 * plain in-memory model after every batch. Some sessions require PINs,
 * explicit ones from a small set (so they collide) or generated: no two
 * active sessions of one VN ever share a PIN, and each active one's PINs
 * look up to it. With regions (run_geo()), the pool mixes US, CA, GB and
 * IN numbers, 2N-1 per region, creates ask for geo-match (country or
 * area, party a or b, fallback on or off), and a non-local number is
 * never given while a local one was free. The seed is printed;
 * MASKD_TEST_SEED replays it.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "maskd/store.h"
#include "../test_util.h"

#define T0 1800000000000LL
#define MAX_PARTIES 24
#define MAX_SESSIONS 20000
#define BATCH 64		/* operations per committed transaction */
#define MAX_POOL 128

/*
 * Regions of the geo runs: a number prefix, the country geo-match must
 * see, the pool `country` field given ("" = derived from the digits),
 * and the digits of the calling code. The last one is a +1 415 range
 * the pool says is Canadian: the field decides (country CA), while its
 * area is still 1415. Parties live in the first N_PARTY_REGIONS.
 */
static const struct region {
	const char *prefix;
	const char *country;
	const char *field;
	unsigned cc_len;
} regions[] = {
	{ "+1415555", "US", "US", 1 },
	{ "+1212555", "US", "", 1 },
	{ "+1416555", "CA", "", 1 },
	{ "+4420755", "GB", "GB", 2 },
	{ "+9198455", "IN", "", 2 },
	{ "+1415666", "CA", "CA", 1 },
};
#define N_REGIONS (sizeof(regions) / sizeof(regions[0]))
#define N_PARTY_REGIONS 5
#define AREA_DIGITS 3

static bool g_geo;		/* this run() has regions */
struct msess {
	uint8_t id[STORE_ID_LEN];
	int a, b;
	char vn[E164_SIZE];
	int64_t expires_at_ms;
	int64_t closed_at_ms;
	bool closed;
	bool purged;		/* deleted by retention */
	bool pin;		/* pin_required */
	char pin_a[STORE_PIN_SIZE];
	char pin_b[STORE_PIN_SIZE];
};

/* explicit PINs come from this small set, so that they collide */
static const char *const pin_set[] = {
	"1000", "2000", "3000", "4000", "5000", "6000",
};
#define PIN_SET_N (sizeof(pin_set) / sizeof(pin_set[0]))

struct model {
	struct msess s[MAX_SESSIONS];
	size_t n;
	int64_t now;
	int64_t retention_ms;
	uint64_t rng;
};

static uint64_t rnd(struct model *m)
{
	/* xorshift64*: deterministic per seed, good enough for a test */
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return m->rng * 2685821657736338717ULL;
}

static void party_name(int i, char out[E164_SIZE])
{
	if (g_geo)
		snprintf(out, E164_SIZE, "%s9%03u",
			 regions[i % N_PARTY_REGIONS].prefix, (unsigned)i);
	else
		snprintf(out, E164_SIZE, "+1415555%04u", (unsigned)i % 10000);
}

/* m_local() - pool number @vn (of region @vr) is local to party @p for
 * @gm: the same country, and for area the same calling code and
 * AREA_DIGITS national digits. */
static bool m_local(int p, int vr, const char *vn, enum geo_match gm)
{
	const struct region *pr = &regions[p % N_PARTY_REGIONS];

	if (gm == GEO_MATCH_COUNTRY)
		return !strcmp(pr->country, regions[vr].country);
	return !strncmp(pr->prefix, vn, 1 + pr->cc_len + AREA_DIGITS);
}

static bool m_active(const struct model *m, const struct msess *s)
{
	return !s->closed && s->expires_at_ms > m->now;
}

static enum session_status m_status(const struct model *m,
				    const struct msess *s)
{
	if (s->closed)
		return SESSION_CLOSED;
	return m_active(m, s) ? SESSION_ACTIVE : SESSION_EXPIRED;
}

/* m_purge() - what store_purge() must delete at @cutoff: every ended
 * session whose end is older. */
static void m_purge(struct model *m, int64_t cutoff)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		struct msess *s = &m->s[i];
		int64_t end = s->closed ? s->closed_at_ms : s->expires_at_ms;

		if (!s->purged && !m_active(m, s) && end < cutoff)
			s->purged = true;
	}
}

static int pool_index(char pool[][E164_SIZE], int npool, const char *vn)
{
	int v;

	for (v = 0; v < npool; v++)
		if (!strcmp(pool[v], vn))
			return v;
	fail_msg("%s is not a pool number", vn);
	return -1;
}

struct id_list {
	size_t n;
	uint8_t (*id)[STORE_ID_LEN];
};

static int id_list_cb(const struct session *s, void *arg)
{
	struct id_list *l = arg;

	memcpy(l->id[l->n++], s->id, STORE_ID_LEN);
	return 0;
}

/* check_listing() - listing by @status (the status index) gives the
 * model's sessions of that status, in creation order. */
static void check_listing(struct model *m, struct store_reader *r,
			  enum session_status status, bool by_status)
{
	static uint8_t ids[MAX_SESSIONS][STORE_ID_LEN];
	struct id_list l = { 0, ids };
	struct session_filter f;
	size_t i, k = 0;
	bool more;

	memset(&f, 0, sizeof(f));
	f.by_status = by_status;
	f.status = status;
	f.limit = MAX_SESSIONS;
	assert_int_equal(store_session_list(r, &f, m->now, id_list_cb, &l,
					    &more), 0);
	assert_false(more);
	for (i = 0; i < m->n; i++) {
		const struct msess *s = &m->s[i];

		if (s->purged || (by_status && m_status(m, s) != status))
			continue;
		assert_true(k < l.n);
		assert_memory_equal(l.id[k], s->id, STORE_ID_LEN);
		k++;
	}
	assert_int_equal(k, l.n);
}

/* number of active sessions of party @p */
static int m_load(const struct model *m, int p)
{
	int n = 0;
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m_active(m, &m->s[i]) && (m->s[i].a == p || m->s[i].b == p))
			n++;
	return n;
}

static bool m_party_uses(const struct model *m, int p, const char *vn)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		const struct msess *s = &m->s[i];

		if (m_active(m, s) && (s->a == p || s->b == p) &&
		    !strcmp(s->vn, vn))
			return true;
	}
	return false;
}

/* m_pin_clash() - an active model session other than @self on @vn has
 * @pin as a PIN. */
static bool m_pin_clash(const struct model *m, const char *vn,
			const char *pin, const struct msess *self)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		const struct msess *s = &m->s[i];

		if (s != self && s->pin && m_active(m, s) &&
		    !strcmp(s->vn, vn) &&
		    (!strcmp(s->pin_a, pin) || !strcmp(s->pin_b, pin)))
			return true;
	}
	return false;
}

/* m_pin_clash_any() - @pin is a PIN of an active model session on any
 * VN. */
static bool m_pin_clash_any(const struct model *m, const char *pin)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		const struct msess *s = &m->s[i];

		if (s->pin && m_active(m, s) &&
		    (!strcmp(s->pin_a, pin) || !strcmp(s->pin_b, pin)))
			return true;
	}
	return false;
}

/* m_vn_count() - active model sessions on @vn. */
static unsigned m_vn_count(const struct model *m, const char *vn)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m_active(m, &m->s[i]) && !strcmp(m->s[i].vn, vn))
			n++;
	return n;
}

/* check_pins() - each active PIN session's PINs name it (and its party);
 * an ended one's PINs name it no more. */
static void check_pins(const struct model *m, struct store_reader *r)
{
	struct session l;
	enum pin_party party;
	size_t i;
	int k, rc;

	for (i = 0; i < m->n; i++) {
		const struct msess *s = &m->s[i];

		if (!s->pin)
			continue;
		for (k = 0; k < 2; k++) {
			rc = store_pin_lookup(r, s->vn, k ? s->pin_b : s->pin_a,
					      m->now, &l, &party);
			if (m_active(m, s)) {
				assert_int_equal(rc, 0);
				assert_memory_equal(l.id, s->id, STORE_ID_LEN);
				assert_int_equal(party, k ? PIN_PARTY_B
						      : PIN_PARTY_A);
			} else if (rc == 0) {
				assert_memory_not_equal(l.id, s->id,
							STORE_ID_LEN);
			} else {
				assert_int_equal(rc, ENOENT);
			}
		}
	}
}

/* Every active model session is found from both ends; every (party, VN)
 * pair finds its newest session, or nothing once retention purged that;
 * pool counts and the active counter agree with the model. @full: also
 * every session by id and every listing (slower: not after each batch). */
static void check(struct model *m, struct store_reader *r,
		  char pool[][E164_SIZE], int npool, int n_parties, bool full)
{
	static int newest[MAX_PARTIES][MAX_POOL];
	char pa[E164_SIZE], pb[E164_SIZE];
	struct store_stats st;
	uint64_t active = 0, purged = 0;
	struct session l;
	size_t i;
	int v, p;

	for (i = 0; i < m->n; i++) {
		const struct msess *s = &m->s[i];
		int rc;

		party_name(s->a, pa);
		party_name(s->b, pb);
		rc = store_lookup(r, pa, s->vn, m->now, &l);
		if (m_active(m, s)) {
			active++;
			assert_int_equal(rc, 0);
			assert_memory_equal(l.id, s->id, STORE_ID_LEN);
			assert_int_equal(store_lookup(r, pb, s->vn, m->now, &l),
					 0);
			assert_memory_equal(l.id, s->id, STORE_ID_LEN);
		} else if (rc == 0) {
			/* the pair was reused: never by this ended session */
			assert_memory_not_equal(l.id, s->id, STORE_ID_LEN);
		}
		if (s->purged)
			purged++;
		if (!full)
			continue;
		rc = store_session_get(r, s->id, m->now, &l);
		if (s->purged) {
			assert_int_equal(rc, ENOENT);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(l.status, m_status(m, s));
			session_clear(&l);
		}
	}

	/* the pair entries: model sessions are in creation order */
	for (p = 0; p < n_parties; p++)
		for (v = 0; v < npool; v++)
			newest[p][v] = -1;
	for (i = 0; i < m->n; i++) {
		v = pool_index(pool, npool, m->s[i].vn);
		newest[m->s[i].a][v] = (int)i;
		newest[m->s[i].b][v] = (int)i;
	}
	for (p = 0; p < n_parties; p++) {
		party_name(p, pa);
		for (v = 0; v < npool; v++) {
			const struct msess *s;
			int rc = store_lookup(r, pa, pool[v], m->now, &l);

			if (newest[p][v] < 0 || m->s[newest[p][v]].purged) {
				assert_int_equal(rc, ENOENT);
				continue;
			}
			s = &m->s[newest[p][v]];
			assert_int_equal(rc, m_active(m, s) ? 0 : ESTALE);
			assert_memory_equal(l.id, s->id, STORE_ID_LEN);
		}
	}

	if (full) {
		check_listing(m, r, SESSION_ACTIVE, false);
		check_listing(m, r, SESSION_ACTIVE, true);
		check_listing(m, r, SESSION_EXPIRED, true);
		check_listing(m, r, SESSION_CLOSED, true);
	}
	for (v = 0; v < npool; v++) {
		struct pool_number pn;
		uint32_t want = 0;

		for (i = 0; i < m->n; i++)
			if (m_active(m, &m->s[i]) && !strcmp(m->s[i].vn, pool[v]))
				want++;
		assert_int_equal(store_pool_get(r, pool[v], &pn), 0);
		/* the store expires lazily: it may still count a session the
		 * model already sees as expired, never one fewer */
		assert_true(pn.active >= want);
	}
	assert_int_equal(store_stats_get(r, &st), 0);
	assert_true(st.sessions_active >= active);
	assert_int_equal(st.purged_sessions, purged);
	check_pins(m, r);
}

/*
 * run() - @steps random operations with parties limited to @N concurrent
 * sessions each and a pool of 2N-1 numbers.
 */
static void run(unsigned N, unsigned n_parties, unsigned steps, uint64_t seed,
		bool geo)
{
	static struct model m;
	char pool[MAX_POOL][E164_SIZE];
	int vregion[MAX_POOL];
	int npool = (2 * (int)N - 1) * (geo ? (int)N_REGIONS : 1);
	unsigned geo_local = 0, geo_fallback = 0, geo_refused = 0;
	char *dir = test_tmpdir();
	char path[512];
	struct store *st;
	struct store_reader *r;
	struct store_txn *tx = NULL;
	unsigned step, in_batch = 0, creates = 0, refusals = 0, purged = 0;
	unsigned checks = 0, pins = 0, pin_refusals = 0;
	size_t i;
	int v;

	memset(&m, 0, sizeof(m));
	m.now = T0;
	m.rng = seed ? seed : 1;
	/* about as long as a session lives: purges take a good share */
	m.retention_ms = 1000 + (int64_t)(rnd(&m) % (600 * N));
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(&st, path, 256ULL << 20, NULL), 0);
	assert_int_equal(store_reader_open(st, &r), 0);

	assert_int_equal(store_write_begin(st, NULL, &tx), 0);
	g_geo = geo;
	assert_true(npool <= MAX_POOL);
	for (v = 0; v < npool; v++) {
		const char *field = "US";

		vregion[v] = geo ? v % (int)N_REGIONS : 0;
		if (geo) {
			snprintf(pool[v], E164_SIZE, "%s%04u",
				 regions[vregion[v]].prefix, (unsigned)v);
			field = regions[vregion[v]].field;
		} else {
			snprintf(pool[v], E164_SIZE, "+1555000%04u",
				 (unsigned)v % 10000);
		}
		assert_int_equal(store_pool_add(tx, pool[v], field, T0), 0);
	}
	assert_int_equal(store_write_commit(tx), 0);
	assert_int_equal(store_write_begin(st, NULL, &tx), 0);

	for (step = 0; step < steps && m.n < MAX_SESSIONS; step++) {
		unsigned op = rnd(&m) % 10;
		struct store_txn *child;

		m.now += (int64_t)(rnd(&m) % 50);
		assert_int_equal(store_write_begin(st, tx, &child), 0);
		if (op < 7) {
			/* create between two random distinct parties */
			int a = (int)(rnd(&m) % n_parties);
			int b = (int)(rnd(&m) % (n_parties - 1));
			char pa[E164_SIZE], pb[E164_SIZE];
			struct session_params p = { 0 };
			struct session s;
			unsigned pin_kind = rnd(&m) % 8;
			bool guaranteed, local_free = false, local_pin = false;
			unsigned local_min = UINT32_MAX;
			int gp = a;
			int rc;

			if (b >= a)
				b++;
			/* 0, 1: explicit PINs (may find no VN); 2: generated */
			if (pin_kind < 2) {
				unsigned x = rnd(&m) % PIN_SET_N;
				unsigned y = rnd(&m) % (PIN_SET_N - 1);

				if (y >= x)
					y++;
				p.pin.pin_required = true;
				p.pin.pin_a = pin_set[x];
				p.pin.pin_b = pin_set[y];
			} else if (pin_kind == 2) {
				p.pin.pin_required = true;
				p.pin.generate = true;
				p.pin.pin_length = 4;
			}
			guaranteed = m_load(&m, a) < (int)N &&
				     m_load(&m, b) < (int)N && pin_kind >= 2;
			party_name(a, pa);
			party_name(b, pb);
			p.party_a = pa;
			p.party_b = pb;
			p.ttl_ms = 1 + (int64_t)(rnd(&m) % (600 * N));
			if (geo) {
				p.geo_match = (enum geo_match)(rnd(&m) % 3);
				p.geo_party_b = rnd(&m) % 2;
				p.geo_strict = rnd(&m) % 2;
				p.geo_area_digits = AREA_DIGITS;
				gp = p.geo_party_b ? b : a;
			}
			/* what the model says a local pick must find: a local
			 * number neither party uses (and where the explicit
			 * PINs are free), least-used first */
			for (v = 0; geo && p.geo_match && v < npool; v++) {
				if (!m_local(gp, vregion[v], pool[v],
					     p.geo_match) ||
				    m_party_uses(&m, a, pool[v]) ||
				    m_party_uses(&m, b, pool[v]))
					continue;
				if (pin_kind < 2 &&
				    (m_pin_clash(&m, pool[v], p.pin.pin_a,
						 NULL) ||
				     m_pin_clash(&m, pool[v], p.pin.pin_b,
						 NULL))) {
					local_pin = true;
					continue;
				}
				local_free = true;
				if (m_vn_count(&m, pool[v]) < local_min)
					local_min = m_vn_count(&m, pool[v]);
			}
			rc = store_session_create(child, &p, m.now, &s);
			if (guaranteed)
				assert_int_equal(rc, 0);
			/* 2N-1 numbers per region: a local one is always
			 * free for parties below N */
			if (guaranteed && p.geo_match)
				assert_true(local_free);
			if (geo && p.geo_match && !local_free &&
			    p.geo_strict) {
				assert_int_equal(rc, local_pin ? ENOTUNIQ :
						 EADDRNOTAVAIL);
				geo_refused++;
			}
			if (rc == 0 && geo && p.geo_match) {
				int sv = pool_index(pool, npool, s.vn);

				/* never a non-local number while a local
				 * one was free, and then the least-used */
				assert_int_equal(s.geo_matched, local_free);
				if (local_free) {
					assert_true(m_local(gp, vregion[sv],
							    s.vn,
							    p.geo_match));
					assert_int_equal(m_vn_count(&m, s.vn),
							 local_min);
					geo_local++;
				} else {
					geo_fallback++;
				}
			} else if (rc == 0) {
				assert_false(s.geo_matched);
			}
			if (rc == 0) {
				struct msess *ms = &m.s[m.n];

				/* no (party, VN) collision, ever */
				assert_false(m_party_uses(&m, a, s.vn));
				assert_false(m_party_uses(&m, b, s.vn));
				/* nor a PIN shared on the VN */
				if (pin_kind <= 2) {
					assert_true(s.pin_required);
					assert_false(m_pin_clash(&m, s.vn,
								 s.pin_a,
								 NULL));
					assert_false(m_pin_clash(&m, s.vn,
								 s.pin_b,
								 NULL));
					ms->pin = true;
					strcpy(ms->pin_a, s.pin_a);
					strcpy(ms->pin_b, s.pin_b);
					pins++;
				}
				memcpy(ms->id, s.id, STORE_ID_LEN);
				ms->a = a;
				ms->b = b;
				strcpy(ms->vn, s.vn);
				ms->expires_at_ms = s.expires_at_ms;
				m.n++;
				creates++;
				session_clear(&s);
				assert_int_equal(store_write_commit(child), 0);
			} else if (rc == ENOTUNIQ) {
				/* only explicit PINs, and only when one of
				 * them is active on some VN */
				assert_true(pin_kind < 2);
				assert_true(m_pin_clash_any(&m, p.pin.pin_a) ||
					    m_pin_clash_any(&m, p.pin.pin_b));
				pin_refusals++;
				store_write_abort(child);
			} else if (rc == EADDRNOTAVAIL) {
				/* only a strict geo-match with no local
				 * number free (checked above) */
				assert_true(geo && p.geo_match &&
					    p.geo_strict && !local_free);
				store_write_abort(child);
			} else {
				assert_int_equal(rc, ENOSPC);
				refusals++;
				store_write_abort(child);
			}
		} else if (op < 9 && m.n) {
			/* close a random session (maybe already ended) */
			struct msess *ms = &m.s[rnd(&m) % m.n];
			struct session s;
			int rc = store_session_close(child, ms->id, m.now, &s);

			if (ms->purged) {
				assert_int_equal(rc, ENOENT);
			} else if (m_active(&m, ms)) {
				assert_int_equal(rc, 0);
				ms->closed = true;
				ms->closed_at_ms = m.now;
			} else {
				assert_int_equal(rc, EALREADY);
			}
			if (rc != ENOENT)
				session_clear(&s);
			if (rc == 0)
				assert_int_equal(store_write_commit(child), 0);
			else
				store_write_abort(child);
		} else if (rnd(&m) % 2) {
			/* the sweeper's turn */
			assert_int_equal(store_expire_due(child, m.now, 1000,
							  NULL), 0);
			assert_int_equal(store_write_commit(child), 0);
		} else {
			/* retention: the sweeper first (a session past its
			 * expiry that it has not marked is not ended yet) */
			int64_t cutoff = m.now - m.retention_ms;

			assert_int_equal(store_expire_due(child, m.now,
							  UINT32_MAX, NULL), 0);
			assert_int_equal(store_purge(child, cutoff, UINT32_MAX,
						     NULL, NULL), 0);
			m_purge(&m, cutoff);
			assert_int_equal(store_write_commit(child), 0);
		}
		if (++in_batch == BATCH) {
			assert_int_equal(store_write_commit(tx), 0);
			check(&m, r, pool, npool, (int)n_parties,
			      ++checks % 8 == 0);
			assert_int_equal(store_write_begin(st, NULL, &tx), 0);
			in_batch = 0;
		}
	}
	assert_int_equal(store_write_commit(tx), 0);
	check(&m, r, pool, npool, (int)n_parties, true);
	for (i = 0; i < m.n; i++)
		purged += m.s[i].purged;
	print_message("N=%u pool=%d parties=%u: %u creates (%u with PINs), "
		      "%u refused (party already at N), %u pin_conflict, "
		      "%u purged\n", N, npool, n_parties, creates, pins,
		      refusals, pin_refusals, purged);
	if (geo) {
		print_message("  geo: %u local, %u fallback, %u no_geo_match\n",
			      geo_local, geo_fallback, geo_refused);
		assert_true(geo_local > creates / 8);
		assert_true(geo_fallback + geo_refused > 0);
	}
	/* a run that created or purged next to nothing would prove nothing */
	assert_true(creates > steps / 10);
	assert_true(purged > creates / 4);
	assert_true(pins > creates / 8);

	store_reader_close(r);
	store_close(st);
	test_rmtree(dir);
	free(dir);
}

static uint64_t seed_get(void)
{
	const char *s = getenv("MASKD_TEST_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);

	print_message("seed %" PRIu64 " (MASKD_TEST_SEED replays)\n", seed);
	return seed;
}

static void test_2n_minus_1_small(void **state)
{
	uint64_t seed = seed_get();

	(void)state;
	run(1, 6, 2000, seed, false);
	run(2, 6, 3000, seed + 1, false);
	run(3, 8, 4000, seed + 2, false);
}

static void test_2n_minus_1_crowded(void **state)
{
	uint64_t seed = seed_get();

	(void)state;
	/* few parties, so most of them sit at N and exclusions overlap */
	run(5, 7, 6000, seed + 3, false);
	run(8, 12, 6000, seed + 4, false);
}

/* regions: US (two areas), CA, GB, IN and a CA-by-field +1 415 range */
static void test_2n_minus_1_regions(void **state)
{
	uint64_t seed = seed_get();

	(void)state;
	run(1, 10, 3000, seed + 5, true);
	run(2, 10, 4000, seed + 6, true);
	run(4, 8, 6000, seed + 7, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_2n_minus_1_small),
		cmocka_unit_test(test_2n_minus_1_crowded),
		cmocka_unit_test(test_2n_minus_1_regions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
