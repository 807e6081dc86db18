/*
 * player.h - plays prompts into one leg as RTP (the model: rtpengine's
 * media_player, which a stream's sink reads packets from).
 *
 * A player belongs to one leg of one call and makes that leg's outgoing
 * RTP while maskd is the media endpoint: 20 ms packets of PROMPT_FRAME
 * samples in PCMU or PCMA (the payload type given at player_alloc()),
 * timestamps +160 per packet, one random SSRC for the leg's life, the
 * sequence number going on across prompts, the marker bit on the first
 * packet of each talkspurt.
 *
 * Timing. The player keeps no timer: it only knows when its next packet
 * is due. A relay worker drives all of its players from ONE periodic
 * timer: on each tick it calls player_next() for every playing player
 * until it returns EAGAIN, and writes each packet into the leg's sink.
 * player_next() allocates nothing, takes no lock and makes no system
 * call; player_alloc() is where the memory and the randomness come from.
 *
 * Talkspurts. A prompt started with player_play() on an idle player
 * (nothing played yet, or its last packet was due before @now) starts a
 * talkspurt: marker set, and the RTP timestamp jumps by the time that
 * passed (RFC 3550 5.1: the timestamp follows the sampling clock, also
 * through silence). A prompt started while the previous one is still
 * going, or from its done handler, follows it packet for packet: no
 * marker, timestamp +160, no gap.
 *
 * Threads. A player is used by one thread at a time (the leg's worker);
 * its prompts are immutable (prompt.h) and may be shared by any number
 * of players on any threads.
 */
#ifndef MASKD_PLAYER_H
#define MASKD_PLAYER_H

#include <stddef.h>
#include <stdint.h>

#include "maskd/prompt.h"

#define PLAYER_PT_PCMU 0
#define PLAYER_PT_PCMA 8
#define PLAYER_PTIME_US 20000
#define PLAYER_RTP_HEADER 12
/* the largest packet player_next() writes */
#define PLAYER_PACKET_MAX (PLAYER_RTP_HEADER + PROMPT_FRAME)

struct player;

/*
 * The prompt's last packet was written by player_next(), which returns
 * it after this handler; the handler may call player_play() (the next
 * prompt follows without a gap) or player_stop(), not player_free().
 * Called once per player_play() that ran to its end.
 */
typedef void (player_done_h)(struct player *p, const struct prompt *prompt,
			     void *arg);

/*
 * player_alloc() - a player for one leg, sending payload type @pt
 * (PLAYER_PT_PCMU or PLAYER_PT_PCMA) with a random SSRC, first sequence
 * number and first timestamp. @done (may be NULL) gets @arg.
 * Returns 0, EINVAL for another @pt, ENOMEM, or the errno of getrandom().
 */
int player_alloc(struct player **out, uint8_t pt, player_done_h *done,
		 void *arg);
void player_free(struct player *p);	/* NULL-safe; no handler called */

/*
 * player_play() - play @prompt from its start; its first packet is due
 * at @now_us (a monotonic clock in microseconds, the one player_next()
 * gets), or right after the packet of a prompt still playing. Replaces
 * what was playing without calling its done handler.
 */
void player_play(struct player *p, const struct prompt *prompt,
		 uint64_t now_us);

/* player_stop() - stop playing; no done handler. The SSRC, sequence
 * and timestamp carry on with the next player_play(). */
void player_stop(struct player *p);

/*
 * player_next() - the next packet, if one is due at @now_us: writes it
 * into @buf (at least PLAYER_PACKET_MAX bytes), its length into *len,
 * and returns 0. EAGAIN: playing, but the next packet is due later
 * (player_due()); ENODATA: not playing. A worker that was late gets the
 * packets it missed one call after the other.
 */
int player_next(struct player *p, uint64_t now_us, uint8_t *buf,
		size_t *len);

/* When the next packet is due (microseconds), or UINT64_MAX when idle. */
uint64_t player_due(const struct player *p);

uint32_t player_ssrc(const struct player *p);

#endif
