/*
 * rec_file.c - the recordings on disk: create (0640), write through
 * libsndfile, keep the WAV header current, close with size and SHA-256,
 * repair what a crash left, and delete what [recording] retention says.
 *
 * Recorder thread, except recorder_start()'s repair (main thread, before
 * the recorder thread runs) and the any-thread helpers at the end. Paths
 * are never logged: a directory an operator chose may hold anything.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rec_internal.h"

#define REC_FILE_MODE 0640
#define REC_DIR_MODE 0750

static int rec_sf_format(enum rec_format f)
{
	if (f == REC_FORMAT_MP3)
		return SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III;
	return SF_FORMAT_WAV | SF_FORMAT_PCM_16;
}

int recorder_format_check(enum rec_format format)
{
	SF_INFO info;

	memset(&info, 0, sizeof(info));
	info.samplerate = 8000;
	info.channels = 2;
	info.format = rec_sf_format(format);
	return sf_format_check(&info) ? 0 : ENOTSUP;
}

int recorder_path(const char *dir, const uint8_t call_id[STORE_ID_LEN],
		  enum rec_format format, char *buf, size_t size)
{
	char id[STORE_ID_STR_SIZE];
	int n;

	store_id_format(call_id, id);
	n = snprintf(buf, size, "%s/%s.%s", dir, id,
		     format == REC_FORMAT_MP3 ? "mp3" : "wav");
	return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

int rec_file_open(struct recorder *r, struct rec_call *rc)
{
	SF_INFO info;
	int err;

	err = recorder_path(r->cfg->dir, rc->call_id, r->format, rc->path,
			    sizeof(rc->path));
	if (err)
		return err;
	rc->fd = open(rc->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		      REC_FILE_MODE);
	if (rc->fd < 0)
		return errno;
	/* an existing file (a call id cannot repeat, but a restored
	 * directory might) keeps its mode otherwise */
	(void)fchmod(rc->fd, REC_FILE_MODE);

	memset(&info, 0, sizeof(info));
	info.samplerate = (int)rc->tl.rate;
	info.channels = 2;
	info.format = rec_sf_format(r->format);
	rc->sf = sf_open_fd(rc->fd, SFM_WRITE, &info, SF_TRUE);
	if (!rc->sf) {
		close(rc->fd);
		rc->fd = -1;
		(void)unlink(rc->path);
		return EIO;
	}
	/* sf_close() closes the descriptor */
	return 0;
}

int rec_file_write(struct recorder *r, struct rec_call *rc, size_t n)
{
	if (!rc->sf)
		return EIO;
	return sf_writef_short(rc->sf, r->buf, (sf_count_t)n) ==
	       (sf_count_t)n ? 0 : EIO;
}

/*
 * A WAV header that says how much is written: what a kill -9 leaves
 * readable without repair (MP3 has no such header). Then the kernel is
 * asked to start writing the file back - asked, not waited for: an
 * fdatasync() per call per second would stall this thread on a slow
 * disk - so a power cut too loses only the last few seconds.
 */
void rec_file_header(struct rec_call *rc)
{
	if (rc->sf && rc->r->format == REC_FORMAT_WAV)
		sf_command(rc->sf, SFC_UPDATE_HEADER_NOW, NULL, 0);
	if (rc->fd >= 0)
		(void)sync_file_range(rc->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

static int rec_sha256(const char *path, uint8_t out[32], uint64_t *bytes)
{
	unsigned char buf[65536];
	unsigned int len = 32;
	EVP_MD_CTX *md;
	ssize_t n;
	int fd, err = 0;

	*bytes = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		err = ENOMEM;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(md, buf, (size_t)n);
		*bytes += (uint64_t)n;
	}
	if (n < 0)
		err = errno;
	else if (!EVP_DigestFinal_ex(md, out, &len))
		err = EIO;
 out:
	EVP_MD_CTX_free(md);
	close(fd);
	return err;
}

int rec_file_close(struct rec_call *rc, bool keep, uint64_t *bytes,
		   uint8_t sha256[32])
{
	int err = 0;

	if (rc->sf) {
		if (sf_close(rc->sf))
			err = EIO;
		rc->sf = NULL;
		rc->fd = -1;
	} else if (rc->fd >= 0) {
		close(rc->fd);
		rc->fd = -1;
	}
	if (!keep || err) {
		(void)unlink(rc->path);
		return err;
	}
	return rec_sha256(rc->path, sha256, bytes);
}

/* ---- repair ---------------------------------------------------------- */

static uint32_t rec_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void rec_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int rec_wav_repair(const char *path, bool *fixed)
{
	uint8_t h[12], ch[8], fmt[16], le[4];
	uint64_t pos = 12, data_off = 0, want, size;
	uint32_t riff, data_len = 0, align = 0, len;
	struct stat st;
	int fd, err = 0;

	*fixed = false;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st)) {
		err = errno;
		goto out;
	}
	size = (uint64_t)st.st_size;
	if (pread(fd, h, 12, 0) != 12 || memcmp(h, "RIFF", 4) ||
	    memcmp(h + 8, "WAVE", 4)) {
		err = EINVAL;
		goto out;
	}
	riff = rec_le32(h + 4);
	/* walk the chunks to "data"; fmt must come before it */
	while (pos + 8 <= size) {
		if (pread(fd, ch, 8, (off_t)pos) != 8) {
			err = EIO;
			goto out;
		}
		len = rec_le32(ch + 4);
		if (!memcmp(ch, "fmt ", 4)) {
			if (len < 16 || pread(fd, fmt, 16, (off_t)pos + 8) != 16) {
				err = EINVAL;
				goto out;
			}
			align = (uint32_t)fmt[12] | (uint32_t)fmt[13] << 8;
		} else if (!memcmp(ch, "data", 4)) {
			data_off = pos + 8;
			data_len = len;
			break;
		}
		pos += 8 + (uint64_t)len + (len & 1);
	}
	if (!data_off || !align || data_off > size) {
		err = EINVAL;
		goto out;
	}
	want = (size - data_off) / align * align;
	if (want > UINT32_MAX - data_off)
		want = (UINT32_MAX - data_off) / align * align;
	if (want == data_len && riff == data_off + want - 8 &&
	    size == data_off + want)
		goto out;

	rec_put_le32(le, (uint32_t)want);
	if (pwrite(fd, le, 4, (off_t)data_off - 4) != 4) {
		err = errno ? errno : EIO;
		goto out;
	}
	rec_put_le32(le, (uint32_t)(data_off + want - 8));
	if (pwrite(fd, le, 4, 4) != 4) {
		err = errno ? errno : EIO;
		goto out;
	}
	/* a half-written last frame goes */
	if (size > data_off + want && ftruncate(fd, (off_t)(data_off + want))) {
		err = errno;
		goto out;
	}
	*fixed = true;
 out:
	close(fd);
	return err;
}

/* "<32 hex>.wav" or ".mp3": a recording's name; *id gets the call id */
static bool rec_name_parse(const char *name, uint8_t id[STORE_ID_LEN],
			   bool *is_wav)
{
	char hex[STORE_ID_STR_SIZE];

	if (strlen(name) != STORE_ID_STR_SIZE - 1 + 4)
		return false;
	if (strcmp(name + 32, ".wav") && strcmp(name + 32, ".mp3"))
		return false;
	memcpy(hex, name, 32);
	hex[32] = '\0';
	*is_wav = !strcmp(name + 32, ".wav");
	return store_id_parse(hex, id) == 0;
}

/* mkdir -p, the last component REC_DIR_MODE */
static int rec_mkdirs(const char *dir)
{
	char path[CONFIG_PATH_SIZE];
	size_t i;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return ENAMETOOLONG;
	for (i = 1; path[i]; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			return errno;
		path[i] = '/';
	}
	if (mkdir(path, REC_DIR_MODE) && errno != EEXIST)
		return errno;
	return 0;
}

unsigned rec_file_repair_dir(struct recorder *r)
{
	char path[CONFIG_PATH_SIZE + 64];
	uint8_t id[STORE_ID_LEN];
	struct dirent *de;
	unsigned n = 0;
	bool wav, fixed;
	DIR *d;
	int err;

	err = rec_mkdirs(r->cfg->dir);
	if (err)
		log_warn(r->log, "recorder: cannot create [recording] dir: %s "
			 "(recordings will fail)", strerror(err));
	d = opendir(r->cfg->dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!rec_name_parse(de->d_name, id, &wav) || !wav)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", r->cfg->dir,
			     de->d_name) >= (int)sizeof(path))
			continue;
		if (!rec_wav_repair(path, &fixed) && fixed)
			n++;
	}
	closedir(d);
	return n;
}

void rec_file_sweep(struct recorder *r)
{
	char path[CONFIG_PATH_SIZE + 64];
	struct rec_result res;
	struct dirent *de;
	struct stat st;
	time_t cutoff = time(NULL) - (time_t)r->cfg->retention_s;
	bool wav;
	DIR *d;

	d = opendir(r->cfg->dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		memset(&res, 0, sizeof(res));
		if (!rec_name_parse(de->d_name, res.call_id, &wav))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", r->cfg->dir,
			     de->d_name) >= (int)sizeof(path) ||
		    stat(path, &st) || st.st_mtime >= cutoff)
			continue;
		if (unlink(path))
			continue;
		res.kind = REC_RESULT_PURGED;
		res.format = wav ? REC_FORMAT_WAV : REC_FORMAT_MP3;
		metrics_inc(&r->ctr.purged);
		if (r->h)
			r->h(&res, r->arg);
	}
	closedir(d);
}
