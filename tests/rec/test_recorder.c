/*
 * test_recorder.c - the recorder's timeline (recorder.h): where each
 * packet's audio lands in the file through jitter, loss, a delayed first
 * packet, an SSRC change, a timestamp jump, a hold whose timestamps did
 * not advance, duplicates, a slow sender clock, the end of the call, and
 * codecs it cannot decode; and the WAV repair a crash needs. And that
 * the recorder thread sleeps while nothing is recorded.
 *
 * Every packet of a test carries its own level (packet k: 100 * (k + 1)
 * in PCMU), so a frame of the file says which packet it came from.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sndfile.h>

#include "maskd/g711.h"
#include "maskd/log.h"
#include "maskd/recorder.h"
#include "../test_util.h"

#define START_MS 100000
#define PKT 160			/* samples in 20 ms at 8 kHz */

struct sender {
	uint32_t ssrc;
	uint32_t ts0;
	uint8_t payload[PKT];
};

static int16_t level(int k)
{
	return g711_ulaw_decode(g711_ulaw_encode((int16_t)(100 * (k + 1))));
}

/* packet k of @s (timestamp ts0 + 160 k) arriving at @arrival_ms */
static int put(struct rec_timeline *t, int ch, struct sender *s, int k,
	       int64_t arrival_ms)
{
	struct rec_pkt p;

	memset(s->payload, g711_ulaw_encode((int16_t)(100 * (k + 1))), PKT);
	p.pt = 0;
	p.seq = (uint16_t)k;
	p.ts = s->ts0 + (uint32_t)(PKT * k);
	p.ssrc = s->ssrc;
	p.arrival_ms = arrival_ms;
	p.payload = s->payload;
	p.len = PKT;
	return rec_timeline_put(t, ch, &p);
}

/* everything up to the end into @out (frames) */
static size_t take_all(struct rec_timeline *t, int16_t *out, size_t max)
{
	size_t n = 0, k;

	while ((k = rec_timeline_take(t, INT64_MAX, out + 2 * n, max - n)))
		n += k;
	return n;
}

/* frames [from, to) of channel @ch all hold @v */
static void expect_run(const int16_t *f, int ch, size_t from, size_t to,
		       int16_t v)
{
	size_t i;

	for (i = from; i < to; i++) {
		if (f[2 * i + ch] != v)
			fail_msg("ch %d frame %zu: %d, want %d (run %zu-%zu)",
				 ch, i, f[2 * i + ch], v, from, to);
	}
}

#define MAXF (8000 * 10)
static int16_t frames[2 * MAXF];
static size_t nframes;

/* write out what is older than REC_DELAY_MS at @now, as the recorder
 * thread does each tick */
static void tick(struct rec_timeline *t, int64_t now)
{
	nframes += rec_timeline_take(t, rec_timeline_frame(t, now -
				     REC_DELAY_MS), frames + 2 * nframes,
				     MAXF - nframes);
}

static size_t finish(struct rec_timeline *t)
{
	nframes += take_all(t, frames + 2 * nframes, MAXF - nframes);
	return nframes;
}

static void test_steady_both_channels(void **state)
{
	struct rec_timeline t;
	struct sender a = { 1, 5000, { 0 } }, b = { 2, 900000, { 0 } };
	size_t n;
	int k;

	(void)state;
	assert_int_equal(rec_timeline_init(&t, 8000, START_MS), 0);
	for (k = 0; k < 50; k++) {
		/* jitter of up to 15 ms after the first packet moves
		 * nothing: the timestamps place the audio */
		assert_int_equal(put(&t, 0, &a, k, START_MS + 20 * k +
				     (k ? (k * 7) % 16 : 0)), REC_PUT_PLACED);
		assert_int_equal(put(&t, 1, &b, k, START_MS + 20 * k +
				     (k ? (k * 5) % 13 : 0)), REC_PUT_PLACED);
	}
	rec_timeline_end_at(&t, START_MS + 1000);
	n = take_all(&t, frames, MAXF);
	assert_int_equal(n, 8000);
	for (k = 0; k < 50; k++) {
		expect_run(frames, 0, PKT * k, PKT * (k + 1), level(k));
		expect_run(frames, 1, PKT * k, PKT * (k + 1), level(k));
	}
	assert_int_equal(t.track[0].moves, 0);
	rec_timeline_free(&t);
}

static void test_loss_is_silence(void **state)
{
	struct rec_timeline t;
	struct sender a = { 7, 0, { 0 } };
	int k;

	(void)state;
	assert_int_equal(rec_timeline_init(&t, 8000, START_MS), 0);
	for (k = 0; k < 50; k++) {
		if (k == 10 || k == 11 || k == 30)
			continue;
		put(&t, 0, &a, k, START_MS + 20 * k);
	}
	rec_timeline_end_at(&t, START_MS + 1000);
	assert_int_equal(take_all(&t, frames, MAXF), 8000);
	expect_run(frames, 0, PKT * 9, PKT * 10, level(9));
	expect_run(frames, 0, PKT * 10, PKT * 12, 0);
	expect_run(frames, 0, PKT * 12, PKT * 13, level(12));
	expect_run(frames, 0, PKT * 30, PKT * 31, 0);
	expect_run(frames, 0, PKT * 31, PKT * 32, level(31));
	/* the silent side stays silent, the file as long as the call */
	expect_run(frames, 1, 0, 8000, 0);
	rec_timeline_free(&t);
}

static void test_delayed_first_packet(void **state)
{
	struct rec_timeline t;
	struct sender a = { 7, 0, { 0 } };
	int k;

	(void)state;
	assert_int_equal(rec_timeline_init(&t, 8000, START_MS), 0);
	/* the first arrives 40 ms late, the rest on time: the anchor comes
	 * back to them, so everything from packet 1 is where it belongs */
	put(&t, 0, &a, 0, START_MS + 40);
	for (k = 1; k < 50; k++)
		put(&t, 0, &a, k, START_MS + 20 * k);
	rec_timeline_end_at(&t, START_MS + 1000);
	assert_int_equal(take_all(&t, frames, MAXF), 8000);
	for (k = 1; k < 50; k++)
		expect_run(frames, 0, PKT * k, PKT * (k + 1), level(k));
	assert_int_equal(t.track[0].moves, 1);
	rec_timeline_free(&t);
}

static void test_ssrc_change_and_ts_jump(void **state)
{
	struct rec_timeline t;
	struct sender a = { 7, 1000, { 0 } }, a2 = { 8, 77777777, { 0 } };
	int k;

	(void)state;
	nframes = 0;
	assert_int_equal(rec_timeline_init(&t, 8000, START_MS), 0);
	for (k = 0; k < 80; k++) {
		/* a new SSRC at 400 ms, timestamps from elsewhere: placed
		 * where it arrived, nothing stretched, shifted or doubled;
		 * then the same SSRC jumps its timestamps by 10 s at 800 ms
		 * and back by 5 s at 1200 ms */
		if (k == 40)
			a2.ts0 += 80000;
		if (k == 60)
			a2.ts0 -= 40000;
		put(&t, 0, k < 20 ? &a : &a2, k, START_MS + 20 * k);
		tick(&t, START_MS + 20 * k);
	}
	rec_timeline_end_at(&t, START_MS + 1600);
	assert_int_equal(finish(&t), 12800);
	for (k = 0; k < 80; k++)
		expect_run(frames, 0, PKT * k, PKT * (k + 1), level(k));
	assert_int_equal(t.track[0].moves, 3);
	rec_timeline_free(&t);
}

static void test_hold_without_timestamps(void **state)
{
	struct rec_timeline t;
	struct sender a = { 7, 0, { 0 } }, b = { 9, 0, { 0 } };
	int k;

	(void)state;
	nframes = 0;
	assert_int_equal(rec_timeline_init(&t, 8000, START_MS), 0);
	/* A: 0.5 s, 2 s of nothing, then on with timestamps that went on
	 * from where they stopped (a phone that paused its clock); B: the
	 * whole time */
	for (k = 0; k < 150; k++) {
		if (k < 25)
			put(&t, 0, &a, k, START_MS + 20 * k);
		else if (k >= 125)
			put(&t, 0, &a, k - 100, START_MS + 20 * k);
		put(&t, 1, &b, k, START_MS + 20 * k);
		tick(&t, START_MS + 20 * k);
	}
	rec_timeline_end_at(&t, START_MS + 3000);
	assert_int_equal(finish(&t), 24000);
	for (k = 0; k < 25; k++)
		expect_run(frames, 0, PKT * k, PKT * (k + 1), level(k));
	expect_run(frames, 0, PKT * 25, PKT * 125, 0);
	for (k = 25; k < 50; k++)
		expect_run(frames, 0, PKT * (k + 100), PKT * (k + 101),
			   level(k));
	for (k = 0; k < 150; k++)
		expect_run(frames, 1, PKT * k, PKT * (k + 1), level(k));
	rec_timeline_free(&t);
}

static void test_duplicates_and_late(void **state)
{
	struct rec_timeline t;
	struct sender a = { 7, 0, { 0 } };
	int16_t out[2 * 8000];
	int k;

	(void)state;
	assert_int_equal(rec_timeline_init(&t, 8000, START_MS), 0);
	for (k = 0; k < 25; k++) {
		put(&t, 0, &a, k, START_MS + 20 * k);
		put(&t, 0, &a, k, START_MS + 20 * k + 1);	/* twice */
	}
	/* written up to 300 ms */
	assert_int_equal(rec_timeline_take(&t, 2400, out, 8000), 2400);
	/* packet 3 again, long after its place was written: dropped */
	assert_int_equal(put(&t, 0, &a, 3, START_MS + 500), REC_PUT_IGNORED);
	assert_int_equal(t.track[0].late, 1);
	rec_timeline_end_at(&t, START_MS + 500);
	assert_int_equal(rec_timeline_take(&t, INT64_MAX, out + 4800, 8000),
			 1600);
	for (k = 0; k < 25; k++)
		expect_run(out, 0, PKT * k, PKT * (k + 1), level(k));
	rec_timeline_free(&t);
}

static void test_end_cuts(void **state)
{
	struct rec_timeline t;
	struct sender a = { 7, 0, { 0 } };
	int k;

	(void)state;
	assert_int_equal(rec_timeline_init(&t, 8000, START_MS), 0);
	rec_timeline_end_at(&t, START_MS + 510);
	for (k = 0; k < 40; k++)
		put(&t, 0, &a, k, START_MS + 20 * k);
	/* the file is the answered time, not what was sent */
	assert_int_equal(take_all(&t, frames, MAXF), 4080);
	expect_run(frames, 0, PKT * 25, 4080, level(25));
	rec_timeline_free(&t);
}

static void test_slow_sender_clock(void **state)
{
	struct rec_timeline t;
	struct sender a = { 7, 0, { 0 } };
	int64_t arrival, place, worst = 0;
	int k;

	(void)state;
	assert_int_equal(rec_timeline_init(&t, 8000, START_MS), 0);
	/* 20.2 ms between packets of 20 ms: 1% slow, 600 ms over a minute */
	for (k = 0; k < 3000; k++) {
		struct rec_track *tr = &t.track[0];

		arrival = START_MS + k * 202 / 10;
		put(&t, 0, &a, k, arrival);
		place = tr->base_pos + (int64_t)(int32_t)
			(a.ts0 + PKT * k - tr->base_ts);
		if (rec_timeline_frame(&t, arrival) - place > worst)
			worst = rec_timeline_frame(&t, arrival) - place;
		(void)rec_timeline_take(&t, rec_timeline_frame(&t, arrival -
				REC_DELAY_MS), frames, MAXF);
	}
	/* never later than its arrival by more than the late limit and
	 * what two windows of packets add (the one whose minimum first
	 * passes it, and the one before, 25 x 0.2 ms each), +1 ms of
	 * rounding: 26 ms, at 8 frames a millisecond */
	assert_true(worst <= 8 * (REC_LATE_MS + 2 * REC_LATE_PACKETS / 5 + 1));
	assert_true(t.track[0].moves > 0);
	rec_timeline_free(&t);
}

static void test_codecs(void **state)
{
	struct rec_timeline t;
	uint8_t pl[PKT];
	struct rec_pkt p = { .pt = 18, .ts = 0, .ssrc = 1,
			     .arrival_ms = START_MS, .payload = pl,
			     .len = 20 };

	(void)state;
	memset(pl, 0x55, sizeof(pl));
	assert_int_equal(rec_timeline_init(&t, 8000, START_MS), 0);
	assert_int_equal(rec_timeline_put(&t, 0, &p), REC_PUT_UNSUPPORTED);
	assert_int_equal(t.track[0].unsupported, 1);
	p.pt = 101;
	p.len = 4;		/* telephone-event */
	assert_int_equal(rec_timeline_put(&t, 0, &p), REC_PUT_IGNORED);
	p.pt = 13;		/* comfort noise */
	assert_int_equal(rec_timeline_put(&t, 0, &p), REC_PUT_IGNORED);
	p.pt = 8;
	p.len = PKT;
	assert_int_equal(rec_timeline_put(&t, 1, &p), REC_PUT_PLACED);
	rec_timeline_free(&t);

	/* G.722: 160 bytes are 320 samples at 16 kHz, one 8 kHz tick each
	 * two; a PCMU side in the same file is doubled */
	assert_int_equal(rec_timeline_init(&t, 16000, START_MS), 0);
	p.pt = 9;
	assert_int_equal(rec_timeline_put(&t, 0, &p), REC_PUT_PLACED);
	p.ts = 160;
	p.arrival_ms = START_MS + 20;
	assert_int_equal(rec_timeline_put(&t, 0, &p), REC_PUT_PLACED);
	p.pt = 0;
	p.ssrc = 2;
	p.ts = 0;
	p.arrival_ms = START_MS;
	memset(pl, g711_ulaw_encode(1000), sizeof(pl));
	assert_int_equal(rec_timeline_put(&t, 1, &p), REC_PUT_PLACED);
	rec_timeline_end_at(&t, START_MS + 40);
	assert_int_equal(take_all(&t, frames, MAXF), 640);
	expect_run(frames, 1, 0, 320, g711_ulaw_decode(g711_ulaw_encode(1000)));
	expect_run(frames, 1, 320, 640, 0);
	rec_timeline_free(&t);
}

/* A WAV as a kill -9 leaves it: the header says less than is there, and
 * half a frame at the end. */
static void test_wav_repair(void **state)
{
	char *dir = test_tmpdir(), path[512];
	int16_t buf[2 * 800];
	uint8_t zero[4] = { 0 }, half[3] = { 1, 2, 3 };
	SF_INFO info;
	SNDFILE *sf;
	bool fixed;
	int fd;

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/x.wav", dir);
	memset(&info, 0, sizeof(info));
	info.samplerate = 8000;
	info.channels = 2;
	info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
	sf = sf_open(path, SFM_WRITE, &info);
	assert_non_null(sf);
	memset(buf, 1, sizeof(buf));
	assert_int_equal(sf_writef_short(sf, buf, 800), 800);
	sf_close(sf);
	assert_int_equal(rec_wav_repair(path, &fixed), 0);
	assert_false(fixed);		/* a finished file is left alone */

	fd = open(path, O_WRONLY);	/* not O_APPEND: pwrite() would */
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, half, 3, 44 + 3200), 3);
	assert_int_equal(pwrite(fd, zero, 4, 40), 4);	/* data size */
	assert_int_equal(pwrite(fd, zero, 4, 4), 4);	/* RIFF size */
	close(fd);

	assert_int_equal(rec_wav_repair(path, &fixed), 0);
	assert_true(fixed);
	memset(&info, 0, sizeof(info));
	sf = sf_open(path, SFM_READ, &info);
	assert_non_null(sf);
	assert_int_equal(info.frames, 800);
	assert_int_equal(info.channels, 2);
	sf_close(sf);

	snprintf(path, sizeof(path), "%s/y.wav", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "not a wav file at all", 21), 21);
	close(fd);
	assert_int_equal(rec_wav_repair(path, &fixed), EINVAL);
	test_rmtree(dir);
	free(dir);
}

/* The first line of /proc/self/task/@tid/@file into @buf; false when
 * there is none. */
static bool task_line(const char *tid, const char *file, char *buf,
		      size_t size)
{
	char path[300];
	bool ok;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%s/%s", tid, file);
	f = fopen(path, "r");
	if (!f)
		return false;
	ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* How many times this process's thread @name has been put on a CPU
 * (schedstat's third field); -1 when there is no such thread or no
 * schedstat. */
static long thread_runs(const char *name)
{
	char buf[128];
	long runs = -1;
	struct dirent *de;
	DIR *d;

	d = opendir("/proc/self/task");
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    !task_line(de->d_name, "comm", buf, sizeof(buf)) ||
		    strcmp(buf, name))
			continue;
		if (!task_line(de->d_name, "schedstat", buf, sizeof(buf)) ||
		    sscanf(buf, "%*s %*s %ld", &runs) != 1)
			runs = -1;
		break;
	}
	closedir(d);
	return runs;
}

static void on_done(const struct rec_result *res, void *arg)
{
	(void)res;
	(void)arg;
}

/*
 * With nothing to record the recorder thread sleeps (until a recording
 * starts, or the next retention sweep): it is put on a CPU a few times a
 * second at most. It ticked every REC_TICK_MS before, fifty times a
 * second, on every maskd, recording or not.
 */
static void test_idle_sleeps(void **state)
{
	struct config_recording cfg;
	struct log lg = { .level = LOG_LVL_ERROR, .fd = 2 };
	struct recorder *r;
	char *dir = test_tmpdir();
	long a, b;

	(void)state;
	if (!dir) {
		fail_msg("no temporary directory");
		return;
	}
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.dir, sizeof(cfg.dir), "%s", dir);
	cfg.retention_s = 3600;		/* a sweep a minute */
	assert_int_equal(recorder_start(&r, &cfg, &lg, on_done, NULL), 0);
	usleep(200 * 1000);		/* its first sweep, at start */
	a = thread_runs("maskd-rec");
	if (a < 0) {
		recorder_stop(r);
		test_rmtree(dir);
		free(dir);
		skip();			/* no schedstat on this kernel */
	}
	usleep(1000 * 1000);
	b = thread_runs("maskd-rec");
	recorder_stop(r);
	test_rmtree(dir);
	free(dir);
	assert_true(b >= a);
	assert_true(b - a <= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steady_both_channels),
		cmocka_unit_test(test_loss_is_silence),
		cmocka_unit_test(test_delayed_first_packet),
		cmocka_unit_test(test_ssrc_change_and_ts_jump),
		cmocka_unit_test(test_hold_without_timestamps),
		cmocka_unit_test(test_duplicates_and_late),
		cmocka_unit_test(test_end_cuts),
		cmocka_unit_test(test_slow_sender_clock),
		cmocka_unit_test(test_codecs),
		cmocka_unit_test(test_wav_repair),
		cmocka_unit_test(test_idle_sleeps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
