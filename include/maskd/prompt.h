/*
 * prompt.h - the recorded announcements maskd plays: WAV files read once
 * at start-up, kept in memory as linear PCM and pre-encoded to PCMU and
 * PCMA, so that playing one is copying bytes.
 *
 * Format. Every prompt is a WAV file of 8 kHz, mono, 16-bit PCM, read
 * with libsndfile. Anything else (another rate, stereo, 8-bit or float
 * samples, a file that is not a WAV, an empty one, a missing one) is an
 * error naming the file and what is wrong: maskd does not resample, and
 * a bad prompt must stop start-up, not be found on a live call.
 *
 * The set. prompt_set_load() loads the PROMPT_N prompts named below from
 * one directory (config [media] prompts), each as NAME.wav; all of them
 * must be there.
 *
 * Threads and ownership. Loading runs on the main thread before any
 * worker starts; afterwards a prompt and a set are immutable, so every
 * thread may read them without locking until prompt_set_free(), which
 * must come after every player using them has stopped.
 */
#ifndef MASKD_PROMPT_H
#define MASKD_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#define PROMPT_RATE 8000
/* samples in one 20 ms RTP packet; prompts are padded to a multiple */
#define PROMPT_FRAME 160
#define PROMPT_ERR_SIZE 512

enum prompt_id {
	PROMPT_UNKNOWN,		/* no session for the caller and number */
	PROMPT_EXPIRED,		/* the session has ended */
	PROMPT_ENTER_PIN,
	PROMPT_WRONG_PIN,
	PROMPT_GOODBYE,
	PROMPT_CONNECTING,
	PROMPT_RECORDED,	/* "this call is recorded" */
	PROMPT_N
};

/*
 * One prompt. @n samples of linear PCM; @pcmu and @pcma hold @n_padded
 * codes each: the samples encoded, then silence up to a whole number of
 * PROMPT_FRAME-sample packets.
 */
struct prompt {
	const int16_t *pcm;
	size_t n;
	const uint8_t *pcmu;
	const uint8_t *pcma;
	size_t n_padded;
};

struct prompt_set;

/* "unknown", "enter_pin", ...: the file is NAME.wav. */
const char *prompt_name(enum prompt_id id);

/*
 * prompt_load() - read the WAV file @path into a new prompt (*out).
 * Returns 0, EINVAL when the file is not an 8 kHz mono 16-bit PCM WAV
 * with at least one sample, ENOMEM, or an errno of opening it; on error
 * writes "PATH: what is wrong" into @err (@errlen bytes).
 */
int prompt_load(struct prompt **out, const char *path, char *err,
		size_t errlen);
void prompt_free(struct prompt *p);

/*
 * prompt_set_load() - load every prompt of enum prompt_id from @dir.
 * On error nothing is kept and @err names the first file that failed.
 */
int prompt_set_load(struct prompt_set **out, const char *dir, char *err,
		    size_t errlen);
const struct prompt *prompt_get(const struct prompt_set *set,
				enum prompt_id id);
void prompt_set_free(struct prompt_set *set);	/* NULL-safe */

/*
 * prompt_dir_default() - the set built or installed with this maskd
 * binary, for an empty [media] prompts. With DIR the binary's directory:
 * DIR/prompts when that directory exists (the build tree: build/maskd
 * and build/prompts), else DIR/../share/maskd/prompts (/usr/sbin/maskd
 * reads /usr/share/maskd/prompts, whatever the install prefix). Writes
 * the path into @buf; 0, ENAMETOOLONG, or the errno of reading
 * /proc/self/exe.
 */
int prompt_dir_default(char *buf, size_t size);

#endif
