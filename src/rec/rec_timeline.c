/*
 * rec_timeline.c - where each packet's audio goes in a recording
 * (recorder.h, the timeline): decoding, anchoring RTP timestamps to the
 * file's frames, and the window of frames not yet written.
 *
 * Recorder thread only (and the unit test). No system call here: the
 * file is the caller's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <spandsp/telephony.h>
#include <spandsp/g722.h>

#include "maskd/g711.h"
#include "maskd/recorder.h"

#define PT_PCMU 0
#define PT_PCMA 8
#define PT_G722 9
#define PT_CN 13

/* A sequence number this far behind the highest is a new numbering
 * (a switch that kept the SSRC), not a late packet. */
#define REC_REORDER_MAX 100

/* RTP clock of all three codecs: 8000 (G.722's too, RFC 3551 4.5.2) */
#define REC_RTP_RATE 8000

/* G.711 decoded through tables: a load per sample instead of a call,
 * for 500 calls x 16,000 samples/s on the recorder thread. */
static int16_t rec_ulaw[256], rec_alaw[256];
static pthread_once_t rec_tables_once = PTHREAD_ONCE_INIT;

static void rec_tables_make(void)
{
	int i;

	for (i = 0; i < 256; i++) {
		rec_ulaw[i] = g711_ulaw_decode((uint8_t)i);
		rec_alaw[i] = g711_alaw_decode((uint8_t)i);
	}
}

int rec_timeline_init(struct rec_timeline *t, unsigned rate, int64_t start_ms)
{
	pthread_once(&rec_tables_once, rec_tables_make);
	memset(t, 0, sizeof(*t));
	if (rate != 8000 && rate != 16000)
		return EINVAL;
	t->rate = rate;
	t->start_ms = start_ms;
	t->end = -1;
	t->wlen = (int64_t)rate * REC_WINDOW_MS / 1000;
	t->win = calloc((size_t)t->wlen * 2, sizeof(*t->win));
	return t->win ? 0 : ENOMEM;
}

void rec_timeline_free(struct rec_timeline *t)
{
	int ch;

	free(t->win);
	t->win = NULL;
	for (ch = 0; ch < 2; ch++) {
		if (t->track[ch].g722)
			g722_decode_free(t->track[ch].g722);
		t->track[ch].g722 = NULL;
	}
}

int64_t rec_timeline_frame(const struct rec_timeline *t, int64_t ms)
{
	return (ms - t->start_ms) * (int64_t)t->rate / 1000;
}

void rec_timeline_end_at(struct rec_timeline *t, int64_t ms)
{
	int64_t end = rec_timeline_frame(t, ms);

	t->end = end < t->written ? t->written : end;
}

/* The largest packet decoded: REC_PAYLOAD_MAX G.722 bytes are twice as
 * many samples at 16 kHz. */
#define REC_DECODE_MAX (2 * REC_PAYLOAD_MAX)

/*
 * rec_decode() - @p's payload as samples at the file's rate into @out;
 * returns how many, 0 for nothing to place (comfort noise, an event),
 * -1 for a codec we cannot decode.
 */
static int rec_decode(struct rec_timeline *t, struct rec_track *tr,
		      const struct rec_pkt *p, int16_t *out)
{
	int16_t tmp[REC_DECODE_MAX];
	size_t i, n = p->len;

	if (n > REC_PAYLOAD_MAX)
		n = REC_PAYLOAD_MAX;
	switch (p->pt) {
	case PT_PCMU:
	case PT_PCMA: {
		const int16_t *tab = p->pt == PT_PCMU ? rec_ulaw : rec_alaw;

		if (t->rate == 8000) {
			for (i = 0; i < n; i++)
				out[i] = tab[p->payload[i]];
			return (int)n;
		}
		/* into a 16 kHz file (the other side speaks G.722) */
		for (i = 0; i < n; i++)
			out[2 * i] = out[2 * i + 1] = tab[p->payload[i]];
		return (int)(2 * n);
	}
	case PT_G722:
		if (!tr->g722) {
			tr->g722 = g722_decode_init(NULL, 64000, 0);
			if (!tr->g722)
				return 0;	/* no memory: a gap */
		}
		n = (size_t)g722_decode(tr->g722, tmp, p->payload, (int)n);
		if (t->rate == 16000) {
			memcpy(out, tmp, n * sizeof(*out));
			return (int)n;
		}
		/* into an 8 kHz file: average each pair */
		for (i = 0; i + 1 < n; i += 2)
			out[i / 2] = (int16_t)(((int)tmp[i] + tmp[i + 1]) / 2);
		return (int)(n / 2);
	case PT_CN:
		return 0;
	default:
		/* dynamic types carrying a few bytes: telephone-event
		 * (RFC 4733, 4 bytes a block), not audio */
		if (p->pt >= 96 && p->len <= 16)
			return 0;
		return -1;
	}
}

/*
 * rec_anchor() - the frame @p starts at on track @tr, moving the anchor
 * as recorder.h says. Frames, may be negative (before the answer).
 */
static int64_t rec_anchor(struct rec_timeline *t, struct rec_track *tr,
			  const struct rec_pkt *p)
{
	int64_t arr = rec_timeline_frame(t, p->arrival_ms);
	int64_t k = t->rate / REC_RTP_RATE;
	int64_t jump = (int64_t)t->rate * REC_JUMP_MS / 1000;
	int64_t early = (int64_t)t->rate * REC_EARLY_MS / 1000;
	int64_t late_max = (int64_t)t->rate * REC_LATE_MS / 1000;
	int64_t pos, late;
	int back;

	if (!tr->anchored || tr->ssrc != p->ssrc)
		goto anchor;

	pos = tr->base_pos + (int64_t)(int32_t)(p->ts - tr->base_ts) * k;
	back = (int16_t)(p->seq - tr->max_seq);
	if (back <= 0 && back > -REC_REORDER_MAX)
		return pos;	/* reordered or repeated: no evidence */
	tr->max_seq = p->seq;
	late = arr - pos;
	if (late > jump || late < -jump)
		goto anchor;
	if (late < -early) {
		/* the anchor's packet had been held up: come back to the
		 * earliest arrival seen */
		tr->base_pos += late;
		tr->moves++;
		pos = arr;
		tr->late_n = 0;
		return pos;
	}
	if (tr->late_n == 0 || late < tr->late_min)
		tr->late_min = late;
	if (++tr->late_n >= REC_LATE_PACKETS) {
		if (tr->late_min > late_max) {
			/* a sender clock slower than ours: a little silence
			 * rather than a growing drift */
			tr->base_pos += tr->late_min;
			pos += tr->late_min;
			tr->moves++;
		}
		tr->late_n = 0;
	}
	return pos;

 anchor:
	if (tr->anchored)
		tr->moves++;
	tr->anchored = true;
	tr->ssrc = p->ssrc;
	tr->base_ts = p->ts;
	tr->base_pos = arr;
	tr->max_seq = p->seq;
	tr->late_n = 0;
	return arr;
}

int rec_timeline_put(struct rec_timeline *t, int ch, const struct rec_pkt *p)
{
	struct rec_track *tr = &t->track[ch & 1];
	int16_t pcm[REC_DECODE_MAX];
	int64_t pos, from, to, limit, f, seg;
	int n;

	n = rec_decode(t, tr, p, pcm);
	if (n < 0) {
		tr->unsupported++;
		return REC_PUT_UNSUPPORTED;
	}
	if (n == 0)
		return REC_PUT_IGNORED;

	pos = rec_anchor(t, tr, p);
	from = pos < t->written ? t->written : pos;
	to = pos + n;
	limit = t->written + t->wlen;
	if (t->end >= 0 && t->end < limit)
		limit = t->end;
	if (to > limit)
		to = limit;
	if (from > pos || to < pos + n)
		tr->late++;
	if (from >= to)
		return REC_PUT_IGNORED;

	/* in runs up to the window's wrap: no division per frame */
	for (f = from; f < to; f += seg) {
		int16_t *w = &t->win[2 * (f % t->wlen) + (ch & 1)];
		const int16_t *src = &pcm[f - pos];
		int64_t i;

		seg = t->wlen - f % t->wlen;
		if (seg > to - f)
			seg = to - f;
		for (i = 0; i < seg; i++)
			w[2 * i] = src[i];
	}
	tr->decoded++;
	return REC_PUT_PLACED;
}

size_t rec_timeline_take(struct rec_timeline *t, int64_t upto, int16_t *out,
			 size_t max)
{
	int64_t f, n, seg;

	if (t->end >= 0 && upto > t->end)
		upto = t->end;
	n = upto - t->written;
	if (n <= 0)
		return 0;
	if ((uint64_t)n > max)
		n = (int64_t)max;
	/* at most two runs: up to the window's wrap, then from its start;
	 * what leaves the window becomes silence for the frames to come */
	for (f = 0; f < n; f += seg) {
		int64_t at = (t->written + f) % t->wlen;
		int16_t *w = &t->win[2 * at];

		seg = t->wlen - at;
		if (seg > n - f)
			seg = n - f;
		memcpy(out + 2 * f, w, (size_t)seg * 2 * sizeof(*w));
		memset(w, 0, (size_t)seg * 2 * sizeof(*w));
	}
	t->written += n;
	return (size_t)n;
}
