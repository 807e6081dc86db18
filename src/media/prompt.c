/*
 * prompt.c - load the prompts (libsndfile) and pre-encode them to G.711.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sndfile.h>

#include "maskd/g711.h"
#include "maskd/prompt.h"

/* An hour of audio: far beyond any announcement, a guard against a
 * header that claims gigabytes. */
#define PROMPT_MAX_SAMPLES ((sf_count_t)PROMPT_RATE * 3600)

struct prompt_set {
	struct prompt *p[PROMPT_N];
};

/* One allocation per prompt: the struct, then pcm, pcmu, pcma. */
struct prompt_mem {
	struct prompt p;
	int16_t pcm[];
};

static const char *const prompt_names[PROMPT_N] = {
	[PROMPT_UNKNOWN] = "unknown",
	[PROMPT_EXPIRED] = "expired",
	[PROMPT_ENTER_PIN] = "enter_pin",
	[PROMPT_WRONG_PIN] = "wrong_pin",
	[PROMPT_GOODBYE] = "goodbye",
	[PROMPT_CONNECTING] = "connecting",
	[PROMPT_RECORDED] = "recorded",
};

const char *prompt_name(enum prompt_id id)
{
	return (unsigned)id < PROMPT_N ? prompt_names[id] : "?";
}

static int prompt_fail(char *err, size_t errlen, int code, const char *path,
		       const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(err, errlen, "%s: ", path);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* What a WAV header says, in words, when it is not what we play. */
static const char *prompt_subtype(int format)
{
	switch (format & SF_FORMAT_SUBMASK) {
	case SF_FORMAT_PCM_U8: return "8-bit PCM";
	case SF_FORMAT_PCM_S8: return "8-bit PCM";
	case SF_FORMAT_PCM_24: return "24-bit PCM";
	case SF_FORMAT_PCM_32: return "32-bit PCM";
	case SF_FORMAT_FLOAT: return "32-bit float";
	case SF_FORMAT_DOUBLE: return "64-bit float";
	case SF_FORMAT_ULAW: return "mu-law";
	case SF_FORMAT_ALAW: return "A-law";
	case SF_FORMAT_IMA_ADPCM:
	case SF_FORMAT_MS_ADPCM: return "ADPCM";
	case SF_FORMAT_GSM610: return "GSM 6.10";
	default: return "not 16-bit PCM";
	}
}

int prompt_load(struct prompt **out, const char *path, char *err,
		size_t errlen)
{
	struct prompt_mem *m = NULL;
	SF_INFO info;
	SNDFILE *sf;
	size_t n, padded, i;
	uint8_t *pcmu, *pcma;
	int ret = 0;

	*out = NULL;
	memset(&info, 0, sizeof(info));
	sf = sf_open(path, SFM_READ, &info);
	if (!sf) {
		struct stat st;

		/* libsndfile says "System error" for both a missing file
		 * and a directory: tell them apart ourselves */
		if (stat(path, &st))
			return prompt_fail(err, errlen, errno, path, "%s",
					   strerror(errno));
		return prompt_fail(err, errlen, EINVAL, path,
				   "not a sound file libsndfile reads (%s)",
				   sf_strerror(NULL));
	}
	if ((info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_WAV) {
		ret = prompt_fail(err, errlen, EINVAL, path, "not a WAV file");
		goto out;
	}
	if (info.samplerate != PROMPT_RATE) {
		ret = prompt_fail(err, errlen, EINVAL, path,
				  "sample rate %d Hz, must be %d Hz",
				  info.samplerate, PROMPT_RATE);
		goto out;
	}
	if (info.channels != 1) {
		ret = prompt_fail(err, errlen, EINVAL, path,
				  "%d channels, must be mono", info.channels);
		goto out;
	}
	if ((info.format & SF_FORMAT_SUBMASK) != SF_FORMAT_PCM_16) {
		ret = prompt_fail(err, errlen, EINVAL, path,
				  "%s samples, must be 16-bit PCM",
				  prompt_subtype(info.format));
		goto out;
	}
	if (info.frames <= 0 || info.frames > PROMPT_MAX_SAMPLES) {
		ret = prompt_fail(err, errlen, EINVAL, path,
				  info.frames <= 0 ? "no samples" :
				  "longer than an hour");
		goto out;
	}

	n = (size_t)info.frames;
	padded = (n + PROMPT_FRAME - 1) / PROMPT_FRAME * PROMPT_FRAME;
	m = malloc(sizeof(*m) + n * sizeof(int16_t) + 2 * padded);
	if (!m) {
		ret = prompt_fail(err, errlen, ENOMEM, path, "out of memory");
		goto out;
	}
	if (sf_readf_short(sf, m->pcm, (sf_count_t)n) != (sf_count_t)n) {
		ret = prompt_fail(err, errlen, EINVAL, path,
				  "truncated: %s", sf_strerror(sf));
		goto out;
	}
	pcmu = (uint8_t *)(m->pcm + n);
	pcma = pcmu + padded;
	for (i = 0; i < n; i++) {
		pcmu[i] = g711_ulaw_encode(m->pcm[i]);
		pcma[i] = g711_alaw_encode(m->pcm[i]);
	}
	memset(pcmu + n, G711_ULAW_SILENCE, padded - n);
	memset(pcma + n, G711_ALAW_SILENCE, padded - n);
	m->p.pcm = m->pcm;
	m->p.n = n;
	m->p.pcmu = pcmu;
	m->p.pcma = pcma;
	m->p.n_padded = padded;
	*out = &m->p;
	m = NULL;
 out:
	free(m);
	sf_close(sf);
	return ret;
}

void prompt_free(struct prompt *p)
{
	/* p is the first member of its struct prompt_mem */
	free(p);
}

int prompt_set_load(struct prompt_set **out, const char *dir, char *err,
		    size_t errlen)
{
	struct prompt_set *set;
	char path[PATH_MAX];
	int ret = 0, i;

	*out = NULL;
	set = calloc(1, sizeof(*set));
	if (!set)
		return prompt_fail(err, errlen, ENOMEM, dir, "out of memory");
	for (i = 0; i < PROMPT_N; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s.wav", dir,
				     prompt_names[i]) >= sizeof(path)) {
			ret = prompt_fail(err, errlen, ENAMETOOLONG, dir,
					  "path too long");
			break;
		}
		ret = prompt_load(&set->p[i], path, err, errlen);
		if (ret)
			break;
	}
	if (ret) {
		prompt_set_free(set);
		return ret;
	}
	*out = set;
	return 0;
}

const struct prompt *prompt_get(const struct prompt_set *set,
				enum prompt_id id)
{
	return (unsigned)id < PROMPT_N ? set->p[id] : NULL;
}

void prompt_set_free(struct prompt_set *set)
{
	int i;

	if (!set)
		return;
	for (i = 0; i < PROMPT_N; i++)
		prompt_free(set->p[i]);
	free(set);
}

int prompt_dir_default(char *buf, size_t size)
{
	char exe[PATH_MAX];
	struct stat st;
	ssize_t len;
	char *slash;
	int n;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len < 0)
		return errno;
	exe[len] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return ENOENT;
	*slash = '\0';
	n = snprintf(buf, size, "%s/prompts", exe);
	if (n < 0 || (size_t)n >= size)
		return ENAMETOOLONG;
	if (!stat(buf, &st) && S_ISDIR(st.st_mode))
		return 0;
	n = snprintf(buf, size, "%s/../share/maskd/prompts", exe);
	if (n < 0 || (size_t)n >= size)
		return ENAMETOOLONG;
	return 0;
}
