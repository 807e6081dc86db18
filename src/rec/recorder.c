/*
 * recorder.c - the recorder thread (recorder.h): the per-call rings the
 * relay workers fill through their taps, and each recording's life from
 * answer to report.
 *
 * The ring is single-producer single-consumer: both legs of a relay call
 * live on one worker, which is the only writer of head; the recorder
 * thread is the only writer of tail. A slot is filled, then head is
 * published with a release store; the recorder reads head with an
 * acquire load, uses the slots, then gives them back with a release
 * store of tail. Nothing else is shared on the packet path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "maskd/clock.h"
#include "maskd/rtp.h"
#include "rec_internal.h"

/* ---- the packet path: a relay worker's tap ------------------------- */

/*
 * rec_tap_write() - one packet accepted on a recorded leg: into the
 * call's ring, or counted as a drop when the ring is full. Worker
 * thread, hot path: no lock, no allocation, no system call.
 */
static void rec_tap_write(struct relay_sink *s, const uint8_t *pkt,
			  size_t len, bool is_rtcp, int64_t now)
{
	struct rec_tap *t = (struct rec_tap *)s;
	struct rec_call *rc = t->rc;
	struct rtp_hdr h;
	const uint8_t *pl;
	struct rec_slot *slot;
	uint32_t head, tail;
	size_t plen;

	if (is_rtcp || rtp_parse(pkt, len, &h, &pl, &plen))
		return;
	head = atomic_load_explicit(&rc->head, memory_order_relaxed);
	tail = atomic_load_explicit(&rc->tail, memory_order_acquire);
	if (head - tail >= REC_RING_SLOTS || plen > REC_PAYLOAD_MAX) {
		metrics_inc(&rc->r->ctr.queue_drops);
		return;
	}
	slot = &rc->slots[head & (REC_RING_SLOTS - 1)];
	slot->leg = t->leg;
	slot->pt = h.pt;
	slot->len = (uint16_t)plen;
	slot->seq = h.seq;
	slot->ts = h.ts;
	slot->ssrc = h.ssrc;
	slot->arrival_ms = now;
	memcpy(slot->data, pl, plen);
	atomic_store_explicit(&rc->head, head + 1, memory_order_release);
}

/* The leg no longer writes into the tap (replaced, or the relay call
 * freed). Worker thread. */
static void rec_tap_detach(struct relay_sink *s)
{
	struct rec_tap *t = (struct rec_tap *)s;

	atomic_store_explicit(&t->rc->detached[t->leg], true,
			      memory_order_release);
}

static const struct relay_sink_ops rec_tap_ops = {
	.write = rec_tap_write,
	.detach = rec_tap_detach,
};

/* ---- the SIP thread's side ---------------------------------------- */

static void rec_call_free(struct rec_call *rc)
{
	if (!rc)
		return;
	rec_timeline_free(&rc->tl);
	free(rc->slots);
	free(rc);
}

int recorder_call_start(struct recorder *r, struct relay_call *media,
			const uint8_t call_id[STORE_ID_LEN],
			const uint8_t session_id[STORE_ID_LEN],
			enum relay_leg party_a_leg, unsigned rate,
			struct rec_call **out)
{
	struct rec_call *rc;
	int l, err = 0;

	*out = NULL;
	if (!r || !media)
		return EINVAL;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return ENOMEM;
	rc->slots = calloc(REC_RING_SLOTS, sizeof(*rc->slots));
	if (!rc->slots) {
		free(rc);
		return ENOMEM;
	}
	rc->r = r;
	rc->fd = -1;
	memcpy(rc->call_id, call_id, STORE_ID_LEN);
	memcpy(rc->session_id, session_id, STORE_ID_LEN);
	rc->ch[party_a_leg] = 0;
	rc->ch[!party_a_leg] = 1;
	rc->start_ms = clock_mono_coarse_ms();
	rc->rate_hint = rate == 8000 || rate == 16000 ? rate : 0;
	atomic_store(&rc->end_ms, 0);

	for (l = 0; l < 2; l++) {
		rc->tap[l].sink.ops = &rec_tap_ops;
		rc->tap[l].rc = rc;
		rc->tap[l].leg = (uint8_t)l;
		err = relay_call_tap_at(media, (enum relay_leg)l,
					RELAY_TAP_REC, &rc->tap[l].sink);
		if (err)
			break;
		rc->attached[l] = true;
	}
	if (err && !rc->attached[0]) {
		rec_call_free(rc);
		return err;
	}
	if (err) {
		/* leg A's tap is posted and will detach: the recording runs
		 * (and fails) like any other, so it is freed after it */
		rc->failed = true;
		snprintf(rc->reason, sizeof(rc->reason), "%s", REC_REASON_IO);
	}

	metrics_inc(&r->ctr.started);
	metrics_inc(&r->ctr.active);
	pthread_mutex_lock(&r->lock);
	rc->next = r->intake;
	r->intake = rc;
	if (r->idle)
		pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	*out = rc;
	return 0;
}

void recorder_call_stop(struct rec_call *rc)
{
	if (!rc)
		return;
	atomic_store(&rc->end_ms, clock_mono_coarse_ms());
	atomic_store_explicit(&rc->stop, true, memory_order_release);
}

/* ---- the recorder thread ------------------------------------------- */

static void rec_fail(struct recorder *r, struct rec_call *rc,
		     const char *reason, const char *why)
{
	char id[STORE_ID_STR_SIZE];

	if (rc->failed)
		return;
	rc->failed = true;
	snprintf(rc->reason, sizeof(rc->reason), "%s", reason);
	store_id_format(rc->call_id, id);
	log_warn(r->log, "recorder: call %s not recorded: %s", id, why);
	if (rc->opened)
		(void)rec_file_close(rc, false, NULL, NULL);
}

/*
 * rec_rate() - the file's rate: the SDP's, else from the first audio in
 * the ring (G.722: 16 kHz, else 8 kHz), or 0 while none has come and
 * there is time.
 */
static unsigned rec_rate(struct rec_call *rc, int64_t now, bool ending)
{
	uint32_t tail = atomic_load_explicit(&rc->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&rc->head, memory_order_acquire);
	const struct rec_slot *s;

	if (rc->rate_hint)
		return rc->rate_hint;
	for (; tail != head; tail++) {
		s = &rc->slots[tail & (REC_RING_SLOTS - 1)];
		if (s->pt == 9)
			return 16000;
		if (s->pt == 0 || s->pt == 8)
			return 8000;
	}
	if (ending || now - rc->start_ms >= REC_RATE_WAIT_MS ||
	    head - tail >= REC_RING_SLOTS)
		return 8000;
	return 0;
}

/* rec_drain() - every packet in the ring onto the timeline (or away,
 * for a failed recording). */
static void rec_drain(struct recorder *r, struct rec_call *rc)
{
	uint32_t tail = atomic_load_explicit(&rc->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&rc->head, memory_order_acquire);
	const struct rec_slot *s;
	struct rec_pkt p;
	int ch;

	for (; tail != head; tail++) {
		s = &rc->slots[tail & (REC_RING_SLOTS - 1)];
		if (rc->failed)
			continue;
		p.pt = s->pt;
		p.seq = s->seq;
		p.ts = s->ts;
		p.ssrc = s->ssrc;
		p.arrival_ms = s->arrival_ms;
		p.payload = s->data;
		p.len = s->len;
		ch = rc->ch[s->leg & 1];
		if (rec_timeline_put(&rc->tl, ch, &p) == REC_PUT_UNSUPPORTED &&
		    rc->tl.track[ch].unsupported >= REC_UNSUPPORTED_MAX &&
		    !rc->tl.track[ch].decoded)
			rec_fail(r, rc, REC_REASON_CODEC, "a codec other than "
				 "PCMU, PCMA or G.722");
	}
	atomic_store_explicit(&rc->tail, tail, memory_order_release);
}

/* rec_flush() - write the frames before @upto. */
static void rec_flush(struct recorder *r, struct rec_call *rc, int64_t upto)
{
	size_t n;

	while (!rc->failed &&
	       (n = rec_timeline_take(&rc->tl, upto, r->buf,
				      REC_CHUNK_FRAMES)) > 0) {
		if (rec_file_write(r, rc, n))
			rec_fail(r, rc, REC_REASON_IO, "cannot write its file "
				 "(disk full?)");
	}
}

static void rec_report(struct recorder *r, struct rec_call *rc)
{
	struct rec_result res;
	int64_t frames = rc->tl.written;
	int err;

	memset(&res, 0, sizeof(res));
	memcpy(res.call_id, rc->call_id, STORE_ID_LEN);
	memcpy(res.session_id, rc->session_id, STORE_ID_LEN);
	res.format = (uint8_t)r->format;
	if (!rc->failed) {
		err = rec_file_close(rc, true, &res.bytes, res.sha256);
		if (err)
			rec_fail(r, rc, REC_REASON_IO, "cannot finish its file");
	}
	if (rc->failed) {
		res.kind = REC_RESULT_FAILED;
		snprintf(res.reason, sizeof(res.reason), "%s", rc->reason);
		metrics_inc(&r->ctr.failed);
	} else {
		res.kind = REC_RESULT_READY;
		res.duration_ms = rc->tl.rate ?
			(uint32_t)(frames * 1000 / rc->tl.rate) : 0;
		metrics_inc(&r->ctr.ready);
		metrics_add(&r->ctr.bytes, res.bytes);
	}
	metrics_add(&r->ctr.late_packets, rc->tl.track[0].late +
		    rc->tl.track[1].late);
	metrics_dec(&r->ctr.active);
	if (r->h)
		r->h(&res, r->arg);
}

/*
 * rec_call_tick() - one round of a recording: open the file once the
 * rate is known, drain, write what is old enough, keep the header
 * current; at the end, finish and report. Returns true when @rc is done
 * (reported, and no leg writes into it any more): free it.
 */
static bool rec_call_tick(struct recorder *r, struct rec_call *rc,
			  int64_t now, bool force)
{
	bool stop = atomic_load_explicit(&rc->stop, memory_order_acquire);
	bool quiet = force ||
		((!rc->attached[0] || atomic_load_explicit(&rc->detached[0],
						memory_order_acquire)) &&
		 (!rc->attached[1] || atomic_load_explicit(&rc->detached[1],
						memory_order_acquire)));
	bool ending = force || (stop && quiet);
	int64_t upto;
	unsigned rate;
	int err;

	if (force && !stop) {
		/* shutdown: the calls' media ended with sip_stop() */
		atomic_store(&rc->end_ms, now);
		stop = true;
	}
	if (!rc->opened && !rc->failed) {
		rate = rec_rate(rc, now, ending || stop);
		if (!rate)
			return false;
		err = rec_timeline_init(&rc->tl, rate, rc->start_ms);
		if (!err)
			err = rec_file_open(r, rc);
		if (err) {
			rec_fail(r, rc, REC_REASON_IO, err == ENOMEM ?
				 "out of memory" : "cannot create its file in "
				 "[recording] dir");
		} else {
			rc->opened = true;
			rc->header_ms = now;
		}
	}
	if (stop && rc->tl.win)
		rec_timeline_end_at(&rc->tl, atomic_load(&rc->end_ms));

	rec_drain(r, rc);
	upto = ending ? INT64_MAX : rec_timeline_frame(&rc->tl,
						       now - REC_DELAY_MS);
	/* in batches: one write() a call every REC_FLUSH_MS, not a tick */
	if (!rc->failed && rc->opened &&
	    upto - rc->tl.written >= (int64_t)rc->tl.rate * REC_FLUSH_MS / 1000)
		rec_flush(r, rc, upto);
	if (!rc->failed && rc->opened && now - rc->header_ms >= REC_HEADER_MS) {
		rec_file_header(rc);
		rc->header_ms = now;
	}
	if (!ending)
		return false;
	rec_report(r, rc);
	return true;
}

/* Every REC_SWEEP_MS, or half the retention when that is shorter (a
 * file is then at most 1.5 retention old), at least every second. */
static int64_t rec_sweep_period(const struct recorder *r)
{
	int64_t ms = (int64_t)r->cfg->retention_s * 500;

	if (ms > REC_SWEEP_MS)
		ms = REC_SWEEP_MS;
	return ms < 1000 ? 1000 : ms;
}

static void rec_tick(struct recorder *r, bool force)
{
	struct rec_call *rc, **pp, *in;
	int64_t now = clock_mono_coarse_ms();

	pthread_mutex_lock(&r->lock);
	in = r->intake;
	r->intake = NULL;
	pthread_mutex_unlock(&r->lock);
	while (in) {
		rc = in;
		in = in->next;
		rc->next = r->calls;
		r->calls = rc;
	}

	for (pp = &r->calls; (rc = *pp);) {
		if (rec_call_tick(r, rc, now, force)) {
			*pp = rc->next;
			rec_call_free(rc);
		} else {
			pp = &rc->next;
		}
	}

	if (!force && r->cfg->retention_s &&
	    clock_mono_ms() - r->sweep_ms >= rec_sweep_period(r)) {
		r->sweep_ms = clock_mono_ms();
		rec_file_sweep(r);
	}
}

/*
 * When the thread next looks, into @next: REC_TICK_MS on while it has
 * calls; with none, at the next retention sweep (or in an hour), woken
 * earlier by recorder_call_start(). Ticking with nothing to drain cost
 * fifty wake-ups a second, 3 ms of CPU a second on this kind of virtual
 * machine - a sixth of maskd's idle CPU and 0.05 ms per call at 100
 * calls/s (issue 14), on every maskd, recording or not.
 */
static bool rec_next(struct recorder *r, struct timespec *next)
{
	int64_t at_ms;

	if (r->calls) {
		next->tv_nsec += REC_TICK_MS * 1000000L;
		if (next->tv_nsec >= 1000000000L) {
			next->tv_sec++;
			next->tv_nsec -= 1000000000L;
		}
		return false;
	}
	at_ms = r->cfg->retention_s ? r->sweep_ms + rec_sweep_period(r) :
				      clock_mono_ms() + 3600 * 1000;
	next->tv_sec = (time_t)(at_ms / 1000);
	next->tv_nsec = (long)(at_ms % 1000) * 1000000L;
	return true;
}

static void *rec_thread(void *arg)
{
	struct recorder *r = arg;
	struct timespec next;
	bool stopping;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		pthread_mutex_lock(&r->lock);
		r->idle = rec_next(r, &next);
		while (!r->stopping && !(r->idle && r->intake) &&
		       pthread_cond_timedwait(&r->cond, &r->lock, &next) !=
		       ETIMEDOUT)
			;
		r->idle = false;
		stopping = r->stopping;
		pthread_mutex_unlock(&r->lock);
		if (stopping)
			break;
		rec_tick(r, false);
		clock_gettime(CLOCK_MONOTONIC, &next);
	}
	/* the relay has stopped: no leg writes into any ring any more */
	rec_tick(r, true);
	return NULL;
}

/* ---- start, stop, metrics ------------------------------------------ */

static const struct metrics_row rec_metrics_rows[] = {
#define X(f, name, kind, help) \
	METRICS_ROW(struct recorder_cells, f, name, kind, help),
#include "maskd/rec_metrics.inc"
#undef X
};

static const struct metrics_group rec_metrics_group =
	METRICS_GROUP("recorder", rec_metrics_rows);

int recorder_metrics_register(struct recorder *r, struct metrics *reg)
{
	int err;

	err = metrics_register(reg, &rec_metrics_group, &r->ctr);
	if (!err)
		r->metrics = reg;
	return err;
}

void recorder_stats_get(const struct recorder *r, struct recorder_stats *out)
{
#define X(f, name, kind, help) out->f = metrics_get(&r->ctr.f);
#include "maskd/rec_metrics.inc"
#undef X
}

enum rec_format recorder_format(const struct recorder *r)
{
	return r->format;
}

int recorder_start(struct recorder **rp, const struct config_recording *cfg,
		   struct log *log, recorder_done_h *h, void *arg)
{
	struct recorder *r;
	pthread_condattr_t ca;
	unsigned fixed;
	int err;

	*rp = NULL;
	err = recorder_format_check((enum rec_format)cfg->format);
	if (err) {
		log_error(log, "recorder: [recording] format = mp3: this "
			  "libsndfile cannot write MP3 (it needs 1.1 or "
			  "later built with LAME); use wav");
		return err;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->cfg = cfg;
	r->log = log;
	r->h = h;
	r->arg = arg;
	r->format = (enum rec_format)cfg->format;
	r->sweep_ms = 0;	/* a first sweep right away */
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);

	fixed = rec_file_repair_dir(r);
	if (fixed) {
		metrics_add(&r->ctr.repaired, fixed);
		log_warn(log, "recorder: %u recording(s) left unfinished by a "
			 "crash: headers repaired", fixed);
	}

	err = pthread_create(&r->thread, NULL, rec_thread, r);
	if (err) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return err;
	}
	r->started = true;
	pthread_setname_np(r->thread, "maskd-rec");
	*rp = r;
	return 0;
}

void recorder_stop(struct recorder *r)
{
	struct rec_call *rc;

	if (!r)
		return;
	metrics_unregister(r->metrics, &rec_metrics_group, &r->ctr);
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (r->started)
		pthread_join(r->thread, NULL);
	while ((rc = r->calls)) {
		r->calls = rc->next;
		rec_call_free(rc);
	}
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
