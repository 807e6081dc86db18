/*
 * dtmf_inband.c - in-band DTMF detection in G.711 (dtmf_inband.h), with
 * spandsp's DTMF receiver.
 *
 * spandsp collects the keys it recognised during one dtmf_rx() call and
 * hands them to the digits callback at its end, each key once (it marks a
 * key as held until two blocks without it). The state kept here is only
 * what orders the packets: the stream's SSRC and last sequence number.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* spandsp's own headers, not <spandsp.h> (which needs libtiff), in the
 * order they depend on each other; they expect <stdint.h> before them */
#include <spandsp/telephony.h>
#include <spandsp/logging.h>
#include <spandsp/super_tone_rx.h>
#include <spandsp/dtmf.h>
#include <spandsp/bit_operations.h>
#include <spandsp/g711.h>

#include "maskd/dtmf_inband.h"
#include "maskd/relay.h"
#include "maskd/rtp.h"


/* Samples decoded at a time: 20 ms, the usual packet. */
#define CHUNK 160

struct dtmf_inband {
	struct relay_sink sink;	/* dtmf_inband_sink(); arg is the detector */
	uint8_t pt;
	dtmf_inband_digit_h *h;
	void *arg;
	void (*detach)(struct dtmf_inband *d, void *arg);
	void *detach_arg;
	dtmf_rx_state_t *rx;
	bool live;		/* ssrc and seq are set */
	uint32_t ssrc;
	uint16_t seq;		/* the last packet fed */
	uint32_t ts;		/* the packet being fed, for the handler */
};

/* spandsp's digits callback: at the end of a dtmf_rx() call, the keys
 * recognised during it, in order. */
static void dtmf_inband_digits(void *user, const char *digits, int len)
{
	struct dtmf_inband *d = user;
	int i;

	for (i = 0; i < len; i++)
		d->h(digits[i], d->ssrc, d->ts, d->arg);
}

/* dtmf_inband_restart() - forget the previous stream: re-initialise the
 * receiver in place (spandsp allocates only when given NULL). */
static void dtmf_inband_restart(struct dtmf_inband *d, uint32_t ssrc)
{
	dtmf_rx_init(d->rx, dtmf_inband_digits, d);
	d->ssrc = ssrc;
	d->live = true;
}

int dtmf_inband_input(struct dtmf_inband *d, const uint8_t *pkt, size_t len)
{
	int16_t amp[CHUNK];
	const uint8_t *p;
	struct rtp_hdr h;
	uint32_t ssrc;
	uint16_t seq, step;
	size_t plen, i, n;

	if (!d || !pkt)
		return EINVAL;

	if (rtp_parse(pkt, len, &h, &p, &plen))
		return EBADMSG;
	if (h.pt != d->pt)
		return ENOENT;

	seq = h.seq;
	ssrc = h.ssrc;

	if (!d->live || ssrc != d->ssrc) {
		dtmf_inband_restart(d, ssrc);
	} else {
		/* serial arithmetic on the 16-bit sequence number */
		step = (uint16_t)(seq - d->seq);
		if (step == 0 || step >= 0x8000)
			return 0;	/* a duplicate, or late */
		if (step - 1u > DTMF_INBAND_GAP_MAX)
			dtmf_inband_restart(d, ssrc);
		else if (step > 1)
			/* as many samples as were lost, at this packet's
			 * size: spandsp's fill-in keeps which key it holds
			 * (a restart here would report that key again) */
			dtmf_rx_fillin(d->rx, (int)((step - 1u) * plen));
	}
	d->seq = seq;
	d->ts = h.ts;

	for (; plen; p += n, plen -= n) {
		n = plen < CHUNK ? plen : CHUNK;
		if (d->pt == DTMF_INBAND_PCMU)
			for (i = 0; i < n; i++)
				amp[i] = ulaw_to_linear(p[i]);
		else
			for (i = 0; i < n; i++)
				amp[i] = alaw_to_linear(p[i]);
		dtmf_rx(d->rx, amp, (int)n);
	}
	return 0;
}

static void dtmf_inband_sink_write(struct relay_sink *s, const uint8_t *pkt,
				   size_t len, bool is_rtcp, int64_t now)
{
	(void)now;
	if (!is_rtcp)
		(void)dtmf_inband_input((struct dtmf_inband *)s->arg, pkt,
					len);
}

static void dtmf_inband_sink_detach(struct relay_sink *s)
{
	struct dtmf_inband *d = s->arg;

	if (d->detach)
		d->detach(d, d->detach_arg);
}

static const struct relay_sink_ops dtmf_inband_sink_ops = {
	.write = dtmf_inband_sink_write,
	.detach = dtmf_inband_sink_detach,
};

struct relay_sink *dtmf_inband_sink(struct dtmf_inband *d,
				    void (*detach)(struct dtmf_inband *d,
						   void *arg),
				    void *arg)
{
	if (!d)
		return NULL;
	d->detach = detach;
	d->detach_arg = arg;
	return &d->sink;
}

int dtmf_inband_alloc(struct dtmf_inband **dp, uint8_t pt,
		      dtmf_inband_digit_h *h, void *arg)
{
	struct dtmf_inband *d;

	if (!dp || (pt != DTMF_INBAND_PCMU && pt != DTMF_INBAND_PCMA) || !h)
		return EINVAL;

	d = calloc(1, sizeof(*d));
	if (!d)
		return ENOMEM;
	d->rx = dtmf_rx_init(NULL, dtmf_inband_digits, d);
	if (!d->rx) {
		free(d);
		return ENOMEM;
	}
	d->sink.ops = &dtmf_inband_sink_ops;
	d->sink.arg = d;
	d->pt = pt;
	d->h = h;
	d->arg = arg;

	*dp = d;
	return 0;
}

void dtmf_inband_free(struct dtmf_inband *d)
{
	if (!d)
		return;
	dtmf_rx_free(d->rx);
	free(d);
}
