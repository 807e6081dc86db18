/*
 * sip_msg.c - what may cross from one leg to the other, and the helpers
 * that build maskd's own messages.
 *
 * The rule is a whitelist: a message maskd sends on a leg is built new,
 * and from the other leg's message only the body (SDP only as rewritten
 * by sdp_rewrite()), its Content-Type, Accept, a filtered Supported and
 * the operator's sip.pass_headers are copied. Everything that names a
 * party or a host (From, To, Contact, Via, Record-Route,
 * P-Asserted-Identity, Server, Warning, ...) is made by maskd for the leg
 * it goes on, so nothing of one party reaches the other by omission.
 *
 * Runs on the SIP thread; the per-message path allocates only inside the
 * message's own home and does not log.
 */
#include "sip_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_mclass.h>

/*
 * Option tags that describe what one leg's user agent does with its own
 * dialog (reliable provisionals, session timers, call transfer and
 * replacement, routing): maskd does none of them across legs, so
 * forwarding them would promise the other side something nobody keeps.
 * "timer" and "100rel" maskd offers itself, per leg (sip_timer.c,
 * sip_prack.c).
 */
static const char *const sip_msg_unsupported[] = {
	"100rel", "timer", "precondition", "replaces", "join", "gruu",
	"path", "outbound", "norefersub", "tdialog", "sec-agree",
	"from-change", "histinfo", "resource-priority", "answermode",
	"199",
};

static bool sip_msg_option_blocked(const char *tag)
{
	size_t i;

	for (i = 0; i < sizeof(sip_msg_unsupported) /
		    sizeof(sip_msg_unsupported[0]); i++) {
		if (!strcasecmp(tag, sip_msg_unsupported[i]))
			return true;
	}
	return false;
}

static int sip_msg_copy_supported(msg_t *dst, sip_t *dsip,
				  sip_supported_t const *k)
{
	char buf[512];
	size_t len = 0;
	sip_supported_t *dup;
	msg_param_t const *p;
	int n;

	for (; k; k = k->k_next) {
		for (p = k->k_items; p && *p; p++) {
			if (sip_msg_option_blocked(*p))
				continue;
			n = snprintf(buf + len, sizeof(buf) - len, "%s%s",
				     len ? ", " : "", *p);
			if (n < 0 || (size_t)n >= sizeof(buf) - len)
				return 0;	/* absurdly long: drop it */
			len += (size_t)n;
		}
	}
	if (!len)
		return 0;

	dup = sip_supported_make(msg_home(dst), buf);
	if (!dup)
		return ENOMEM;
	if (msg_header_insert(dst, (msg_pub_t *)dsip, (msg_header_t *)dup))
		return ENOMEM;
	return 0;
}

static int sip_msg_add_dup_one(msg_t *dst, sip_t *dsip,
			       msg_header_t const *h)
{
	msg_header_t *dup;

	dup = msg_header_dup_one(msg_home(dst), h);
	if (!dup)
		return ENOMEM;
	if (msg_header_insert(dst, (msg_pub_t *)dsip, dup))
		return ENOMEM;
	return 0;
}

/*
 * The headers named @name in @src: for a header sofia parses, the list in
 * its slot of sip_t; for any other, each match among the unknown headers.
 */
static int sip_msg_copy_named(msg_t *dst, sip_t *dsip, sip_t const *src,
			      const char *name)
{
	msg_href_t const *hr;
	msg_header_t const *h;
	sip_unknown_t const *u;
	int err;

	hr = msg_find_hclass(sip_default_mclass(), name, NULL);
	if (hr && hr->hr_class != sip_unknown_class) {
		h = *(msg_header_t * const *)((char const *)src +
					     hr->hr_offset);
		for (; h; h = h->sh_next) {
			err = sip_msg_add_dup_one(dst, dsip, h);
			if (err)
				return err;
		}
		return 0;
	}

	for (u = src->sip_unknown; u; u = u->un_next) {
		if (!u->un_name || strcasecmp(u->un_name, name))
			continue;
		err = sip_msg_add_dup_one(dst, dsip, (msg_header_t const *)u);
		if (err)
			return err;
	}
	return 0;
}

bool sip_msg_has_sdp(sip_t const *sip)
{
	if (!sip || !sip->sip_payload || !sip->sip_payload->pl_len)
		return false;
	/* a body without Content-Type is SDP (RFC 3261 section 20.15) */
	return !sip->sip_content_type || !sip->sip_content_type->c_type ||
	       !strcasecmp(sip->sip_content_type->c_type, "application/sdp");
}

/*
 * A body that may name a party's media address never crosses as it came:
 * SDP only as rewritten by the caller (@sdp), and multipart bodies (SIP-I
 * and the like, which may hold SDP) not at all. Other bodies (INFO's
 * dtmf-relay, ...) are copied.
 */
static int sip_msg_copy_body(msg_t *dst, sip_t *dsip, sip_t const *src,
			     const char *sdp)
{
	sip_content_type_t const *ct;
	int err;

	if (sdp)
		return sip_add_tl(dst, dsip,
				  SIPTAG_CONTENT_TYPE_STR("application/sdp"),
				  SIPTAG_PAYLOAD_STR(sdp), TAG_END()) < 0 ?
		       ENOMEM : 0;

	ct = src->sip_content_type;

	if (!src->sip_payload || !src->sip_payload->pl_len ||
	    sip_msg_has_sdp(src) ||
	    !strncasecmp(ct->c_type, "multipart/", 10))
		return 0;

	err = sip_msg_add_dup_one(dst, dsip, (msg_header_t const *)ct);
	if (err)
		return err;
	return sip_msg_add_dup_one(dst, dsip,
				   (msg_header_t const *)src->sip_payload);
}

int sip_msg_copy(const struct sip *s, msg_t *dst, sip_t *dsip,
		 sip_t const *src, const char *sdp)
{
	size_t i;
	int err;

	/* maskd's own message (a session refresh): only its SDP */
	if (!src)
		return sdp ? sip_msg_copy_body(dst, dsip, NULL, sdp) : 0;

	err = sip_msg_copy_body(dst, dsip, src, sdp);
	if (err)
		return err;

	if (src->sip_accept &&
	    msg_header_add_dup(dst, (msg_pub_t *)dsip,
			       (msg_header_t const *)src->sip_accept))
		return ENOMEM;

	err = sip_msg_copy_supported(dst, dsip, src->sip_supported);
	if (err)
		return err;

	for (i = 0; i < s->cfg->sip.n_pass_headers; i++) {
		err = sip_msg_copy_named(dst, dsip, src,
					 s->cfg->sip.pass_headers[i]);
		if (err)
			return err;
	}
	return 0;
}

int sip_msg_user(url_t const *url, char *out, size_t size)
{
	const char *u, *end;
	size_t len;

	if (!url)
		return EINVAL;

	/* tel:+14155550100;... keeps the number where sip: has the host */
	u = url->url_user;
	if ((!u || !*u) && url->url_type == url_tel)
		u = url->url_host;
	if (!u || !*u)
		return EINVAL;

	end = strchr(u, ';');
	len = end ? (size_t)(end - u) : strlen(u);
	if (!len || len >= size)
		return EINVAL;

	memcpy(out, u, len);
	out[len] = '\0';
	return 0;
}

msg_header_t *sip_msg_header_find(sip_t const *sip, const char *name)
{
	msg_href_t const *hr;
	sip_unknown_t *u;

	hr = msg_find_hclass(sip_default_mclass(), name, NULL);
	if (hr && hr->hr_class != sip_unknown_class)
		return *(msg_header_t * const *)((char const *)sip +
						hr->hr_offset);

	for (u = sip->sip_unknown; u; u = u->un_next) {
		if (u->un_name && !strcasecmp(u->un_name, name))
			return (msg_header_t *)u;
	}
	return NULL;
}

int sip_msg_header_value(msg_header_t const *h, char *buf, size_t size)
{
	issize_t n;

	/* an unknown header prints with its name: its value is kept apart */
	if (h->sh_class == sip_unknown_class) {
		n = snprintf(buf, size, "%s",
			     h->sh_unknown->un_value ? h->sh_unknown->un_value
						     : "");
		return n < 0 || (size_t)n >= size ? ENOSPC : 0;
	}

	n = msg_header_field_e(buf, (isize_t)size, h, 0);
	if (n < 0 || (size_t)n >= size)
		return ENOSPC;
	buf[n] = '\0';
	return 0;
}

const char *sip_msg_phrase(int status)
{
	const char *p = sip_status_phrase(status);

	return p ? p : "";
}

int sip_msg_reply(struct sip *s, nta_incoming_t *irq, int status,
		  sip_t const *src, const char *sdp, const char *contact,
		  unsigned flags)
{
	return sip_msg_reply_hdrs(s, irq, status, src, sdp, contact, flags,
				  NULL);
}

int sip_msg_reply_hdrs(struct sip *s, nta_incoming_t *irq, int status,
		       sip_t const *src, const char *sdp, const char *contact,
		       unsigned flags, const char *hdrs)
{
	msg_t *msg;
	int err;

	err = sip_msg_response(s, irq, status, src, sdp, contact, flags, hdrs,
			       &msg);
	if (err)
		return err;

	/* nta takes the message, even when sending fails */
	return nta_incoming_mreply(irq, msg) < 0 ? EIO : 0;
}

int sip_msg_response(struct sip *s, nta_incoming_t *irq, int status,
		     sip_t const *src, const char *sdp, const char *contact,
		     unsigned flags, const char *hdrs, msg_t **msgp)
{
	msg_t *msg;
	sip_t *sip;
	int err = ENOMEM;

	msg = nta_msg_create(s->agent, 0);
	sip = sip_object(msg);
	if (!sip)
		goto out;

	if (contact && sip_add_tl(msg, sip, SIPTAG_CONTACT_STR(contact),
				  TAG_END()) < 0)
		goto out;
	if ((flags & SIP_REPLY_ALLOW) &&
	    sip_add_tl(msg, sip, SIPTAG_ALLOW_STR(SIP_ALLOW_METHODS),
		       TAG_END()) < 0)
		goto out;
	if ((flags & SIP_REPLY_ACCEPT) &&
	    sip_add_tl(msg, sip, SIPTAG_ACCEPT_STR("application/sdp"),
		       TAG_END()) < 0)
		goto out;

	if (hdrs && *hdrs && sip_add_tl(msg, sip, SIPTAG_HEADER_STR(hdrs),
			       TAG_END()) < 0)
		goto out;

	err = sip_msg_copy(s, msg, sip, src, sdp);
	if (err)
		goto out;

	err = EIO;
	if (nta_incoming_complete_response(irq, msg, status,
					   sip_msg_phrase(status),
					   TAG_END()) < 0)
		goto out;

	*msgp = msg;
	msg = NULL;
	err = 0;
 out:
	if (msg)
		msg_destroy(msg);
	return err;
}
