/*
 * ctl_cluster.c - session create and close when [cluster] store is set
 * (ctl_set_cluster()): PostgreSQL decides (cluster_session_create(),
 * cluster_session_close(): race-free across nodes), then this node's
 * LMDB follows at once, with the session.created / session.closed event
 * in the same LMDB transaction as in single-node mode, so the node that
 * made the change routes it without waiting for its own feed and its
 * webhooks go out as before. The other nodes get it from the feed
 * (cluster_feed_start()). Reads of sessions are the cache's; PATCH, the
 * pool and other nodes' call records: ctl_cluster_api.c.
 * Expiries are PostgreSQL's too, reported by one node (below).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/cluster.h"
#include "maskd/mailbox.h"
#include "maskd/sip.h"
#include "maskd/store_mirror.h"

#include "ctl_internal.h"

struct ctl_cluster_op {
	struct ctl *ctl;
	ctl_session_h *h;
	void *arg;
	const char *event;		/* "session.created", ... */
	bool close;
	int err;			/* PostgreSQL's answer */
	int64_t now_ms;
	struct session s;		/* owned strings */
	/* answered before its cache write committed: on ctl->unmirrored
	 * until then (h and arg are spent) */
	bool answered;
	struct ctl_cluster_op *next, **prevp;
};

static void op_free(struct ctl_cluster_op *op)
{
	session_clear(&op->s);
	explicit_bzero(op, sizeof(*op));	/* PINs */
	free(op);
}

static int mirror_run(struct store_txn *tx, void *arg)
{
	struct ctl_cluster_op *op = arg;
	int err;

	err = store_session_mirror(tx, &op->s, NULL);
	if (!err && !op->err)
		err = ctl_event_session(op->ctl, tx, op->event, &op->s,
					op->now_ms, op->now_ms);
	return err;
}

static void mirror_done(int err, void *arg)
{
	struct ctl_cluster_op *op = arg;
	struct ctl *ctl = op->ctl;

	/* PostgreSQL has it: the change happened whatever LMDB said, and
	 * the feed brings the row here again */
	if (err)
		log_warn(ctl->log, "ctl: cluster: the local cache did not take "
			 "a change (the feed will bring it): %s",
			 strerror(err));
	if (!op->err && op->close && ctl->sip &&
	    sip_cmd_session_end(ctl->sip, op->s.id, "session_closed"))
		ctl->ctr.sip_cmds_lost++;
	if (op->answered) {
		if (op->next)
			op->next->prevp = op->prevp;
		*op->prevp = op->next;
	} else {
		if (!op->err && !op->close)
			ctl->ctr.creates++;
		op->h(op->err, false, op->err ? NULL : &op->s, op->arg);
	}
	op_free(op);
}

/*
 * A create with no event to write is answered once PostgreSQL committed
 * it, not after the cache write too: that write is a copy of what
 * PostgreSQL holds, and waiting for its LMDB commit (its fdatasync
 * among them) cost ~3.5 ms of a create's ~14 ms at 6,000 creates/s over
 * three nodes, whose clients wait for each answer before they ask again
 * (bench_cluster_api.py: +6-39% creates/s, 6 alternated pairs; the
 * cache writes' grouping counted in). Until the write commits,
 * a call to the session finds no pair in the cache and asks PostgreSQL
 * (sip_miss.c), and a read of the session by id finds this copy
 * (ctl_cluster_unmirrored_get()); a listing has it a few ms later, as
 * the other nodes do.
 */
static void answer_early(struct ctl_cluster_op *op)
{
	struct ctl *ctl = op->ctl;

	op->answered = true;
	op->next = ctl->unmirrored;
	op->prevp = &ctl->unmirrored;
	if (op->next)
		op->next->prevp = &op->next;
	ctl->unmirrored = op;
	ctl->ctr.creates++;
	op->h(0, false, &op->s, op->arg);
}

int ctl_cluster_unmirrored_get(struct ctl *ctl,
			       const uint8_t id[STORE_ID_LEN], int64_t now_ms,
			       struct session *out)
{
	struct ctl_cluster_op *op;

	/* a handful: the creates of the last few ms */
	for (op = ctl->unmirrored; op; op = op->next)
		if (!memcmp(op->s.id, id, STORE_ID_LEN))
			break;
	if (!op)
		return ENOENT;
	if (session_copy(out, &op->s))
		return ENOMEM;
	session_apply_clock(out, now_ms);	/* as the cache reads it */
	return 0;
}

/* PostgreSQL's answer: EALREADY (close) still carries the session */
static void cluster_done(int err, const struct session *s, void *arg)
{
	struct ctl_cluster_op *op = arg;
	bool lost = err == ENOTCONN || err == ECONNRESET || err == EBUSY ||
		    err == EIO;
	bool event;

	if (s && (err == 0 || err == EALREADY) && session_copy(&op->s, s)) {
		err = ENOMEM;
		lost = true;
	}
	if (err && err != EALREADY) {
		op->h(err, lost, NULL, op->arg);
		op_free(op);
		return;
	}
	op->err = err;
	/* With no event to write, the mirror only copies what PostgreSQL
	 * holds: a cache write (writer_submit_cache()), whose loss in a
	 * machine crash the feed mends - it reads from its cursor, which
	 * never passes a change LMDB lacks (the two are undone together).
	 * It shares a commit with the feed's and the other creates' of the
	 * next few ms, and that commit skips the meta page's sync: LMDB's
	 * writes and syncs were 38% of a node's CPU at 4,500 creates/s,
	 * with a durable commit for each PostgreSQL batch (perf,
	 * bench_cluster_api.py: 0.07 commits a create, now 0.05, all
	 * lazy). An event is the outbox's, which no one else can write
	 * again: then durable. */
	event = !op->err && ctl_event_wanted(op->ctl, op->s.callback_url);
	if (event)
		err = writer_submit(op->ctl->w, mirror_run, mirror_done, op);
	else
		err = writer_submit_cache(op->ctl->w, mirror_run, mirror_done,
					  op);
	if (err)
		mirror_done(ENOMEM, op);
	else if (!event && !op->close)
		answer_early(op);
}

static struct ctl_cluster_op *op_new(struct ctl *ctl, ctl_session_h *h,
				     void *arg, const char *event)
{
	struct ctl_cluster_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->ctl = ctl;
	op->h = h;
	op->arg = arg;
	op->event = event;
	op->now_ms = clock_now_ms();
	return op;
}

int ctl_cluster_create(struct ctl *ctl, const struct session_params *p,
		       ctl_session_h *h, void *arg)
{
	struct ctl_cluster_op *op = op_new(ctl, h, arg, "session.created");
	int err;

	if (!op)
		return ENOMEM;
	err = cluster_session_create(ctl->cluster, p, op->now_ms,
				     cluster_done, op);
	if (err)
		op_free(op);
	return err;
}

int ctl_cluster_close(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
		      ctl_session_h *h, void *arg)
{
	struct ctl_cluster_op *op = op_new(ctl, h, arg, "session.closed");
	int err;

	if (!op)
		return ENOMEM;
	op->close = true;
	err = cluster_session_close(ctl->cluster, id, op->now_ms,
				    cluster_done, op);
	if (err)
		op_free(op);
	return err;
}

/*
 * Expiries. PostgreSQL decides them (every node sweeps; the transaction
 * that expires a session marks it as its node's), and the node whose
 * transaction did hands them here: the session and its session.expired
 * event go into this node's LMDB in one transaction, so exactly one node
 * emits each (cluster_expire.c). This node's own LMDB sweep still ends
 * cached sessions past expires_at, silently (ctl_event.c).
 */
struct ctl_expiry_op {
	struct ctl *ctl;
	struct cluster_expiry *x;
	const struct session *s;	/* the cluster's, until done */
	size_t n;
};

static int expiry_run(struct store_txn *tx, void *arg)
{
	struct ctl_expiry_op *op = arg;
	int64_t now = clock_now_ms();
	size_t i;
	int err = 0;

	for (i = 0; i < op->n && !err; i++) {
		err = store_session_mirror(tx, &op->s[i], NULL);
		if (!err)
			err = ctl_event_session(op->ctl, tx, "session.expired",
						&op->s[i],
						op->s[i].ended_at_ms, now);
	}
	return err;
}

static void expiry_done(int err, void *arg)
{
	struct ctl_expiry_op *op = arg;

	if (err)
		log_warn(op->ctl->log, "ctl: cluster: %zu expiries not "
			 "written (handed over again): %s", op->n,
			 strerror(err));
	else
		op->ctl->ctr.expiries += op->n;
	cluster_expired_done(op->x, err);
	free(op);
}

static void ctl_cluster_expired(struct cluster_expiry *x,
				const struct session *s, size_t n, void *arg)
{
	struct ctl *ctl = arg;
	struct ctl_expiry_op *op = calloc(1, sizeof(*op));

	if (!op) {
		cluster_expired_done(x, ENOMEM);
		return;
	}
	op->ctl = ctl;
	op->x = x;
	op->s = s;
	op->n = n;
	if (writer_submit(ctl->w, expiry_run, expiry_done, op)) {
		free(op);
		cluster_expired_done(x, ENOMEM);
	}
}

/*
 * Cache misses: a call's pair not in this node's LMDB (sip_miss.c) is
 * looked up in PostgreSQL; a session found is mirrored into LMDB first,
 * then the SIP thread routes the INVITE again from its cache.
 */
struct ctl_miss_op {
	struct ctl *ctl;
	struct sip_miss_ask q;
	struct session s;		/* owned strings */
};

static void miss_answer(struct ctl_miss_op *op, bool found)
{
	struct ctl *ctl = op->ctl;

	if (ctl->sip && sip_cmd_miss_answer(ctl->sip, op->q.token, found))
		ctl->ctr.sip_cmds_lost++;	/* its guard routes it */
	session_clear(&op->s);
	free(op);
}

static int miss_mirror_run(struct store_txn *tx, void *arg)
{
	struct ctl_miss_op *op = arg;

	return store_session_mirror(tx, &op->s, NULL);
}

static void miss_mirror_done(int err, void *arg)
{
	miss_answer(arg, !err);
}

static void miss_found(int err, const struct session *s, void *arg)
{
	struct ctl_miss_op *op = arg;

	if (err || !s) {
		miss_answer(op, false);
		return;
	}
	if (session_copy(&op->s, s) ||
	    writer_submit(op->ctl->w, miss_mirror_run, miss_mirror_done, op))
		miss_answer(op, false);
}

/* On the control thread: a copy of the SIP thread's question. */
static void ctl_on_miss(void *msg, void *arg)
{
	struct ctl *ctl = arg;
	struct ctl_miss_op *op;

	op = calloc(1, sizeof(*op));
	if (!op)
		return;		/* the INVITE's guard routes it */
	op->ctl = ctl;
	memcpy(&op->q, msg, sizeof(op->q));
	if (!ctl->cluster ||
	    cluster_session_lookup(ctl->cluster, op->q.caller, op->q.vn,
				   clock_now_ms(), miss_found, op))
		miss_answer(op, false);
}

/*
 * One call per session across nodes (cluster_claim.c): a call reported
 * initiated claims its session in PostgreSQL, optimistically - the call
 * was forwarded already, the claim's answer comes long before anyone
 * answers it. Busy elsewhere: the SIP thread ends it (486 to the
 * caller). Claimed: renewed every CLUSTER_CLAIM_RENEW_MS while it lasts,
 * released when its record comes. PostgreSQL unreachable: the call goes
 * on unclaimed.
 */
struct ctl_claim {
	uint8_t session_id[STORE_ID_LEN];
	uint8_t call_id[STORE_ID_LEN];
	bool pending;			/* the claim not answered yet */
	bool ended;			/* ... and the call has ended */
};

struct ctl_claims {
	struct ctl *ctl;
	struct ctl_claim *v;		/* this node's calls, claimed or
					 * being claimed */
	size_t n, cap;
	struct event *renew;
};

static struct ctl_claim *claim_find(struct ctl_claims *cl,
				    const uint8_t call_id[STORE_ID_LEN])
{
	size_t i;

	for (i = 0; i < cl->n; i++)
		if (!memcmp(cl->v[i].call_id, call_id, STORE_ID_LEN))
			return &cl->v[i];
	return NULL;
}

static void claim_drop(struct ctl_claims *cl, struct ctl_claim *e)
{
	*e = cl->v[--cl->n];
}

/* The claim's answer; @arg is a heap copy of the call's id. */
static void claim_done(int err, void *arg)
{
	uint8_t *call_id = arg;
	struct ctl *ctl;
	struct ctl_claims *cl;
	struct ctl_claim *e;

	ctl = *(struct ctl **)(call_id + STORE_ID_LEN);
	cl = ctl->claims;
	e = cl ? claim_find(cl, call_id) : NULL;
	free(call_id);
	if (!e)
		return;
	e->pending = false;
	if (err == EBUSY) {
		ctl->ctr.claims_refused++;
		if (!e->ended && ctl->sip &&
		    sip_cmd_session_end(ctl->sip, e->session_id, "busy"))
			ctl->ctr.sip_cmds_lost++;
		claim_drop(cl, e);
		return;
	}
	if (err) {
		claim_drop(cl, e);	/* not claimed: the call goes on */
		return;
	}
	if (e->ended) {
		if (ctl->cluster)
			(void)cluster_claim_release(ctl->cluster,
						    e->session_id, e->call_id);
		claim_drop(cl, e);
	}
}

static void claims_on_renew(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_claims *cl = arg;
	uint8_t *ids;
	size_t i, n = 0;

	if (!cl->n || !cl->ctl->cluster)
		return;
	ids = malloc(cl->n * STORE_ID_LEN);
	if (!ids)
		return;
	for (i = 0; i < cl->n; i++)
		if (!cl->v[i].pending)
			memcpy(ids + STORE_ID_LEN * n++, cl->v[i].call_id,
			       STORE_ID_LEN);
	(void)cluster_claim_renew(cl->ctl->cluster, ids, n, clock_now_ms());
	free(ids);
}

static void claims_free(struct ctl_claims *cl)
{
	if (!cl)
		return;
	if (cl->renew)
		event_free(cl->renew);
	free(cl->v);
	free(cl);
}

static struct ctl_claims *claims_new(struct ctl *ctl)
{
	struct timeval tv = { CLUSTER_CLAIM_RENEW_MS / 1000,
			      (CLUSTER_CLAIM_RENEW_MS % 1000) * 1000 };
	struct ctl_claims *cl = calloc(1, sizeof(*cl));

	if (!cl)
		return NULL;
	cl->ctl = ctl;
	cl->renew = event_new(ctl->base, -1, EV_PERSIST, claims_on_renew, cl);
	if (!cl->renew || event_add(cl->renew, &tv)) {
		claims_free(cl);
		return NULL;
	}
	return cl;
}

void ctl_cluster_call(struct ctl *ctl, const struct cdr *cdr)
{
	struct ctl_claims *cl = ctl->claims;
	struct ctl_claim *e;
	uint8_t *arg;

	if (!cl || !ctl->cluster)
		return;
	if (cdr->kind == CDR_KIND_FINAL) {
		e = claim_find(cl, cdr->id);
		if (!e)
			return;
		if (e->pending) {
			e->ended = true;	/* claim_done() releases */
			return;
		}
		(void)cluster_claim_release(ctl->cluster, e->session_id,
					    e->call_id);
		claim_drop(cl, e);
		return;
	}
	if (cdr->kind != CDR_KIND_INITIATED)
		return;
	if (cl->n == cl->cap) {
		size_t cap = cl->cap ? cl->cap * 2 : 64;
		struct ctl_claim *v = realloc(cl->v, cap * sizeof(*v));

		if (!v)
			return;		/* unclaimed, as with PG down */
		cl->v = v;
		cl->cap = cap;
	}
	/* the handler's argument: the call's id, then ctl */
	arg = malloc(STORE_ID_LEN + sizeof(ctl));
	if (!arg)
		return;
	memcpy(arg, cdr->id, STORE_ID_LEN);
	memcpy(arg + STORE_ID_LEN, &ctl, sizeof(ctl));
	if (cluster_claim(ctl->cluster, cdr->session_id, cdr->id,
			  clock_now_ms(), claim_done, arg)) {
		free(arg);
		return;
	}
	e = &cl->v[cl->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->session_id, cdr->session_id, STORE_ID_LEN);
	memcpy(e->call_id, cdr->id, STORE_ID_LEN);
	e->pending = true;
}

/*
 * A session's calls on every node: this node's records from LMDB, the
 * others' from PostgreSQL (cluster_cdr_list()), merged by call id.
 */
struct ctl_calls_op {
	struct ctl *ctl;
	ctl_calls_h *h;
	void *arg;
	struct session s;		/* owned strings */
	struct cdr *v;			/* this node's, then all */
	size_t n, cap;
};

static int calls_local(const struct cdr *c, void *arg)
{
	struct ctl_calls_op *op = arg;

	if (op->n == op->cap) {
		size_t cap = op->cap ? op->cap * 2 : 16;
		struct cdr *v = realloc(op->v, cap * sizeof(*v));

		if (!v)
			return 1;
		op->v = v;
		op->cap = cap;
	}
	op->v[op->n++] = *c;
	return 0;
}

static int calls_cmp(const void *a, const void *b)
{
	return memcmp(((const struct cdr *)a)->id,
		      ((const struct cdr *)b)->id, STORE_ID_LEN);
}

static void calls_merged(int err, const struct cdr *c, size_t n, void *arg)
{
	struct ctl_calls_op *op = arg;
	size_t i, local = op->n, j;

	/* PostgreSQL's that this node does not hold (it holds its own,
	 * some maybe not exported yet); unreachable: this node's alone */
	for (i = 0; !err && i < n; i++) {
		for (j = 0; j < local; j++)
			if (!memcmp(op->v[j].id, c[i].id, STORE_ID_LEN))
				break;
		if (j < local)
			continue;
		if (calls_local(&c[i], op)) {
			err = ENOMEM;
			break;
		}
		memcpy(op->v[op->n - 1].session_id, op->s.id, STORE_ID_LEN);
	}
	if (err == ENOMEM) {
		op->h(ENOMEM, NULL, NULL, 0, op->arg);
	} else {
		if (op->n)
			qsort(op->v, op->n, sizeof(*op->v), calls_cmp);
		op->h(0, &op->s, op->v, op->n, op->arg);
	}
	session_clear(&op->s);
	free(op->v);
	free(op);
}

int ctl_session_calls_all(struct ctl *ctl, const uint8_t id[STORE_ID_LEN],
			  ctl_calls_h *h, void *arg)
{
	struct ctl_calls_op *op;
	int err;

	if (!ctl->cluster)
		return ENOSYS;
	op = calloc(1, sizeof(*op));
	if (!op)
		return ENOMEM;
	op->ctl = ctl;
	op->h = h;
	op->arg = arg;
	err = ctl_session_calls(ctl, id, &op->s, calls_local, op);
	if (err) {
		session_clear(&op->s);
		free(op->v);
		free(op);
		return err;
	}
	if (cluster_cdr_list(ctl->cluster, id, calls_merged, op))
		calls_merged(ENOTCONN, NULL, 0, op);
	return 0;
}

int ctl_cluster_miss(struct ctl *ctl, const struct sip_miss_ask *q)
{
	if (!ctl->miss_mb)
		return ENOSYS;
	return mailbox_post(ctl->miss_mb, q);
}

void ctl_set_cluster(struct ctl *ctl, struct cluster *c)
{
	if (ctl->cluster && !c) {
		cluster_set_expired_h(ctl->cluster, NULL, NULL);
		/* an expiry batch in the writer points into the cluster,
		 * which is about to go */
		writer_flush(ctl->w);
		/* the SIP thread is stopped before this: nothing posts */
		mailbox_free(ctl->miss_mb);
		ctl->miss_mb = NULL;
		/* the claims' answers still to come find none (ENOTCONN
		 * from cluster_close()): the lease lapses */
		claims_free(ctl->claims);
		ctl->claims = NULL;
	}
	if (c && !ctl->claims && !(ctl->claims = claims_new(ctl)))
		log_warn(ctl->log, "ctl: cluster: no memory for call claims: "
			 "calls go unclaimed");
	if (c && !ctl->miss_mb &&
	    mailbox_alloc(&ctl->miss_mb, ctl->base,
			  sizeof(struct sip_miss_ask), ctl_on_miss, ctl))
		log_warn(ctl->log, "ctl: cluster: no memory for cache "
			 "misses: they are answered from the cache alone");
	ctl->cluster = c;
	if (c)
		cluster_set_expired_h(c, ctl_cluster_expired, ctl);
}
