/*
 * sip_media.c - a call's media: its relay call, the SDP that crosses
 * between the legs, and the relay's timeouts.
 *
 * Every call gets a relay call (two RTP/RTCP port pairs, one per leg:
 * side A facing the caller, side B the callee) when its INVITE is
 * routed, and gives it back when its CDR goes out, however the call
 * ends. Every SDP body, offer or
 * answer, either way, goes through sdp_rewrite() before it crosses, and
 * the sending party's address goes to the relay for that party's leg: no
 * SDP ever crosses as it came (sip_msg_copy() drops what is not
 * rewritten).
 *
 * The relay's timeout handler runs on a worker thread. It must not touch
 * a call, so it pushes the call's cookie into the SIP thread's command
 * queue (sip_cmd.c), and the SIP thread looks the cookie up here. A
 * cookie whose call has ended meanwhile is simply not found.
 *
 * SIP thread, except sip_media_on_timeout(). Per message: no logging
 * above debug, counters instead.
 */
#include "sip_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t sip_media_slot(uint64_t cookie)
{
	/* cookies are sequential: the low bits spread them already */
	return (size_t)(cookie & (SIP_MEDIA_BUCKETS - 1));
}

struct sip_call *sip_media_call(struct sip *s, uint64_t cookie)
{
	struct sip_call *c;

	for (c = s->media[sip_media_slot(cookie)]; c; c = c->media_next) {
		if (c->cookie == cookie)
			return c;
	}
	return NULL;
}

int sip_media_open(struct sip_call *c)
{
	struct sip *s = c->s;
	struct sip_call **slot;
	uint64_t cookie = ++s->media_cookie;
	int err;

	err = relay_call_alloc(s->relay, cookie, &c->media);
	if (err) {
		c->media = NULL;
		return err;
	}

	c->cookie = cookie;
	slot = &s->media[sip_media_slot(cookie)];
	c->media_next = *slot;
	*slot = c;
	return 0;
}

/*
 * The CDR names the session's parties: packets_a_to_b went from party_a
 * to party_b whoever called. The relay counts by leg, and leg A faces
 * the caller, who is party_b on a call back (cdr.a_to_b false).
 */
void sip_media_close(struct sip_call *c)
{
	struct relay_counters rc;
	struct sip_call **pp;
	const struct relay_flow *ab, *ba;

	if (!c->media)
		return;
	/* the file ends with the media, before the relay call is freed */
	sip_rec_stop(c);

	for (pp = &c->s->media[sip_media_slot(c->cookie)]; *pp;
	     pp = &(*pp)->media_next) {
		if (*pp == c) {
			*pp = c->media_next;
			break;
		}
	}
	c->media_next = NULL;

	relay_call_free(c->media, &rc);
	c->media = NULL;

	ab = c->cdr.a_to_b ? &rc.a_to_b : &rc.b_to_a;
	ba = c->cdr.a_to_b ? &rc.b_to_a : &rc.a_to_b;
	c->cdr.pkts_a_to_b = ab->packets;
	c->cdr.bytes_a_to_b = ab->bytes;
	c->cdr.pkts_b_to_a = ba->packets;
	c->cdr.bytes_b_to_a = ba->bytes;
}

/* *@dst becomes a malloc'd, NUL-terminated copy of @len bytes of @src. */
static int sip_media_remember(char **dst, const char *src, size_t len)
{
	char *p;

	p = malloc(len + 1);
	if (!p)
		return ENOMEM;
	memcpy(p, src, len);
	p[len] = '\0';
	free(*dst);
	*dst = p;
	return 0;
}

int sip_media_sdp(struct sip_leg *from, sip_t const *src, char **bodyp)
{
	struct sip_call *c = from->call;
	struct sip *s = c->s;
	struct sip_leg *to = sip_call_leg_other(from);
	struct sdp_remote rem;
	const struct sockaddr *rtp, *rtcp;
	char *body = NULL;
	size_t len;
	int err;

	*bodyp = NULL;
	if (!sip_msg_has_sdp(src))
		return 0;

	if (!c->media) {
		err = EPROTO;
		goto out;
	}

	err = sdp_rewrite(src->sip_payload->pl_data, src->sip_payload->pl_len,
			  s->cfg->rtp.advertise,
			  relay_call_port(c->media, to->side), &to->origin,
			  &body, &len, &rem);
	if (err == EINVAL)
		err = EPROTO;
	if (err)
		goto out;

	rtp = rem.rtp.ss_family != AF_UNSPEC ?
	      (const struct sockaddr *)&rem.rtp : NULL;
	rtcp = rtp && rem.rtcp.ss_family != AF_UNSPEC ?
	       (const struct sockaddr *)&rem.rtcp : NULL;
	/* EAFNOSUPPORT (an IPv6 party on an IPv4 relay) cannot be relayed */
	err = relay_call_set_remote(c->media, from->side, rtp, rtcp,
				    rem.hold ? RELAY_REMOTE_HOLD : 0);
	if (err) {
		err = EPROTO;
		goto out;
	}

	/* what a session refresh compares and resends (sip_forward.c) */
	err = sip_media_remember(&to->st.sdp, body, len);
	if (!err)
		err = sip_media_remember(&from->st.peer_sdp,
					 src->sip_payload->pl_data,
					 src->sip_payload->pl_len);
	if (err)
		goto out;

	*bodyp = body;
	body = NULL;
 out:
	if (err == EPROTO)
		SIP_COUNT(s, bad_sdp);
	free(body);
	return err;
}

/*
 * Runs on a relay worker. A full queue (the SIP thread stalled for over a
 * hundred thousand messages) loses the report, counted: the call then
 * ends by its BYE, session timer or time limit instead.
 */
void sip_media_on_timeout(uint64_t cookie, void *arg)
{
	struct sip *s = arg;

	if (mqueue_push(s->cmdq, SIP_CMD_RTP_TIMEOUT, &cookie, sizeof(cookie)))
		SIP_COUNT(s, rtp_timeouts_lost);
}

void sip_media_timeout(struct sip *s, uint64_t cookie)
{
	struct sip_call *c = sip_media_call(s, cookie);

	if (c)
		sip_call_rtp_timeout(c);
}
