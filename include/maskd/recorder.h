/*
 * recorder.h - call recording: one stereo file per answered call of a
 * session with `record`, party A on the left channel and party B on the
 * right (whoever called), written off the packet path.
 *
 * Threads. recorder_start() starts ONE recorder thread, which owns every
 * file: it opens, writes, header-updates, closes, hashes and deletes them.
 * The SIP thread starts a call's recording at answer
 * (recorder_call_start(): two relay taps, relay.h) and stops it when the
 * call's media ends (recorder_call_stop()). In between the call's relay
 * worker hands each accepted RTP packet of either leg - payload, RTP
 * timestamp, sequence number, SSRC, arrival time - to the recorder
 * through the call's own bounded single-producer single-consumer ring
 * (both legs of a relay call live on one worker): a copy into a
 * preallocated slot and one release store, no lock, no allocation, no
 * system call. A full ring drops the packet, counted
 * (maskd_recorder_queue_drops_total): its place in the file is silence,
 * like any lost packet, and the call's audio is never delayed.
 *
 * While it has recordings the recorder thread wakes every REC_TICK_MS
 * (with none it sleeps until one starts), drains the rings, decodes
 * (PCMU, PCMA; G.722 with spandsp, the file then at 16 kHz) and places
 * the audio on the call's timeline (below), and writes what is older than
 * REC_DELAY_MS to the file. WAV headers are rewritten every
 * REC_HEADER_MS, so a kill -9 or a power cut leaves a playable file up to
 * the last second or so; recorder_start() repairs the header of any
 * file left unfinished that way. When a recording ends the recorder
 * thread reports it (recorder_done_h): ready with its duration, size and
 * SHA-256, or failed with a reason (the file is then removed).
 *
 * Failure never touches the call: an unwritable directory, a full disk
 * or an unsupported codec fails the recording (warning, metric,
 * recording.failed), and the call goes on.
 */
#ifndef MASKD_RECORDER_H
#define MASKD_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maskd/config.h"
#include "maskd/log.h"
#include "maskd/metrics.h"
#include "maskd/relay.h"
#include "maskd/store.h"

#define REC_TICK_MS 20
/* audio is held this long for late packets before it is written */
#define REC_DELAY_MS 200
/* frames are written to the file in batches of at least this much (one
 * write() per call every REC_FLUSH_MS, not every tick) */
#define REC_FLUSH_MS 200
/* the timeline's window: the audio not yet written (REC_DELAY_MS +
 * REC_FLUSH_MS of it at most, and a stalled tick or two) */
#define REC_WINDOW_MS 2000
/* WAV header rewritten this often (what a crash can lose at most) */
#define REC_HEADER_MS 1000
/* the per-call ring: slots of at most REC_PAYLOAD_MAX payload bytes */
#define REC_RING_SLOTS 128
#define REC_PAYLOAD_MAX 480

/* timeline corrections (see rec_timeline_put()) */
#define REC_JUMP_MS 300		/* further off than this: a new stream */
#define REC_EARLY_MS 10		/* earlier than its place by this: move */
#define REC_LATE_MS 15		/* steadily later by this: move */
#define REC_LATE_PACKETS 25	/* ... over this many packets */

/* A file's format ([recording] format). */
enum rec_format {
	REC_FORMAT_WAV = 0,
	REC_FORMAT_MP3 = 1,
};

/* recording.failed reasons */
#define REC_REASON_IO "io_error"
#define REC_REASON_CODEC "codec_unsupported"
#define REC_REASON_SHUTDOWN "shutdown"

struct recorder;
struct rec_call;

/*
 * What a finished recording reports; a copy, owned by whoever holds it.
 * kind: a recording that ended, or a file removed by [recording]
 * retention (call_id only).
 */
enum rec_result_kind {
	REC_RESULT_READY = 0,
	REC_RESULT_FAILED,
	REC_RESULT_PURGED,
};

struct rec_result {
	enum rec_result_kind kind;
	uint8_t call_id[STORE_ID_LEN];
	uint8_t session_id[STORE_ID_LEN];
	uint8_t format;			/* enum rec_format */
	uint32_t duration_ms;
	uint64_t bytes;
	uint8_t sha256[32];
	char reason[CDR_REASON_SIZE];	/* failed: REC_REASON_* */
};

/*
 * recorder_done_h - a recording ended (or a file was purged). Runs on the
 * RECORDER thread; must copy @r and return (main.c posts it to the
 * control thread, which updates the call's record and writes
 * recording.ready / recording.failed in the same transaction).
 */
typedef void (recorder_done_h)(const struct rec_result *r, void *arg);

/* Counters for /metrics (rec_metrics.inc): relaxed atomics, any thread. */
struct recorder_stats {
#define X METRICS_X_PLAIN
#include "maskd/rec_metrics.inc"
#undef X
};

/*
 * recorder_format_check() - can this libsndfile write @format (MP3 needs
 * libsndfile >= 1.1 built with LAME and mpg123)? 0 or ENOTSUP. Any
 * thread.
 */
int recorder_format_check(enum rec_format format);

/*
 * recorder_start() - create [recording] dir (0750) if missing, repair
 * the headers of WAV files a crash left unfinished there, and start the
 * recorder thread. @cfg and @log are borrowed and must outlive the
 * recorder. An unwritable directory is not an error here (each recording
 * then fails, reported); ENOTSUP for a format this libsndfile cannot
 * write; ENOMEM or a pthread errno otherwise.
 */
int recorder_start(struct recorder **rp, const struct config_recording *cfg,
		   struct log *log, recorder_done_h *h, void *arg);

/*
 * recorder_stop() - end every recording still going (as if hung up now,
 * reported), stop the thread, free everything. Call after every relay
 * call that was recorded is freed (sip_stop()). NULL-safe.
 */
void recorder_stop(struct recorder *r);

/* recorder_format() - the [recording] format in use. Any thread. */
enum rec_format recorder_format(const struct recorder *r);

/*
 * recorder_call_start() - record relay call @media from now on: taps on
 * both legs (relay_call_tap_at(), RELAY_TAP_REC); @party_a_leg is the
 * leg facing the session's party A (the left channel); @rate the file's
 * rate if the SDP says it (16000 for G.722, 8000 for G.711), or 0: the
 * first audio packet's codec decides. Call ids name the file:
 * [recording] dir/<call id>.wav|.mp3. SIP thread (or whatever
 * thread owns @media). Returns 0 and *out, which the caller hands back
 * with recorder_call_stop() before it frees @media; or ENOMEM/EBUSY
 * (nothing recorded, nothing to stop).
 */
int recorder_call_start(struct recorder *r, struct relay_call *media,
			const uint8_t call_id[STORE_ID_LEN],
			const uint8_t session_id[STORE_ID_LEN],
			enum relay_leg party_a_leg, unsigned rate,
			struct rec_call **out);

/*
 * recorder_call_stop() - the call's media ends now: the file ends here
 * (its duration is the answered time). Then free the relay call, whose
 * taps detach on its worker; the recorder finishes the file once they
 * have, and reports it. @rc is the recorder's afterwards. NULL-safe.
 */
void recorder_call_stop(struct rec_call *rc);

/* recorder_stats_get() - counters for /metrics. Any thread. */
void recorder_stats_get(const struct recorder *r, struct recorder_stats *out);

/*
 * recorder_metrics_register() - show the counters in @reg; recorder_stop()
 * takes them off. 0 or an errno of metrics_register().
 */
int recorder_metrics_register(struct recorder *r, struct metrics *reg);

/*
 * recorder_path() - the file of call @call_id in @dir with @format's
 * extension, into @buf. Returns 0 or ENAMETOOLONG. Any thread.
 */
int recorder_path(const char *dir, const uint8_t call_id[STORE_ID_LEN],
		  enum rec_format format, char *buf, size_t size);

/*
 * rec_wav_repair() - make the WAV file @path's RIFF and data sizes match
 * what is on disk (whole frames), as a crash leaves them stale. Returns
 * 0 (also when nothing needed fixing; *fixed says), EINVAL for a file
 * that is not a PCM WAV, or an errno. Any thread; for start-up and
 * tests.
 */
int rec_wav_repair(const char *path, bool *fixed);

/* ---- the timeline: exposed for tests/rec/test_recorder.c ------------ */

/*
 * Where a packet's audio goes in the file. Each channel (0 left = party
 * A, 1 right = party B) maps RTP timestamps to file frames from an
 * anchor: the first packet of a stream (an SSRC) is placed where it
 * arrived (milliseconds since answer), the following ones by their
 * timestamps, so jitter does not move audio and a lost packet leaves
 * its 20 ms of silence. The anchor is moved, never stretched:
 *   - a packet off by more than REC_JUMP_MS (a timestamp jump, a hold
 *     whose timestamps did not advance, a new SSRC) starts a new anchor
 *     where it arrived: nothing before it moves, nothing doubles;
 *   - a packet earlier than its place by over REC_EARLY_MS means the
 *     first packet had been delayed: the anchor moves back to it;
 *   - packets steadily later by over REC_LATE_MS (REC_LATE_PACKETS of
 *     them, a sender clock slower than ours) move it forward: silence.
 * A packet whose sequence number is a little behind the highest seen (reordered,
 * duplicated, retransmitted) is placed by its timestamp and moves
 * nothing. A frame written twice keeps the last (duplicates do not
 * double); what
 * falls before the last frame written (later than REC_DELAY_MS) or after
 * the end is dropped and counted.
 */
struct g722_decode_state_s;

struct rec_track {
	bool anchored;
	uint32_t ssrc;
	uint32_t base_ts;
	int64_t base_pos;		/* frame of base_ts */
	uint16_t max_seq;		/* highest sequence number seen */
	int64_t late_min;		/* frames, this window */
	unsigned late_n;
	struct g722_decode_state_s *g722;
	uint64_t decoded;		/* packets placed */
	uint64_t unsupported;		/* packets of a codec we cannot */
	uint64_t late;			/* packets (partly) too late */
	uint64_t moves;			/* anchor moves and new anchors */
};

struct rec_timeline {
	unsigned rate;			/* frames/s: 8000 or 16000 */
	int64_t start_ms;		/* arrival clock at frame 0 */
	int64_t end;			/* frames; -1 = open */
	int64_t written;		/* frames taken so far */
	int64_t wlen;			/* window, frames */
	int16_t *win;			/* 2 * wlen, interleaved */
	struct rec_track track[2];
};

/* rec_pkt - one RTP packet as the recorder sees it */
struct rec_pkt {
	uint8_t pt;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	int64_t arrival_ms;		/* same clock as start_ms */
	const uint8_t *payload;
	size_t len;
};

/* rec_timeline_init() - @rate 8000 or 16000; 0, EINVAL or ENOMEM.
 * rec_timeline_free() releases it (NULL-safe fields). */
int rec_timeline_init(struct rec_timeline *t, unsigned rate,
		      int64_t start_ms);
void rec_timeline_free(struct rec_timeline *t);

/* rec_timeline_put() results */
enum {
	REC_PUT_PLACED = 0,
	REC_PUT_IGNORED,	/* comfort noise, an event, empty, too late */
	REC_PUT_UNSUPPORTED,	/* a codec we cannot decode */
};

/* rec_timeline_put() - place @p on channel @ch. */
int rec_timeline_put(struct rec_timeline *t, int ch, const struct rec_pkt *p);

/* rec_timeline_end_at() - the file ends at @ms (arrival clock). */
void rec_timeline_end_at(struct rec_timeline *t, int64_t ms);

/*
 * rec_timeline_take() - frames [written, @upto) (capped at the end and
 * at @max) into @out (interleaved stereo), silence where nothing came;
 * they leave the window. Returns how many frames.
 */
size_t rec_timeline_take(struct rec_timeline *t, int64_t upto, int16_t *out,
			 size_t max);

/* rec_timeline_frame() - the frame @ms (arrival clock) falls on. */
int64_t rec_timeline_frame(const struct rec_timeline *t, int64_t ms);

#endif
