/*
 * telev.c - RFC 4733 telephone-event receiver (telev.h).
 *
 * The state is, per SSRC, the RTP timestamp of the last event reported.
 * Nothing else is needed to report each event once: every packet of one
 * event carries that event's start time (RFC 4733 2.3.1), whether it is a
 * start, a refresh or one of the three end packets.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "maskd/relay.h"
#include "maskd/rtp.h"
#include "maskd/telev.h"


struct telev_ssrc {
	uint32_t ssrc;
	uint32_t ts;		/* the last event reported */
	uint64_t used;		/* telev.tick when last seen; 0 = free */
};

struct telev {
	struct relay_sink sink;	/* telev_sink(); arg is the telev */
	uint8_t pt;
	telev_digit_h *h;
	void *arg;
	void (*detach)(struct telev *t, void *arg);
	void *detach_arg;
	uint64_t tick;
	struct telev_ssrc ssrc[TELEV_SSRC_MAX];
};

char telev_digit(uint8_t event)
{
	static const char digits[16] = "0123456789*#ABCD";

	return event < 16 ? digits[event] : 0;
}

/* telev_slot() - @ssrc's state, or the least recently used slot, empty. */
static struct telev_ssrc *telev_slot(struct telev *t, uint32_t ssrc,
				     bool *fresh)
{
	struct telev_ssrc *old = &t->ssrc[0];
	unsigned i;

	for (i = 0; i < TELEV_SSRC_MAX; i++) {
		if (t->ssrc[i].used && t->ssrc[i].ssrc == ssrc) {
			*fresh = false;
			return &t->ssrc[i];
		}
		if (t->ssrc[i].used < old->used)
			old = &t->ssrc[i];
	}

	old->ssrc = ssrc;
	old->ts = 0;
	*fresh = true;
	return old;
}

int telev_input(struct telev *t, const uint8_t *pkt, size_t len)
{
	const uint8_t *p;
	struct rtp_hdr h;
	struct telev_ssrc *st;
	uint32_t ssrc, ts;
	size_t plen;
	bool fresh;
	char d;

	if (!t || !pkt)
		return EINVAL;

	if (rtp_parse(pkt, len, &h, &p, &plen))
		return EBADMSG;
	if (h.pt != t->pt)
		return ENOENT;
	/* event, E/R/volume, duration: RFC 4733 2.3 */
	if (plen < 4)
		return EBADMSG;

	ts = h.ts;
	ssrc = h.ssrc;

	st = telev_slot(t, ssrc, &fresh);
	st->used = ++t->tick;
	/* the same event again, or one older than it (serial arithmetic:
	 * at most 2^31 ticks back, which at 8 kHz is three days) */
	if (!fresh && (int32_t)(ts - st->ts) <= 0)
		return 0;
	st->ts = ts;

	d = telev_digit(p[0]);
	if (d)
		t->h(d, ssrc, ts, t->arg);
	return 0;
}

static void telev_sink_write(struct relay_sink *s, const uint8_t *pkt,
			     size_t len, bool is_rtcp, int64_t now)
{
	(void)now;
	if (!is_rtcp)
		(void)telev_input((struct telev *)s->arg, pkt, len);
}

static void telev_sink_detach(struct relay_sink *s)
{
	struct telev *t = s->arg;

	if (t->detach)
		t->detach(t, t->detach_arg);
}

static const struct relay_sink_ops telev_sink_ops = {
	.write = telev_sink_write,
	.detach = telev_sink_detach,
};

struct relay_sink *telev_sink(struct telev *t,
			      void (*detach)(struct telev *t, void *arg),
			      void *arg)
{
	if (!t)
		return NULL;
	t->detach = detach;
	t->detach_arg = arg;
	return &t->sink;
}

int telev_alloc(struct telev **tp, uint8_t pt, telev_digit_h *h, void *arg)
{
	struct telev *t;

	if (!tp || pt > 127 || !h)
		return EINVAL;

	t = calloc(1, sizeof(*t));
	if (!t)
		return ENOMEM;
	t->sink.ops = &telev_sink_ops;
	t->sink.arg = t;
	t->pt = pt;
	t->h = h;
	t->arg = arg;

	*tp = t;
	return 0;
}

void telev_free(struct telev *t)
{
	free(t);
}
