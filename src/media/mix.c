/*
 * mix.c - jitter buffer, concealment and the listener's frame: see
 * mix.h. Everything here is on a relay worker's packet and tick path:
 * no allocation, no lock, no system call.
 */
#include <errno.h>
#include <string.h>

#include "maskd/g711.h"
#include "maskd/mix.h"
#include "maskd/rtp.h"

#define MIX_JB_SAMPLES (MIX_JB_FRAMES * MIX_FRAME)

/* mix_input_get() saves two frames at once to reset the PLC ring */
_Static_assert(2 * MIX_FRAME >= PLC_HISTORY_LEN, "two frames fill the "
	       "PLC history");

void mix_input_init(struct mix_input *in)
{
	memset(in, 0, sizeof(*in));
	plc_init(&in->plc);
}

/* mix_input_sync() - play from MIX_JB_DEPTH frames before @ts: the
 * buffer is empty, so those frames are silence, not losses. */
static void mix_input_sync(struct mix_input *in, uint32_t ssrc, uint32_t ts)
{
	if (in->synced)
		in->st.resyncs++;
	if (!in->synced || in->ssrc != ssrc) {
		in->heard = false;	/* another voice: nothing to extend */
		plc_init(&in->plc);
	}
	memset(in->slot_fill, 0, sizeof(in->slot_fill));
	in->play_ts = ts - MIX_JB_DEPTH * MIX_FRAME;
	in->play_slot = 0;
	in->ssrc = ssrc;
	in->late_run = 0;
	in->lost = 0;
	in->synced = true;
}

int mix_input_put(struct mix_input *in, const uint8_t *pkt, size_t len)
{
	const uint8_t *pl;
	struct rtp_hdr h;
	size_t plen, i, n;
	uint32_t off, f, s, fts;
	int16_t *dst;

	if (rtp_parse(pkt, len, &h, &pl, &plen)) {
		in->st.ignored++;
		return EBADMSG;
	}
	if (h.pt != MIX_PT_PCMU && h.pt != MIX_PT_PCMA) {
		in->st.ignored++;
		return ENOTSUP;
	}
	if (!plen || plen > MIX_JB_SAMPLES - MIX_JB_DEPTH * MIX_FRAME) {
		in->st.ignored++;
		return EMSGSIZE;
	}

	if (!in->synced || h.ssrc != in->ssrc)
		mix_input_sync(in, h.ssrc, h.ts);

	/* signed distance from the playout point, modulo 2^32 */
	if ((int32_t)(h.ts - in->play_ts) < 0) {
		/* a few late packets are jitter beyond the depth; more in a
		 * row are a sender whose timestamps went back */
		if (++in->late_run <= MIX_JB_DEPTH) {
			in->st.late++;
			return ESTALE;
		}
		mix_input_sync(in, h.ssrc, h.ts);
	}
	else if (h.ts - in->play_ts + plen > MIX_JB_SAMPLES) {
		/* beyond the buffer: a new talkspurt after silence the
		 * timestamps skipped, or a sender running fast */
		mix_input_sync(in, h.ssrc, h.ts);
	}
	in->late_run = 0;

	off = h.ts - in->play_ts;
	for (i = 0; i < plen; i += n) {
		f = (off + (uint32_t)i) / MIX_FRAME;
		s = (in->play_slot + f) % MIX_JB_FRAMES;
		fts = in->play_ts + f * MIX_FRAME;
		if (in->slot_ts[s] != fts) {
			/* the slot held an older frame, already played (a
			 * frame not whole is concealed, so what is left of
			 * the old one in it is never heard) */
			in->slot_ts[s] = fts;
			in->slot_fill[s] = 0;
		}
		dst = in->slot[s] + (off + i) % MIX_FRAME;
		n = MIX_FRAME - (off + i) % MIX_FRAME;
		if (n > plen - i)
			n = plen - i;
		if (h.pt == MIX_PT_PCMU) {
			for (size_t k = 0; k < n; k++)
				dst[k] = g711_ulaw_decode(pl[i + k]);
		} else {
			for (size_t k = 0; k < n; k++)
				dst[k] = g711_alaw_decode(pl[i + k]);
		}
		/* a duplicate counts twice: only whole frames matter, and
		 * a duplicated whole frame is still whole */
		in->slot_fill[s] = (uint16_t)(in->slot_fill[s] + n);
		if (in->slot_fill[s] > MIX_FRAME)
			in->slot_fill[s] = MIX_FRAME;
	}
	return 0;
}

bool mix_input_get(struct mix_input *in, int16_t out[MIX_FRAME])
{
	uint32_t s = in->play_slot;
	bool sig = false;

	if (!in->synced) {
		memset(out, 0, MIX_FRAME * sizeof(*out));
		return false;
	}

	if (in->slot_fill[s] == MIX_FRAME && in->slot_ts[s] == in->play_ts) {
		memcpy(out, in->slot[s], MIX_FRAME * sizeof(*out));
		/* the concealer learns the voice from what really came (and
		 * blends a concealment that went before into it) */
		plc_rx(&in->plc, out, MIX_FRAME);
		/* spandsp 0.0.6's plc_fillin() rotates its history ring with
		 * memcpy() over overlapping ranges when the ring's position
		 * is below half (undefined behaviour; ASan aborts on it).
		 * Giving it the last two frames in one piece, more than its
		 * history holds, saves the same history at position 0:
		 * nothing pending to blend now, so it only records them */
		memmove(in->two, in->two + MIX_FRAME, MIX_FRAME * sizeof(*out));
		memcpy(in->two + MIX_FRAME, out, MIX_FRAME * sizeof(*out));
		plc_rx(&in->plc, in->two, 2 * MIX_FRAME);
		in->heard = true;
		in->lost = 0;
		in->st.frames++;
		sig = true;
	}
	else if (in->heard && in->lost < MIX_PLC_MAX) {
		/* a partial frame (a lost 10 ms packet of two) is
		 * concealed whole: a half-silent frame clicks */
		plc_fillin(&in->plc, out, MIX_FRAME);
		in->lost++;
		in->st.concealed++;
		sig = true;
	}
	else {
		memset(out, 0, MIX_FRAME * sizeof(*out));
		/* silence: the next voice starts afresh, not blended into
		 * a concealment long faded */
		if (in->heard)
			plc_init(&in->plc);
		in->heard = false;
	}

	in->slot_fill[s] = 0;
	in->play_ts += MIX_FRAME;
	in->play_slot = (s + 1) % MIX_JB_FRAMES;
	return sig;
}

void mix_sum_add(int32_t sum[MIX_FRAME], const int16_t pcm[MIX_FRAME])
{
	int i;

	for (i = 0; i < MIX_FRAME; i++)
		sum[i] += pcm[i];
}

static inline int16_t mix_clip(int32_t v)
{
	if (v > INT16_MAX)
		return INT16_MAX;
	if (v < INT16_MIN)
		return INT16_MIN;
	return (int16_t)v;
}

void mix_listener(const int32_t sum[MIX_FRAME], const int16_t *own,
		  uint8_t pt, uint8_t codes[MIX_FRAME])
{
	int i;

	if (pt == MIX_PT_PCMA) {
		for (i = 0; i < MIX_FRAME; i++)
			codes[i] = g711_alaw_encode(mix_clip(own ?
					sum[i] - own[i] : sum[i]));
	} else {
		for (i = 0; i < MIX_FRAME; i++)
			codes[i] = g711_ulaw_encode(mix_clip(own ?
					sum[i] - own[i] : sum[i]));
	}
}
