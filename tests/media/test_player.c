/*
 * test_player.c - prompts loaded from WAV files and played as RTP: the
 * packets decode back sample for sample to the file's samples, and their
 * headers (version, payload type, marker, sequence, timestamp, SSRC) are
 * what RFC 3550 and the player's contract say, across prompts too.
 *
 * Two kinds of prompt: one of the default set the build speaks
 * (MASKD_PROMPTS_DIR), and one this test writes itself with libsndfile,
 * whose samples it knows (a length that is not a whole number of
 * packets, so the padding is seen).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sndfile.h>

#include "maskd/g711.h"
#include "maskd/player.h"
#include "maskd/prompt.h"

#define T0 1000000u		/* an arbitrary start of the clock, us */

struct hdr {
	int version;
	bool marker;
	int pt;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
};

static struct hdr parse(const uint8_t *b, size_t len)
{
	struct hdr h;

	assert_int_equal(len, PLAYER_PACKET_MAX);
	h.version = b[0] >> 6;
	assert_int_equal(b[0] & 0x3F, 0);	/* no P, X, CSRC */
	h.marker = b[1] & 0x80;
	h.pt = b[1] & 0x7F;
	h.seq = (uint16_t)(b[2] << 8 | b[3]);
	h.ts = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 |
	       (uint32_t)b[6] << 8 | b[7];
	h.ssrc = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 |
		 (uint32_t)b[10] << 8 | b[11];
	return h;
}

/* Writes @n samples of a known signal into a temporary WAV file. */
static void write_wav(char *path, size_t size, const int16_t *pcm, size_t n,
		      int rate, int channels, int format)
{
	SF_INFO info = { .samplerate = rate, .channels = channels,
			 .format = format };
	SNDFILE *sf;
	int fd;

	snprintf(path, size, "/tmp/maskd-test-player-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	sf = sf_open(path, SFM_WRITE, &info);
	assert_non_null(sf);
	assert_int_equal(sf_writef_short(sf, pcm, (sf_count_t)n / channels),
			 (sf_count_t)n / channels);
	sf_close(sf);
}

/* a sweep over the whole range, so every segment is crossed */
static int16_t *make_signal(size_t n)
{
	int16_t *pcm = malloc(n * sizeof(*pcm));
	size_t i;

	assert_non_null(pcm);
	for (i = 0; i < n; i++)
		pcm[i] = (int16_t)((int32_t)(i * 65536 / n) - 32768);
	return pcm;
}

struct done_count {
	int calls;
	const struct prompt *last;
	const struct prompt *chain;	/* play this from the handler */
	uint64_t chain_now;
};

static void on_done(struct player *p, const struct prompt *prompt, void *arg)
{
	struct done_count *d = arg;

	d->calls++;
	d->last = prompt;
	if (d->chain) {
		const struct prompt *next = d->chain;

		d->chain = NULL;
		player_play(p, next, d->chain_now);
	}
}

/*
 * Plays @prompt to its end from @now, one packet per 20 ms, checking
 * every packet's payload against the prompt's samples and its header
 * against the expected sequence. Returns the number of packets.
 */
static size_t play_all(struct player *p, const struct prompt *prompt,
		       uint8_t pt, uint64_t *now, struct hdr *first,
		       struct hdr *last)
{
	uint8_t buf[PLAYER_PACKET_MAX + 16];
	size_t len, n = 0, i, pos = 0;
	struct hdr h;

	while (player_next(p, *now, buf, &len) == 0) {
		h = parse(buf, len);
		assert_int_equal(h.version, 2);
		assert_int_equal(h.pt, pt);
		if (n == 0) {
			*first = h;
		} else {
			assert_false(h.marker);
			assert_int_equal(h.seq, (uint16_t)(last->seq + 1));
			assert_int_equal(h.ts, last->ts + PROMPT_FRAME);
			assert_int_equal(h.ssrc, last->ssrc);
		}
		*last = h;
		for (i = 0; i < PROMPT_FRAME; i++, pos++) {
			uint8_t c = buf[PLAYER_RTP_HEADER + i];
			int16_t got = pt == PLAYER_PT_PCMU ?
				      g711_ulaw_decode(c) : g711_alaw_decode(c);
			int16_t want;

			if (pos < prompt->n)
				want = pt == PLAYER_PT_PCMU ?
				       g711_ulaw_decode(g711_ulaw_encode(
						prompt->pcm[pos])) :
				       g711_alaw_decode(g711_alaw_encode(
						prompt->pcm[pos]));
			else	/* the padding of the last packet */
				want = pt == PLAYER_PT_PCMU ?
				       g711_ulaw_decode(G711_ULAW_SILENCE) :
				       g711_alaw_decode(G711_ALAW_SILENCE);
			assert_int_equal(got, want);
		}
		n++;
		/* not before its time */
		assert_int_equal(player_next(p, *now, buf, &len),
				 player_due(p) == UINT64_MAX ? ENODATA : EAGAIN);
		*now += PLAYER_PTIME_US;
		if (pos == prompt->n_padded)
			break;	/* what follows is another play's */
	}
	assert_int_equal(pos, prompt->n_padded);
	return n;
}

/* The test's own WAV: its samples, exactly, after G.711. */
static void test_own_wav(void **state)
{
	const size_t n = 8000 + 37;	/* 1 s and a part packet */
	int16_t *pcm = make_signal(n);
	struct done_count d = { 0 };
	struct prompt *prompt;
	struct player *p;
	struct hdr first, last;
	char path[64], err[PROMPT_ERR_SIZE];
	uint64_t now = T0;
	uint8_t pt;
	size_t i;

	(void)state;
	write_wav(path, sizeof(path), pcm, n, 8000, 1,
		  SF_FORMAT_WAV | SF_FORMAT_PCM_16);
	assert_int_equal(prompt_load(&prompt, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(prompt->n, n);
	for (i = 0; i < n; i++)
		assert_int_equal(prompt->pcm[i], pcm[i]);
	assert_int_equal(prompt->n_padded, 51 * PROMPT_FRAME);

	for (pt = 0; pt <= 8; pt += 8) {
		assert_int_equal(player_alloc(&p, pt, on_done, &d), 0);
		assert_int_equal(player_due(p), UINT64_MAX);
		player_play(p, prompt, now);
		assert_int_equal(player_due(p), now);
		d.calls = 0;
		assert_int_equal(play_all(p, prompt, pt, &now, &first, &last),
				 51);
		assert_true(first.marker);
		assert_int_equal(first.ssrc, player_ssrc(p));
		assert_int_equal(d.calls, 1);	/* once, at the end */
		assert_ptr_equal(d.last, prompt);
		player_free(p);
	}
	free(pcm);
	prompt_free(prompt);
}

/*
 * A prompt of the built set, played twice back to back (the second from
 * the done handler: no gap, no marker, seq and ts go on), then once more
 * after a second of silence: marker, seq +1, ts +1 s of samples. The
 * SSRC never changes.
 */
static void test_default_prompt(void **state)
{
	struct done_count d = { 0 };
	struct prompt_set *set;
	const struct prompt *prompt;
	struct player *p;
	struct hdr first, last, prev;
	char err[PROMPT_ERR_SIZE];
	uint64_t now = T0;
	size_t n;

	(void)state;
	if (prompt_set_load(&set, MASKD_PROMPTS_DIR, err, sizeof(err)))
		fail_msg("%s", err);
	prompt = prompt_get(set, PROMPT_ENTER_PIN);
	assert_true(prompt->n > PROMPT_RATE / 2);	/* speech, > 0.5 s */
	assert_int_equal(player_alloc(&p, PLAYER_PT_PCMA, on_done, &d), 0);

	d.chain = prompt;
	d.chain_now = now + 12345;	/* ignored: the slot goes on */
	player_play(p, prompt, now);
	n = play_all(p, prompt, PLAYER_PT_PCMA, &now, &first, &last);
	assert_int_equal(n, prompt->n_padded / PROMPT_FRAME);
	assert_true(first.marker);
	assert_int_equal(d.calls, 1);
	/* the chained play: its first packet right in the next slot */
	assert_int_equal(player_due(p), now);
	prev = last;
	play_all(p, prompt, PLAYER_PT_PCMA, &now, &first, &last);
	assert_false(first.marker);
	assert_int_equal(first.seq, (uint16_t)(prev.seq + 1));
	assert_int_equal(first.ts, prev.ts + PROMPT_FRAME);
	assert_int_equal(first.ssrc, prev.ssrc);
	assert_int_equal(d.calls, 2);

	/* a second of silence, then a talkspurt */
	prev = last;
	now += 1000000;
	player_play(p, prompt_get(set, PROMPT_GOODBYE), now);
	play_all(p, prompt_get(set, PROMPT_GOODBYE), PLAYER_PT_PCMA, &now,
		 &first, &last);
	assert_true(first.marker);
	assert_int_equal(first.seq, (uint16_t)(prev.seq + 1));
	assert_int_equal(first.ts, prev.ts + PROMPT_FRAME + PROMPT_RATE);
	assert_int_equal(first.ssrc, prev.ssrc);
	assert_int_equal(d.calls, 3);

	/* a stopped play calls no handler; the next starts a talkspurt */
	player_play(p, prompt, now);
	player_stop(p);
	assert_int_equal(player_due(p), UINT64_MAX);
	assert_int_equal(d.calls, 3);
	player_free(p);
	prompt_set_free(set);
}

/* A late worker gets the packets it missed, one call after another. */
static void test_late_worker(void **state)
{
	struct prompt_set *set;
	struct player *p;
	uint8_t buf[PLAYER_PACKET_MAX];
	char err[PROMPT_ERR_SIZE];
	size_t len;
	int got = 0;

	(void)state;
	if (prompt_set_load(&set, MASKD_PROMPTS_DIR, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(player_alloc(&p, PLAYER_PT_PCMU, NULL, NULL), 0);
	player_play(p, prompt_get(set, PROMPT_UNKNOWN), T0);
	while (player_next(p, T0 + 3 * PLAYER_PTIME_US, buf, &len) == 0)
		got++;
	assert_int_equal(got, 4);	/* due at 0, 20, 40 and 60 ms */
	assert_int_equal(player_due(p), T0 + 4 * PLAYER_PTIME_US);
	player_free(p);
	/* only the two G.711 payload types */
	assert_int_equal(player_alloc(&p, 96, NULL, NULL), EINVAL);
	assert_null(p);
	prompt_set_free(set);
}

/* What prompt_load() refuses, and how it says so. */
static void test_bad_files(void **state)
{
	int16_t pcm[320] = { 0 };
	struct prompt *prompt;
	char path[64], err[PROMPT_ERR_SIZE];
	FILE *f;

	(void)state;
	write_wav(path, sizeof(path), pcm, 320, 16000, 1,
		  SF_FORMAT_WAV | SF_FORMAT_PCM_16);
	assert_int_equal(prompt_load(&prompt, path, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "16000 Hz"));
	unlink(path);

	write_wav(path, sizeof(path), pcm, 320, 8000, 2,
		  SF_FORMAT_WAV | SF_FORMAT_PCM_16);
	assert_int_equal(prompt_load(&prompt, path, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "2 channels"));
	unlink(path);

	write_wav(path, sizeof(path), pcm, 320, 8000, 1,
		  SF_FORMAT_WAV | SF_FORMAT_FLOAT);
	assert_int_equal(prompt_load(&prompt, path, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "float"));
	unlink(path);

	write_wav(path, sizeof(path), pcm, 320, 8000, 1,
		  SF_FORMAT_AU | SF_FORMAT_PCM_16);
	assert_int_equal(prompt_load(&prompt, path, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "not a WAV"));
	unlink(path);

	snprintf(path, sizeof(path), "/tmp/maskd-test-player-XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("RIFF? no, just text\n", f);
	fclose(f);
	assert_int_equal(prompt_load(&prompt, path, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, path));
	unlink(path);

	assert_int_equal(prompt_load(&prompt, path, err, sizeof(err)), ENOENT);
	assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_wav),
		cmocka_unit_test(test_default_prompt),
		cmocka_unit_test(test_late_worker),
		cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
