/*
 * rec_internal.h - the recorder's structures, shared by src/rec/ only.
 *
 * recorder.c      the thread, the per-call rings and taps, the calls'
 *                 life from start to report
 * rec_file.c      files: create, write, header updates, repair, SHA-256,
 *                 retention
 * rec_timeline.c  where each packet's audio goes (recorder.h)
 */
#ifndef MASKD_REC_INTERNAL_H
#define MASKD_REC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sndfile.h>

#include "maskd/recorder.h"

#define REC_CACHELINE 64

/* A recording whose rate the SDP did not say and whose first audio has
 * not come after this long is made at 8 kHz (the rate is the first
 * packet's codec's). Under REC_WINDOW_MS less what the ring holds. */
#define REC_RATE_WAIT_MS 1000

/* A side sending only a codec we cannot decode, this many packets and
 * none we can: the recording fails (codec_unsupported). */
#define REC_UNSUPPORTED_MAX 50

/* How often the retention sweep looks at the directory. */
#define REC_SWEEP_MS 60000

/* Frames written per sf_writef_short() call. */
#define REC_CHUNK_FRAMES 4096

/* One packet in a call's ring: written by the call's relay worker,
 * read by the recorder thread (the ring's head/tail order them). */
struct rec_slot {
	uint8_t leg;			/* enum relay_leg */
	uint8_t pt;
	uint16_t len;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	int64_t arrival_ms;		/* clock_mono_coarse_ms() */
	uint8_t data[REC_PAYLOAD_MAX];
};

/* A tap on one leg (relay.h, Sinks); sink first: the relay hands us
 * its address. */
struct rec_tap {
	struct relay_sink sink;
	struct rec_call *rc;
	uint8_t leg;
};

/*
 * One call's recording. Made by recorder_call_start() on the SIP thread,
 * owned by the recorder thread from the moment it is on the intake list;
 * the SIP thread then only sets stop/end_ms (recorder_call_stop()), the
 * relay worker only produces into the ring and sets detached[].
 */
struct rec_call {
	struct recorder *r;
	struct rec_call *next;		/* intake list, then the thread's */
	uint8_t call_id[STORE_ID_LEN];
	uint8_t session_id[STORE_ID_LEN];
	uint8_t ch[2];			/* channel of each relay leg */
	bool attached[2];		/* the tap of leg l was posted */
	struct rec_tap tap[2];		/* [enum relay_leg] */
	int64_t start_ms;		/* clock_mono_coarse_ms() at answer */
	unsigned rate_hint;		/* from the SDP; 0: none */

	/* set by the SIP thread (stop, end_ms) and the worker (detached) */
	_Atomic bool stop;
	_Atomic int64_t end_ms;
	_Atomic bool detached[2];

	/* the ring: head written by the worker only, tail by the
	 * recorder only; each on its own cache line */
	_Alignas(REC_CACHELINE) _Atomic uint32_t head;
	_Alignas(REC_CACHELINE) _Atomic uint32_t tail;
	_Alignas(REC_CACHELINE) struct rec_slot *slots;	/* REC_RING_SLOTS */

	/* recorder thread only */
	bool opened;
	bool failed;
	char reason[CDR_REASON_SIZE];
	int fd;
	SNDFILE *sf;
	char path[CONFIG_PATH_SIZE + 64];
	struct rec_timeline tl;
	int64_t header_ms;		/* last header update */
};

struct recorder_cells {
#define X METRICS_X_CELL
#include "maskd/rec_metrics.inc"
#undef X
};

/* The recorder; made by recorder_start() on the main thread. */
struct recorder {
	const struct config_recording *cfg;	/* borrowed */
	struct log *log;
	recorder_done_h *h;
	void *arg;
	enum rec_format format;

	pthread_t thread;
	bool started;
	pthread_mutex_t lock;		/* intake, stopping and idle */
	pthread_cond_t cond;
	struct rec_call *intake;
	bool stopping;
	bool idle;			/* the thread waits for an intake */

	/* recorder thread only */
	struct rec_call *calls;
	int64_t sweep_ms;
	int16_t buf[2 * REC_CHUNK_FRAMES];

	struct recorder_cells ctr;
	struct metrics *metrics;
};

/* ---- rec_file.c ---- */

/* rec_file_open() - create @rc's file at its timeline's rate; 0 or an
 * errno (rc->failed is the caller's to set). */
int rec_file_open(struct recorder *r, struct rec_call *rc);

/* rec_file_write() - @n frames of r->buf; 0 or EIO. */
int rec_file_write(struct recorder *r, struct rec_call *rc, size_t n);

/* rec_file_header() - the WAV header says what is written so far. */
void rec_file_header(struct rec_call *rc);

/* rec_file_close() - close; with @keep false also remove the file. On
 * keep, *bytes and sha256 get the file's size and digest (0 or an
 * errno). */
int rec_file_close(struct rec_call *rc, bool keep, uint64_t *bytes,
		   uint8_t sha256[32]);

/* rec_file_repair_dir() - rec_wav_repair() every .wav in the directory;
 * how many were fixed. Start-up. */
unsigned rec_file_repair_dir(struct recorder *r);

/* rec_file_sweep() - remove files older than [recording] retention,
 * reporting each (REC_RESULT_PURGED). Recorder thread. */
void rec_file_sweep(struct recorder *r);

#endif
