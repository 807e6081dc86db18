/*
 * player.c - prompts into RTP packets, paced by the caller's clock.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "maskd/player.h"

struct player {
	const struct prompt *prompt;	/* NULL: idle */
	const uint8_t *codes;		/* prompt's PCMU or PCMA */
	size_t pos;			/* next sample of the prompt */
	uint64_t due_us;		/* when the next packet goes */
	bool started;			/* a packet was ever sent */
	bool marker;			/* the next packet starts a talkspurt */
	uint8_t pt;
	uint16_t seq;			/* of the next packet */
	uint32_t ts;			/* of the next packet */
	uint32_t ssrc;
	player_done_h *done;
	void *arg;
};

int player_alloc(struct player **out, uint8_t pt, player_done_h *done,
		 void *arg)
{
	struct player *p;
	/* RFC 3550 5.1: SSRC, first sequence number and first timestamp
	 * random, so that nothing in the stream is predictable */
	uint32_t rnd[3];

	*out = NULL;
	if (pt != PLAYER_PT_PCMU && pt != PLAYER_PT_PCMA)
		return EINVAL;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return errno ? errno : EIO;
	p = calloc(1, sizeof(*p));
	if (!p)
		return ENOMEM;
	p->pt = pt;
	p->ssrc = rnd[0];
	p->seq = (uint16_t)rnd[1];
	p->ts = rnd[2];
	p->done = done;
	p->arg = arg;
	*out = p;
	return 0;
}

void player_free(struct player *p)
{
	free(p);
}

void player_play(struct player *p, const struct prompt *prompt,
		 uint64_t now_us)
{
	if (!p->started) {
		p->due_us = now_us;
		p->marker = true;
	} else if (!p->prompt && p->due_us < now_us) {
		/* silence since the last packet's slot: the timestamp
		 * follows the clock through it, in whole packets so the
		 * receiver's playout stays on the 20 ms grid */
		uint64_t gap = (now_us - p->due_us) / PLAYER_PTIME_US;

		p->ts += (uint32_t)(gap * PROMPT_FRAME);
		p->due_us = now_us;
		p->marker = true;
	}
	/* else: still playing, or the last slot has not passed yet: the
	 * new prompt follows on the next slot */
	p->prompt = prompt;
	p->codes = p->pt == PLAYER_PT_PCMU ? prompt->pcmu : prompt->pcma;
	p->pos = 0;
}

void player_stop(struct player *p)
{
	p->prompt = NULL;
}

uint64_t player_due(const struct player *p)
{
	return p->prompt ? p->due_us : UINT64_MAX;
}

uint32_t player_ssrc(const struct player *p)
{
	return p->ssrc;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

int player_next(struct player *p, uint64_t now_us, uint8_t *buf,
		size_t *len)
{
	const struct prompt *prompt = p->prompt;

	if (!prompt)
		return ENODATA;
	if (now_us < p->due_us)
		return EAGAIN;

	buf[0] = 0x80;				/* V=2, no P, X, CC */
	buf[1] = (uint8_t)(p->pt | (p->marker ? 0x80 : 0));
	put16(buf + 2, p->seq);
	put32(buf + 4, p->ts);
	put32(buf + 8, p->ssrc);
	memcpy(buf + PLAYER_RTP_HEADER, p->codes + p->pos, PROMPT_FRAME);
	*len = PLAYER_PACKET_MAX;

	p->started = true;
	p->marker = false;
	p->seq++;
	p->ts += PROMPT_FRAME;
	p->due_us += PLAYER_PTIME_US;
	p->pos += PROMPT_FRAME;
	if (p->pos >= prompt->n_padded) {
		p->prompt = NULL;
		if (p->done)
			p->done(p, prompt, p->arg);
	}
	return 0;
}
