/*
 * api_calls.c - call records: GET /v1/sessions/{id}/calls (the records
 * come in through ctl's CDR sink, ctl_cdr.c), and a call's recording:
 * GET /v1/calls/{id}/recording streams the file (Range: one range of
 * bytes), DELETE removes it (ctl_rec.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maskd/recorder.h"
#include "api_internal.h"

/* ---- GET /v1/sessions/{id}/calls ---- */

struct api_calls_ctx {
	const struct session *s;
	json_t *arr;
	int err;
};

static int api_calls_cb(const struct cdr *c, void *arg)
{
	struct api_calls_ctx *x = arg;
	json_t *o = api_cdr_json(c, x->s);

	if (!o || json_array_append_new(x->arr, o)) {
		x->err = ENOMEM;
		return 1;
	}
	return 0;
}

/* Cluster mode: the records of every node (ctl_session_calls_all()). */
static void api_calls_all_done(int err, const struct session *s,
			       const struct cdr *c, size_t n, void *arg)
{
	struct api_call *ac = arg;
	struct api_calls_ctx x = { .s = s };
	json_t *body = NULL;
	size_t i;

	x.arr = err ? NULL : json_array();
	for (i = 0; x.arr && i < n && !x.err; i++)
		api_calls_cb(&c[i], &x);
	if (x.arr && !x.err)
		body = json_pack("{s:o}", "calls", x.arr);
	else
		json_decref(x.arr);
	if (body)
		api_reply_json(ac->api, ac->req, 200, body);
	else
		api_reply_error(ac->api, ac->req, 500, "internal",
				"out of memory");
	api_call_free(ac);
}

void api_session_calls(struct api *api, struct evhttp_request *req,
		       const char *sid)
{
	struct api_calls_ctx x = { 0 };
	uint8_t id[STORE_ID_LEN];
	struct api_call *ac = NULL;
	struct session s;
	json_t *body;
	int err;

	if (!api_id_parse(api, req, sid, id))
		return;
	/* cluster mode: other nodes' calls of the session are in
	 * PostgreSQL; the reply goes out when it answered */
	if (!api_call_new(api, req, &ac)) {
		err = ctl_session_calls_all(api->ctl, id, api_calls_all_done,
					    ac);
		if (!err)
			return;
		api_call_free(ac);
		if (err == ENOENT) {
			api_reply_error(api, req, 404, "not_found",
					"no such session");
			return;
		}
		if (err != ENOSYS) {
			api_reply_error(api, req, 503, "store_unavailable",
					"cannot read the store: %s",
					strerror(err));
			return;
		}
	}
	memset(&s, 0, sizeof(s));
	x.s = &s;
	x.arr = json_array();
	if (!x.arr) {
		x.err = ENOMEM;
		goto oom;
	}
	err = ctl_session_calls(api->ctl, id, &s, api_calls_cb, &x);
	if (err == ENOENT) {
		json_decref(x.arr);
		session_clear(&s);
		api_reply_error(api, req, 404, "not_found", "no such session");
		return;
	}
	if (err)
		goto unavailable;
	if (x.err)
		goto oom;
	body = json_pack("{s:o}", "calls", x.arr);
	x.arr = NULL;
	if (!body)
		goto oom;
	api_reply_json(api, req, 200, body);
	session_clear(&s);
	return;
 oom:
	json_decref(x.arr);
	session_clear(&s);
	api_reply_error(api, req, 500, "internal", "out of memory");
	return;
 unavailable:
	json_decref(x.arr);
	session_clear(&s);
	api_reply_error(api, req, 503, "store_unavailable",
			"cannot read the store: %s", strerror(err));
}

/* ---- GET/DELETE /v1/calls/{id}/recording ---- */

/*
 * api_range() - the one range of a "Range: bytes=..." header over a file
 * of @size bytes: 0 with *off and *len, ERANGE when it lies past the end
 * (416), EINVAL for a header we do not serve as a range (a list of
 * ranges, another unit, nonsense: RFC 9110 lets us send it all, 200).
 */
static int api_range(const char *h, uint64_t size, uint64_t *off,
		     uint64_t *len)
{
	unsigned long long a, b;
	char *end;

	if (strncmp(h, "bytes=", 6) || strchr(h, ','))
		return EINVAL;
	h += 6;
	if (*h == '-') {		/* the last N bytes */
		b = strtoull(h + 1, &end, 10);
		if (end == h + 1 || *end || !b)
			return EINVAL;
		if (!size)
			return ERANGE;
		*len = b > size ? size : b;
		*off = size - *len;
		return 0;
	}
	if (*h < '0' || *h > '9')
		return EINVAL;
	a = strtoull(h, &end, 10);
	if (*end != '-')
		return EINVAL;
	h = end + 1;
	if (!*h) {
		b = size ? size - 1 : 0;
	} else {
		b = strtoull(h, &end, 10);
		if (*end || b < a)
			return EINVAL;
	}
	if (a >= size)
		return ERANGE;
	if (b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 0;
}

/* The call's record when it has a recording on disk: 0, ENOENT (no such
 * call, or no recording now) or an errno of the store. */
static int api_recording_find(struct api *api, const uint8_t id[STORE_ID_LEN],
			      struct cdr *cdr)
{
	int err;

	err = ctl_cdr_get(api->ctl, id, cdr);
	if (err)
		return err;
	if (cdr->rec_state != CDR_REC_READY)
		return ENOENT;
	return 0;
}

void api_call_recording_get(struct api *api, struct evhttp_request *req,
			    const char *cid)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	char path[CONFIG_PATH_SIZE + 64], cr[96];
	uint8_t id[STORE_ID_LEN];
	const char *range;
	uint64_t off = 0, len;
	struct stat st;
	struct cdr cdr;
	int fd, err, status = 200;
	uint8_t fmt = 0;

	if (store_id_parse(cid, id)) {
		api_reply_error(api, req, 404, "not_found", "no such call");
		return;
	}
	err = api_recording_find(api, id, &cdr);
	if (err == ENOENT)
		goto none;
	if (err) {
		api_reply_error(api, req, 503, "store_unavailable",
				"cannot read the store: %s", strerror(err));
		return;
	}
	fmt = cdr.rec_format;
	if (recorder_path(api->cfg->recording.dir, id, (enum rec_format)fmt,
			  path, sizeof(path)))
		goto none;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto none;	/* deleted or purged a moment ago */
	if (fstat(fd, &st)) {
		close(fd);
		goto none;
	}
	len = (uint64_t)st.st_size;
	range = evhttp_find_header(in, "Range");
	if (range) {
		err = api_range(range, (uint64_t)st.st_size, &off, &len);
		if (err == ERANGE) {
			close(fd);
			snprintf(cr, sizeof(cr), "bytes */%llu",
				 (unsigned long long)st.st_size);
			evhttp_add_header(evhttp_request_get_output_headers(req),
					  "Content-Range", cr);
			api_reply_error(api, req, 416, "range_not_satisfiable",
					"Range: the file has %llu bytes",
					(unsigned long long)st.st_size);
			return;
		}
		if (!err) {
			status = 206;
			snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu",
				 (unsigned long long)off,
				 (unsigned long long)(off + len - 1),
				 (unsigned long long)st.st_size);
			evhttp_add_header(evhttp_request_get_output_headers(req),
					  "Content-Range", cr);
		} else {
			off = 0;
			len = (uint64_t)st.st_size;
		}
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Accept-Ranges", "bytes");
	api_send_file(api, req, status, fmt == REC_FORMAT_MP3 ? "audio/mpeg" :
		      "audio/wav", fd, (off_t)off, (off_t)len);
	return;
 none:
	api_reply_error(api, req, 404, "not_found",
			"the call has no recording");
}

static void api_recording_delete_done(int err, bool lost, void *arg)
{
	struct api_call *c = arg;

	if (api_call_lost(c, err, lost))
		goto out;
	if (err == ENOENT)
		api_reply_error(c->api, c->req, 404, "not_found",
				"the call has no recording");
	else if (err)
		api_reply_store_err(c->api, c->req, err,
				    "the recording's deletion was not stored");
	else
		api_reply_json(c->api, c->req, 204, NULL);
 out:
	api_call_free(c);
}

void api_call_recording_delete(struct api *api, struct evhttp_request *req,
			       const char *cid)
{
	struct api_call *c = NULL;
	struct cdr cdr;
	int err;

	err = api_call_new(api, req, &c);
	if (err) {
		api_reply_error(api, req, 500, "internal", "out of memory");
		return;
	}
	if (store_id_parse(cid, c->id)) {
		api_reply_error(api, req, 404, "not_found", "no such call");
		api_call_free(c);
		return;
	}
	err = api_recording_find(api, c->id, &cdr);
	if (err) {
		if (err == ENOENT)
			api_reply_error(api, req, 404, "not_found",
					"the call has no recording");
		else
			api_reply_error(api, req, 503, "store_unavailable",
					"cannot read the store: %s",
					strerror(err));
		api_call_free(c);
		return;
	}
	api_call_queued(c, ctl_rec_delete(api->ctl, c->id,
					  api_recording_delete_done, c));
}
