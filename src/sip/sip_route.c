/*
 * sip_route.c - who may call, who is calling whom, and where it goes.
 *
 * An out-of-dialog INVITE passes, in order: the trunk ACL (source address
 * in some [trunk.*] sources, else 403), basic sanity, the calls-per-second
 * caps (503 with Retry-After, sip_guard.c), the extensions it
 * requires (only "timer", RFC 4028 session timers, and "100rel", RFC 3262
 * reliable provisionals, which maskd does on each leg: anything else gets
 * 420; an interval below our Min-SE 422), the
 * numbers (VN from the Request-URI, caller from From or, on a trusted
 * trunk, P-Asserted-Identity; both normalised to E.164 by the trunk's
 * rules) and the session lookup (unknown pair, ended session, busy
 * session). Only then does a call exist - with its relay ports (none
 * free: 503) and the caller's SDP rewritten (unusable: 488).
 *
 * Runs on the SIP thread, once per INVITE: no logging above debug, and
 * every refusal is counted.
 */
#include "sip_internal.h"
#include "sip_hook.h"
#include "sip_miss.h"
#include "sip_pin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sofia-sip/su_string.h>

#define SIP_USER_SIZE 64
#define SIP_HEADER_VALUE_SIZE 512

bool sip_route_source_ok(struct sip *s, nta_incoming_t *irq,
			 const struct config_trunk **trunkp)
{
	const struct config *cfg = s->cfg;
	su_sockaddr_t const *su;
	msg_t *msg;
	size_t i, j;
	bool ok = false;

	msg = nta_incoming_getrequest(irq);
	if (!msg)
		return false;

	su = msg_addr(msg);
	for (i = 0; su && !ok && i < cfg->n_trunks; i++) {
		const struct config_trunk *t = &cfg->trunks[i];

		for (j = 0; j < t->n_sources; j++) {
			if (net_cidr_match(&t->sources[j], &su->su_sa)) {
				if (trunkp)
					*trunkp = t;
				ok = true;
				break;
			}
		}
	}

	msg_unref(msg);
	return ok;
}

/*
 * The three forms a trunk sends numbers in: "+" and digits (kept),
 * national_prefix and digits (the prefix becomes "+" country_code), and
 * bare digits that are an international number without its "+". Visual
 * separators of RFC 3966 are dropped.
 */
int sip_route_normalise(const struct config_trunk *t, const char *in,
			char out[E164_SIZE])
{
	char digits[E164_SIZE + 8];
	size_t n = 0, np = 0;
	const char *p = in;
	bool plus = false;
	int len;

	if (*p == '+') {
		plus = true;
		p++;
	}
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			if (n >= sizeof(digits) - 1)
				return EINVAL;
			digits[n++] = *p;
		}
		else if (!strchr("-.()", *p)) {
			return EINVAL;
		}
	}
	digits[n] = '\0';
	if (!n)
		return EINVAL;

	if (t)
		np = strlen(t->national_prefix);

	if (plus)
		len = snprintf(out, E164_SIZE, "+%s", digits);
	else if (t && np && t->country_code[0] &&
		 !strncmp(digits, t->national_prefix, np))
		len = snprintf(out, E164_SIZE, "+%s%s", t->country_code,
			       digits + np);
	else
		len = snprintf(out, E164_SIZE, "+%s", digits);

	if (len < 0 || len >= E164_SIZE || !e164_valid(out))
		return EINVAL;
	return 0;
}

/* The VN: the Request-URI's user, else the To user. */
static int sip_route_vn(const struct config_trunk *t, sip_t const *sip,
			char vn[E164_SIZE])
{
	char user[SIP_USER_SIZE];

	if (!sip_msg_user(sip->sip_request->rq_url, user, sizeof(user)) &&
	    !sip_route_normalise(t, user, vn))
		return 0;

	if (!sip_msg_user(sip->sip_to->a_url, user, sizeof(user)) &&
	    !sip_route_normalise(t, user, vn))
		return 0;

	return EINVAL;
}

/* The number in the first P-Asserted-Identity, which may be a list. */
static int sip_route_pai(const struct config_trunk *t, sip_t const *sip,
			 char caller[E164_SIZE])
{
	char value[SIP_HEADER_VALUE_SIZE];
	char user[SIP_USER_SIZE];
	su_home_t home[SU_HOME_AUTO_SIZE(2048)];
	msg_header_t const *h;
	sip_from_t *a;
	char *comma;
	int err = EINVAL;

	h = sip_msg_header_find(sip, "P-Asserted-Identity");
	if (!h || sip_msg_header_value(h, value, sizeof(value)))
		return EINVAL;

	/* "<sip:...>, <tel:...>": the first identity is enough */
	comma = strstr(value, ">,");
	if (comma)
		comma[1] = '\0';

	su_home_auto(home, sizeof(home));
	a = sip_from_make(home, value);
	if (a && !sip_msg_user(a->a_url, user, sizeof(user)))
		err = sip_route_normalise(t, user, caller);
	su_home_deinit(home);
	return err;
}

static int sip_route_caller(const struct config_trunk *t, sip_t const *sip,
			    char caller[E164_SIZE])
{
	char user[SIP_USER_SIZE];

	if (t->trusted && !sip_route_pai(t, sip, caller))
		return 0;

	if (sip_msg_user(sip->sip_from->a_url, user, sizeof(user)))
		return EINVAL;
	return sip_route_normalise(t, user, caller);
}

/* True when the INVITE requires nothing but "timer" and "100rel". */
static bool sip_route_require_ok(sip_t const *sip)
{
	sip_require_t const *r;
	msg_param_t const *p;

	for (r = sip->sip_require; r; r = r->k_next) {
		for (p = r->k_items; p && *p; p++) {
			if (!su_casematch(*p, "timer") &&
			    !su_casematch(*p, "100rel"))
				return false;
		}
	}
	return true;
}

/* 420 naming every extension the INVITE requires: some we do not do. */
static int sip_route_reply_420(nta_incoming_t *irq, sip_t const *sip)
{
	char list[SIP_HEADER_VALUE_SIZE];

	if (sip_msg_header_value((msg_header_t const *)sip->sip_require, list,
				 sizeof(list)))
		return 420;

	nta_incoming_treply(irq, SIP_420_BAD_EXTENSION,
			    SIPTAG_UNSUPPORTED_STR(list), TAG_END());
	nta_incoming_destroy(irq);
	return 0;
}

/* 422 naming our Min-SE: the caller may retry with it (RFC 4028 8.1). */
static int sip_route_reply_422(struct sip *s, nta_incoming_t *irq)
{
	char min[16];

	snprintf(min, sizeof(min), "%u", (unsigned)s->cfg->sip.min_se_s);
	nta_incoming_treply(irq, SIP_422_SESSION_TIMER_TOO_SMALL,
			    SIPTAG_MIN_SE_STR(min), TAG_END());
	nta_incoming_destroy(irq);
	return 0;
}

/* call.unrouted for the events outbox, posted like a record; @code is
 * what the caller is answered, @reason (NULL: none) how. */
int sip_route_unrouted(struct sip *s, const char *caller, const char *vn,
		       int code, const char *reason, const uint8_t *call_id)
{
	struct cdr u;

	memset(&u, 0, sizeof(u));
	u.kind = CDR_KIND_UNROUTED;
	u.at_ms = clock_now_ms();
	u.start_ms = u.at_ms;
	u.final_code = (uint16_t)code;
	snprintf(u.caller, sizeof(u.caller), "%s", caller);
	snprintf(u.vn, sizeof(u.vn), "%s", vn);
	if (reason)
		snprintf(u.reason, sizeof(u.reason), "%s", reason);
	if (call_id)
		memcpy(u.id, call_id, STORE_ID_LEN);
	if (s->cdrh)
		s->cdrh(&u, s->cdr_arg);
	return code;
}

/*
 * An unrouted INVITE: refused with @code, or (@action announce) told why
 * first (sip_announce.c). Either way call.unrouted says what the caller
 * is answered, once we know: 488 or 503 when the announcement could not
 * start. Its reason "announced" becomes the event's action.
 */
int sip_route_refuse(struct sip *s, nta_incoming_t *irq,
		     sip_t const *sip, const struct session *sess,
		     const char *caller, const char *vn, int action,
		     enum prompt_id prompt, int code)
{
	uint8_t call_id[STORE_ID_LEN];
	int st = code;

	if (action == CONFIG_ACTION_ANNOUNCE)
		st = sip_announce(s, irq, sip, sess, caller, vn, prompt, code,
				  call_id);
	(void)sip_route_unrouted(s, caller, vn, st ? st : code,
				 st ? NULL : "announced", st ? NULL : call_id);
	return st;
}

/* @asked: routed again after a cache miss was asked (sip_miss.c): the
 * caps counted it already, and PostgreSQL is not asked twice */
static int sip_route_do(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
			bool asked)
{
	const struct config_trunk *t = NULL;
	char vn[E164_SIZE], caller[E164_SIZE];
	char mask[LOG_MASK_SIZE], mask2[LOG_MASK_SIZE];
	struct session sess;
	int err;

	if (!sip_route_source_ok(s, irq, &t)) {
		SIP_COUNT(s, rejected_source);
		return 403;
	}

	if (!sip->sip_contact || !sip->sip_via || !sip->sip_from->a_tag) {
		SIP_COUNT(s, malformed);
		return 400;
	}

	if (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0)
		return 483;

	/* before the store is asked: a caller over the cap costs nothing */
	if (!asked && !sip_guard_cps_ok(s, t, irq))
		return 0;

	if (!sip_route_require_ok(sip))
		return sip_route_reply_420(irq, sip);

	if (sip->sip_session_expires &&
	    sip->sip_session_expires->x_delta < s->cfg->sip.min_se_s)
		return sip_route_reply_422(s, irq);

	if (sip->sip_payload && sip->sip_payload->pl_len &&
	    (!sip->sip_content_type || !sip->sip_content_type->c_type ||
	     !su_casematch(sip->sip_content_type->c_type, "application/sdp")))
		return 415;

	if (sip_route_vn(t, sip, vn) || sip_route_caller(t, sip, caller)) {
		SIP_COUNT(s, rejected_unknown);
		return s->cfg->sip.unknown_code;
	}

	err = store_lookup(s->reader, caller, vn, clock_now_ms(), &sess);
	/* cluster mode: the cache may not have it yet (created on another
	 * node a moment ago); PostgreSQL is asked before anything else is
	 * decided (sip_miss.c). Not parked (no room, no handler): as ever */
	if ((err == ENOENT || err == ESTALE) && !asked &&
	    sip_miss_wanted(s) && !sip_miss_park(s, irq, caller, vn))
		return 0;
	/* no party of an active session here: on a VN with PIN sessions
	 * the caller may type a party's PIN (sip_pin.c); else the hook
	 * may decide (sip_hook.c) */
	if ((err == ENOENT || err == ESTALE) && sip_pin_wanted(s, vn))
		return sip_pin_start(s, irq, sip, caller, vn);
	if (sip_hook_wanted(s, err))
		return sip_hook_park(s, irq, sip, t, caller, vn, err, &sess);
	if (err == ENOENT) {
		SIP_COUNT(s, rejected_unknown);
		return sip_route_refuse(s, irq, sip, NULL, caller, vn,
					s->cfg->sip.unknown_action,
					PROMPT_UNKNOWN,
					s->cfg->sip.unknown_code);
	}
	if (err == ESTALE) {
		SIP_COUNT(s, rejected_ended);
		return sip_route_refuse(s, irq, sip, &sess, caller, vn,
					s->cfg->sip.ended_action,
					PROMPT_EXPIRED,
					s->cfg->sip.ended_code);
	}
	if (err) {
		log_debug(s->log, "sip: lookup failed: %s", strerror(err));
		return 500;
	}

	if (sip_call_busy(s, sess.id)) {
		SIP_COUNT(s, rejected_busy);
		return 486;
	}

	err = sip_call_start(s, irq, sip, &sess, caller);
	if (err == EBUSY) {
		/* another worker's call of the session came first */
		SIP_COUNT(s, rejected_busy);
		return 486;
	}
	if (err == ENOSPC) {
		/* every relay port is taken: nothing was set up */
		SIP_COUNT(s, rejected_ports);
		return 503;
	}
	if (err == EPROTO)
		return 488;	/* counted by sip_media_sdp() */
	if (err) {
		log_debug(s->log, "sip: call %s -> %s not started: %s",
			  log_mask_number(s->log, caller, mask),
			  log_mask_number(s->log, vn, mask2), strerror(err));
		return 500;
	}
	sip_pin_authorized(sip_call_find_session(s, sess.id));
	return 0;
}

int sip_route_invite(struct sip *s, nta_incoming_t *irq, sip_t const *sip)
{
	return sip_route_do(s, irq, sip, false);
}

int sip_route_again(struct sip *s, nta_incoming_t *irq, sip_t const *sip)
{
	return sip_route_do(s, irq, sip, true);
}
