/*
 * sip_auth.c - digest authentication towards the gateway (RFC 3261
 * section 22) on the legs maskd originates, with sofia-sip's client
 * authenticators (<sofia-sip/auth_client.h>: MD5 and MD5-sess, with or
 * without qop=auth).
 *
 * A gateway that answers one of maskd's requests on such a leg with 401
 * (WWW-Authenticate) or 407 (Proxy-Authenticate) gets it once more with
 * the [gateway] credentials; a request that was already sent again is
 * never retried, so no gateway can make maskd loop. Once challenged,
 * every later request of maskd's on the leg carries credentials up front
 * (as nua does), the ACK of a 2xx those of its INVITE (RFC 3261 section
 * 13.2.2.4): a BYE cannot be retried, since its call is gone by the time
 * a challenge could come.
 *
 * The password never leaves config.c's struct but into sofia's HA1
 * (auc_all_credentials() keeps MD5(user:realm:password), not the
 * password) and is never logged; nor is anything derived from it.
 *
 * Runs on the SIP thread only; the state is the leg's (struct
 * sip_auth), released by sip_auth_free().
 */
#include "sip_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sofia-sip/su_string.h>

/* A busy gateway refusing our credentials says so once a minute at most:
 * every call fails the same way, and the counters have the numbers. */
#define SIP_AUTH_WARN_MS 60000

/*
 * True when @realm (a challenge's realm parameter, quoted as the gateway
 * wrote it) is [gateway] auth_realm: realms are compared as the strings
 * they are, case and all (RFC 7616 section 3.3). The configured realm
 * holds no quote or backslash, so an escaped realm never matches.
 */
static bool sip_auth_realm_is(const char *realm, const char *want)
{
	size_t len = strlen(realm);

	if (len >= 2 && realm[0] == '"' && realm[len - 1] == '"') {
		realm++;
		len -= 2;
	}
	return len == strlen(want) && !memcmp(realm, want, len);
}

/*
 * Takes the challenges of @ch one by one into a->auc: sofia's
 * auc_challenge() gives up on a whole list at the first challenge it
 * cannot answer (SHA-256, auth-int only), and a gateway may well offer
 * SHA-256 before MD5 (RFC 8760). A challenge that is not Digest (we never
 * send a Basic password in clear) or names another realm than the
 * configured one is left out. Returns how many were taken.
 */
static int sip_auth_take(struct sip_leg *leg, msg_auth_t const *ch,
			 msg_hclass_t *credentials)
{
	const struct config *cfg = leg->call->s->cfg;
	struct sip_auth *a = &leg->auth;
	msg_auth_t one;
	const char *realm;
	int n = 0;

	for (; ch; ch = ch->au_next) {
		if (!ch->au_scheme || !su_casematch(ch->au_scheme, "Digest"))
			continue;
		realm = msg_header_find_param(ch->au_common, "realm=");
		if (!realm)
			continue;
		if (cfg->gateway.auth_realm[0] &&
		    !sip_auth_realm_is(realm, cfg->gateway.auth_realm))
			continue;

		/* this challenge alone: sofia walks au_next */
		one = *ch;
		one.au_next = NULL;
		if (auc_challenge(&a->auc, a->home, &one, credentials) < 0)
			continue;
		n++;
	}
	return n;
}

int sip_auth_challenge(struct sip_leg *leg, sip_t const *sip)
{
	const struct config *cfg = leg->call->s->cfg;
	struct sip_auth *a = &leg->auth;
	int status = sip && sip->sip_status ? sip->sip_status->st_status : 0;
	msg_auth_t const *ch;
	msg_hclass_t *credentials;

	if (status == 401) {
		ch = sip->sip_www_authenticate;
		credentials = sip_authorization_class;
	} else if (status == 407) {
		ch = sip->sip_proxy_authenticate;
		credentials = sip_proxy_authorization_class;
	} else {
		return EINVAL;
	}

	if (!cfg->gateway.auth_user[0] || !ch)
		return EACCES;

	if (!a->home) {
		a->home = su_home_new(sizeof(*a->home));
		if (!a->home)
			return ENOMEM;
	}

	if (!sip_auth_take(leg, ch, credentials))
		return EACCES;

	/* scheme "Digest" and realm NULL: every Digest challenge taken */
	if (auc_all_credentials(&a->auc, "Digest", NULL,
				cfg->gateway.auth_user,
				cfg->gateway.auth_password) < 0)
		return ENOMEM;
	return auc_has_authorization(&a->auc) ? 0 : EACCES;
}

int sip_auth_authorize(struct sip_leg *leg, msg_t *msg, sip_t *sip)
{
	struct sip_auth *a = &leg->auth;

	if (!a->auc)
		return 0;
	/* 0 is "no credentials for some challenge": the request goes
	 * without, and its challenge decides */
	return auc_authorize(&a->auc, msg, sip) < 0 ? ENOMEM : 0;
}

void sip_auth_ack(struct sip_leg *leg, nta_outgoing_t *invite, msg_t *msg,
		  sip_t *sip)
{
	sip_t const *is;
	msg_t *req;

	if (!leg->auth.auc)
		return;
	req = nta_outgoing_getrequest(invite);
	is = req ? sip_object(req) : NULL;
	if (is && is->sip_authorization)
		(void)sip_add_dup(msg, sip,
				  (sip_header_t *)is->sip_authorization);
	if (is && is->sip_proxy_authorization)
		(void)sip_add_dup(msg, sip,
				  (sip_header_t *)is->sip_proxy_authorization);
	if (req)
		msg_destroy(req);
}

/*
 * The request of @orq as it went, but for what makes it a new
 * transaction on @leg: no Via (nta adds one with a new branch), the
 * next CSeq of the dialog, fresh credentials. NULL on error.
 */
static msg_t *sip_auth_copy_request(struct sip_leg *leg,
				    nta_outgoing_t *orq)
{
	msg_t *req, *msg;
	sip_t *sip;

	req = nta_outgoing_getrequest(orq);
	if (!req)
		return NULL;
	msg = msg_dup(req);
	msg_destroy(req);
	sip = msg ? sip_object(msg) : NULL;
	if (!sip || !sip->sip_request)
		goto fail;

	while (sip->sip_via)
		if (msg_header_remove(msg, (msg_pub_t *)sip,
				      (msg_header_t *)sip->sip_via) < 0)
			goto fail;
	if (sip->sip_cseq &&
	    msg_header_remove(msg, (msg_pub_t *)sip,
			      (msg_header_t *)sip->sip_cseq) < 0)
		goto fail;

	if (nta_msg_request_complete(msg, leg->dialog,
				     sip->sip_request->rq_method,
				     sip->sip_request->rq_method_name,
				     NULL) < 0 ||
	    sip_auth_authorize(leg, msg, sip))
		goto fail;
	return msg;
 fail:
	if (msg)
		msg_destroy(msg);
	return NULL;
}

nta_outgoing_t *sip_auth_resend(struct sip_leg *leg, nta_outgoing_t *orq,
				sip_t const *sip, nta_response_f *cb,
				void *magic)
{
	struct sip *s = leg->call->s;
	nta_outgoing_t *again;
	msg_t *msg;

	if (sip_auth_challenge(leg, sip))
		return NULL;
	msg = sip_auth_copy_request(leg, orq);
	if (!msg)
		return NULL;
	again = nta_outgoing_mcreate(s->agent, cb, magic, NULL, msg,
				     TAG_END());
	if (!again) {
		msg_destroy(msg);
		return NULL;
	}
	SIP_COUNT(s, auth_retries);
	return again;
}

void sip_auth_failed(struct sip *s, const char *reason)
{
	/* monotonic: an interval; a wall clock stepped back would silence
	 * the warning for the size of the step */
	int64_t now = clock_mono_ms();

	SIP_COUNT(s, auth_failed);
	if (s->auth_warned_ms && now - s->auth_warned_ms < SIP_AUTH_WARN_MS) {
		log_debug(s->log, "sip: gateway authentication: %s", reason);
		return;
	}
	s->auth_warned_ms = now;
	if (!strcmp(reason, "auth_failed"))
		log_warn(s->log, "sip: the gateway refused our credentials "
			 "(gateway.auth_user '%s'): calls fail with %d",
			 s->cfg->gateway.auth_user, SIP_AUTH_FAIL_STATUS);
	else
		log_warn(s->log, "sip: the gateway asks for credentials %s: "
			 "calls fail with %d",
			 s->cfg->gateway.auth_user[0] ?
			 "that gateway.auth_user/auth_realm cannot answer "
			 "(realm, or not Digest MD5)" :
			 "and none are configured (gateway.auth_user)",
			 SIP_AUTH_FAIL_STATUS);
}

void sip_auth_free(struct sip_auth *a)
{
	/* the authenticators live in the home: one unref frees all */
	if (a->home)
		su_home_unref(a->home);
	a->home = NULL;
	a->auc = NULL;
}
