/*
 * mix.h - the arithmetic of an audio conference, apart from sockets and
 * threads: one input per party (a jitter buffer with packet-loss
 * concealment, fed G.711 RTP packets), and the listener's frame (the sum
 * of all inputs less its own, clipped, G.711-encoded). The relay's mixer
 * (src/media/relay_mix.c) runs these on a worker every 20 ms.
 *
 * Audio is 8 kHz, 16-bit linear inside; frames are MIX_FRAME samples
 * (20 ms). Sums are 32-bit: six full-scale inputs cannot overflow, and
 * each listener's frame is clipped once, after its own signal is taken
 * out - clipping the sum first would leave the listener hearing a dent
 * of its own voice.
 *
 * Threads. A struct mix_input is used by one thread at a time (the
 * leg's worker). Nothing here allocates, locks or makes a system call:
 * every function is fit for the per-packet path.
 */
#ifndef MASKD_MIX_H
#define MASKD_MIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <spandsp/telephony.h>
#include <spandsp/plc.h>

#define MIX_RATE 8000
#define MIX_FRAME 160		/* samples per frame: 20 ms */
#define MIX_PT_PCMU 0
#define MIX_PT_PCMA 8

/* The jitter buffer: room for MIX_JB_FRAMES frames (160 ms) of a party's
 * audio ahead of the playout point, which starts MIX_JB_DEPTH frames
 * (40 ms) behind the first packet: a packet up to that much later than
 * its predecessors still plays in order, one later than that is dropped
 * as late. A fixed depth: adaptive playout is not worth its complexity
 * on the short, local paths a masked call's parties mostly have. */
#define MIX_JB_FRAMES 8
#define MIX_JB_DEPTH 2

/* Lost frames concealed in a row (spandsp's PLC fades out within about
 * 50 ms anyway); after that the input is silent until a packet comes. */
#define MIX_PLC_MAX 5

/* What one input counted; the relay sums them into its metrics. */
struct mix_input_stats {
	uint64_t frames;	/* frames played from packets */
	uint64_t concealed;	/* frames made up by PLC */
	uint64_t late;		/* packets behind the playout point */
	uint64_t resyncs;	/* playout restarted (new SSRC, jump) */
	uint64_t ignored;	/* not G.711, malformed or too long */
};

/*
 * One party's audio on its way into the mix. Embed it (no allocation);
 * the slots hold decoded frames by their playout position.
 */
struct mix_input {
	int16_t slot[MIX_JB_FRAMES][MIX_FRAME];
	uint32_t slot_ts[MIX_JB_FRAMES];	/* RTP ts of the frame held */
	uint16_t slot_fill[MIX_JB_FRAMES];	/* samples written */
	uint32_t play_ts;	/* RTP ts of the next frame played */
	uint32_t play_slot;	/* its slot */
	uint32_t ssrc;
	uint8_t late_run;	/* late packets in a row */
	uint8_t lost;		/* concealed frames in a row */
	bool synced;		/* play_ts is set */
	bool heard;		/* a frame was played since: PLC may fill */
	plc_state_t plc;
	int16_t two[2 * MIX_FRAME];	/* the last two frames played */
	struct mix_input_stats st;
};

/* mix_input_init() - empty, not synced; the stats start at zero. */
void mix_input_init(struct mix_input *in);

/*
 * mix_input_put() - RTP packet @pkt (@len bytes) from the party: its
 * G.711 payload (payload type 0 or 8, by the packet's own type, any
 * number of samples up to the buffer's room) decoded into the slots it
 * belongs to by its timestamp. A new SSRC, a timestamp too far ahead
 * for the buffer, or several late packets in a row (a sender whose
 * clock jumped back) restart the playout MIX_JB_DEPTH frames behind
 * this packet. Returns 0 (stored), ESTALE (late: dropped), ENOTSUP
 * (another payload type: RFC 4733 events, comfort noise), EBADMSG (not
 * RTP) or EMSGSIZE (too many samples); each counted in @in's stats.
 */
int mix_input_put(struct mix_input *in, const uint8_t *pkt, size_t len);

/*
 * mix_input_get() - the next frame (every 20 ms): the party's audio if
 * its packets arrived, a concealment of up to MIX_PLC_MAX lost frames
 * after audio, else silence. Writes @out and returns true when it holds
 * a signal, false (and @out all zero) for silence.
 */
bool mix_input_get(struct mix_input *in, int16_t out[MIX_FRAME]);

/* mix_sum_add() - @sum[i] += @pcm[i] for a frame. */
void mix_sum_add(int32_t sum[MIX_FRAME], const int16_t pcm[MIX_FRAME]);

/*
 * mix_listener() - what one listener hears: @sum less @own (NULL: the
 * listener put nothing into the sum), clipped to 16 bits, encoded in
 * @pt (MIX_PT_PCMU or MIX_PT_PCMA; anything else encodes PCMU) into
 * @codes (MIX_FRAME bytes).
 */
void mix_listener(const int32_t sum[MIX_FRAME], const int16_t *own,
		  uint8_t pt, uint8_t codes[MIX_FRAME]);

#endif
