/*
 * sip_dialog.h - the machinery of one leg's dialog, which the files of
 * src/sip/ share: a leg's lifetime and sending on it (sip_leg.c),
 * in-dialog forwarding (sip_forward.c), RFC 4028 session timers
 * (sip_timer.c), digest authentication (sip_auth.c), RFC 3262 PRACK
 * (sip_prack.c), SDP and relay ports (sip_media.c), TLS (sip_tls.c) and
 * building messages (sip_msg.c).
 *
 * Split from sip_internal.h, which includes it last, so that no header
 * passes ~1,000 lines; the same thread rules hold: everything here runs
 * on the SIP thread.
 */
#ifndef MASKD_SIP_DIALOG_H
#define MASKD_SIP_DIALOG_H

#ifndef MASKD_SIP_INTERNAL_H
#error "include sip_internal.h, which includes sip_dialog.h"
#endif

/* ---- sip_leg.c: a leg's lifetime, its dialog, sending on it ---- */

/*
 * sip_leg_contact() - our Contact towards the party of @leg into @buf
 * (SIP_URI_SIZE): the VN at our host and port, the TLS ones on a TLS
 * leg so that the party's requests come back on TLS. Returns @buf.
 * Made when needed, not kept: 352 bytes a leg of nothing but a VN, a
 * host and a transport the leg already has.
 */
const char *sip_leg_contact(const struct sip_leg *leg, char *buf,
			    size_t size);

/* sip_leg_init() - @c's legs, none in use yet (role SIP_LEG_NONE). */
void sip_leg_init(struct sip_call *c);

/*
 * sip_leg_free() - release what @leg holds in nta and sofia (its
 * session timer, 100rel and authentication state, its INVITE
 * transaction and its dialog). Idempotent.
 */
void sip_leg_free(struct sip_leg *leg);

/*
 * sip_leg_inbound() - make c's inbound leg of the INVITE @irq (@sip):
 * role, transport, our Contact, its 100rel and session timer requests.
 * No dialog yet: sip_leg_accept().
 */
void sip_leg_inbound(struct sip_call *c, nta_incoming_t *irq,
		     sip_t const *sip);

/*
 * sip_leg_accept() - the dialog of an inbound @leg: the party's Call-ID,
 * a tag of ours on @irq, the route set of @sip. Returns 0 or ENOMEM.
 */
int sip_leg_accept(struct sip_leg *leg, nta_incoming_t *irq,
		   sip_t const *sip);

/*
 * sip_leg_originate() - a new leg of @c calling @target (E.164) at the
 * gateway: a dialog of ours in which nothing of the other leg appears
 * (our Call-ID, tags and Via, the VN in From and P-Asserted-Identity,
 * our own Contact), and its INVITE with what may cross from @src (may
 * be NULL) and @sdp, already rewritten for it. Its answers go to
 * sip_call_on_outbound(). *legp (may be NULL) gets the leg. Returns 0,
 * ENOSPC when the call has no free side, or an errno; on error the leg
 * may be half made and is freed with the call.
 */
int sip_leg_originate(struct sip_call *c, const char *target,
		      sip_t const *src, const char *sdp,
		      struct sip_leg **legp);

/*
 * sip_leg_originate_on() - sip_leg_originate() on @leg, a leg of its
 * call not in use (a participant's, sip_conf.c). Returns as it.
 */
int sip_leg_originate_on(struct sip_leg *leg, const char *target,
			 sip_t const *src, const char *sdp);

/*
 * sip_leg_invite() - (again) the INVITE of an originated @leg, as
 * sip_leg_originate() sends it; leg->orq_invite. 0 or an errno.
 */
int sip_leg_invite(struct sip_leg *leg, sip_t const *src, const char *sdp);

/*
 * sip_leg_retry_422() - the party of an originated @leg finds our
 * Session-Expires too short (@sip, a 422): once, the INVITE again with
 * its Min-SE. 0 when it went.
 */
int sip_leg_retry_422(struct sip_leg *leg, sip_t const *sip);

/*
 * sip_leg_retry_auth() - the gateway challenged the INVITE of @leg
 * (@sip, 401/407): once, the INVITE again with credentials. 0 when it
 * went; else *reasonp says why the call fails ("auth_failed" or
 * "auth_required") and the errno is EACCES (no credentials for it) or
 * another.
 */
int sip_leg_retry_auth(struct sip_leg *leg, sip_t const *sip,
		       const char **reasonp);

/*
 * sip_leg_answered() - the 2xx @sip to our INVITE on @leg sets its
 * dialog: remote tag, route set, remote target.
 */
void sip_leg_answered(struct sip_leg *leg, sip_t const *sip);

/*
 * sip_leg_ack_answer() - the 2xx our INVITE on @leg received is ACKed,
 * once, with the SDP of @src (the other leg's ACK: the answer to a late
 * offer) rewritten. EPROTO when that SDP cannot be (left out; the call
 * must end), else 0.
 */
int sip_leg_ack_answer(struct sip_leg *leg, sip_t const *src);

/*
 * sip_leg_request() - a request of maskd's own on @leg: headers of @src
 * that may cross, @sdp as body (NULL: none), our Contact and Allow when
 * @contact, @hdrs raw lines of our own (NULL: none). @ruri only for the
 * first INVITE. Answers go to @cb with @magic. NULL on error.
 */
nta_outgoing_t *sip_leg_request(struct sip_leg *leg, sip_method_t method,
				const char *name, const char *ruri,
				sip_t const *src, const char *sdp,
				nta_response_f *cb, void *magic, bool contact,
				const char *hdrs);

/*
 * sip_leg_ack() - ACK the 2xx that answered @orq on @leg, with @sdp.
 * Sent statelessly: nta keeps no transaction for it (one would linger
 * 32 s per call); a retransmitted 2xx is ACKed again by sip_leg_reack().
 */
void sip_leg_ack(struct sip_leg *leg, nta_outgoing_t *orq, sip_t const *src,
		 const char *sdp);

/*
 * sip_leg_reack() - @sip, a response no transaction took (sip.c), is a
 * retransmitted 2xx to the INVITE of ours whose 2xx a leg ACKed last:
 * the same ACK again (RFC 3261 section 13.2.2.4). True when it was one.
 */
bool sip_leg_reack(struct sip *s, sip_t const *sip);

/* sip_leg_bye() - a BYE on @leg, when it has a dialog. */
void sip_leg_bye(struct sip_leg *leg);

/*
 * sip_leg_retarget() - a target refresh on @leg succeeded: the party's
 * next requests go to the Contact of @sip; sip_leg_retarget_irq() the
 * same for the request of @irq.
 */
void sip_leg_retarget(struct sip_leg *leg, sip_t const *sip);
void sip_leg_retarget_irq(struct sip_leg *leg, nta_incoming_t *irq);

/* ---- sip_forward.c: requests inside a dialog, relayed between legs ---- */

/*
 * sip_leg_on_request() - the nta_leg_magic_t callback of every leg's
 * dialog (@magic: the leg). 0 when taken care of, else the status nta
 * answers with.
 */
int sip_leg_on_request(void *magic, nta_leg_t *dialog, nta_incoming_t *irq,
		       sip_t const *sip);

/* sip_fwd_free() - forget @f, destroying its transactions. */
void sip_fwd_free(struct sip_fwd *f);

/* ---- sip_timer.c: RFC 4028 session timers, one per leg ---- */

/* Session-Expires, Min-SE, Supported and Require lines of maskd's own. */
#define SIP_ST_HDRS_SIZE 160

/* sip_st_clamp() - a party's interval, within what timers can take. */
uint32_t sip_st_clamp(unsigned long delta);

/* sip_st_arm() - (re)start @leg's timer from now; none: stopped. */
void sip_st_arm(struct sip_leg *leg);

/*
 * sip_st_uas() - take the timer of an INVITE or UPDATE from the party of
 * @leg (maskd the UAS). 0, or 422 when below our Min-SE (leg as was).
 */
int sip_st_uas(struct sip_leg *leg, sip_t const *sip);

/* sip_st_hdrs_uas() - header lines of our 2xx to that party, in @buf. */
void sip_st_hdrs_uas(const struct sip_st *st, char *buf, size_t size);

/* sip_st_hdrs_uac() - header lines of our own INVITE/UPDATE on @leg. */
void sip_st_hdrs_uac(const struct sip_leg *leg, char *buf, size_t size);

/*
 * sip_st_uac() - take the timer of a 2xx to our INVITE/UPDATE on @leg
 * (@sip NULL: none was said) and restart the leg's timer.
 */
void sip_st_uac(struct sip_leg *leg, sip_t const *sip);

/* sip_st_reply_422() - answer @irq 422 with our Min-SE and destroy it. */
void sip_st_reply_422(struct sip *s, nta_incoming_t *irq);

/*
 * sip_st_is_refresh() - true when @sip from @leg's party is a bare
 * session refresh that the other party need not see.
 */
bool sip_st_is_refresh(const struct sip_leg *leg, sip_t const *sip);

/* sip_st_free() - stop leg timer, refresh and SDP copies of @st. */
void sip_st_free(struct sip_st *st);

/* ---- sip_auth.c: digest authentication towards the gateway ---- */

/*
 * sip_auth_challenge() - take the challenges of @sip, a 401 or 407 to a
 * request of ours on @leg, with our [gateway] credentials. Returns 0
 * when there are credentials for them (a request may go again),
 * EACCES when not (none configured, another realm, not Digest MD5),
 * EINVAL when @sip is no challenge, or ENOMEM.
 */
int sip_auth_challenge(struct sip_leg *leg, sip_t const *sip);

/*
 * sip_auth_authorize() - credentials into @msg, a request of ours on
 * @leg made complete by nta_msg_request_complete(), once the gateway has
 * challenged the leg; nothing before. Returns 0 or ENOMEM.
 */
int sip_auth_authorize(struct sip_leg *leg, msg_t *msg, sip_t *sip);

/* sip_auth_ack() - the credentials of @invite (ours, on @leg) into
 * @msg, the ACK of its 2xx (RFC 3261 section 13.2.2.4). */
void sip_auth_ack(struct sip_leg *leg, nta_outgoing_t *invite, msg_t *msg,
		  sip_t *sip);

/*
 * sip_auth_resend() - @orq, an in-dialog request of ours on @leg, was
 * answered @sip (401/407): the same request again as a new transaction
 * (new CSeq and branch) with credentials, answers to @cb with @magic.
 * NULL when it cannot go (no credentials for the challenge, or no
 * memory): the challenge is then its answer. The caller destroys @orq
 * and makes sure no request is sent again twice.
 */
nta_outgoing_t *sip_auth_resend(struct sip_leg *leg, nta_outgoing_t *orq,
				sip_t const *sip, nta_response_f *cb,
				void *magic);

/*
 * sip_auth_failed() - count a call that failed on the gateway's
 * authentication (@reason "auth_failed" or "auth_required") and warn,
 * at most once a minute.
 */
void sip_auth_failed(struct sip *s, const char *reason);

/* sip_auth_free() - release @a; idempotent. */
void sip_auth_free(struct sip_auth *a);

/* ---- sip_prack.c: RFC 3262 reliable provisionals, one side per leg ---- */

/* What sip_prack_uac_hdrs() may add to our INVITE's header lines. */
#define SIP_PRACK_HDRS_SIZE 24

/* sip_prack_init() - what the party's INVITE @sip asks of inbound @leg. */
void sip_prack_init(struct sip_leg *leg, sip_t const *sip);

/*
 * sip_prack_free() - forget @leg's reliable 18x (before the INVITE's
 * irq goes), drop what is held, let our PRACK finish on its own.
 */
void sip_prack_free(struct sip_leg *leg);

/*
 * sip_prack_uas_progress() - a 1xx (@status > 100) to the party of
 * inbound @leg as sip_msg_reply() would send it, reliably when the leg
 * calls for it. 0 or an errno.
 */
int sip_prack_uas_progress(struct sip_leg *leg, int status,
			   sip_t const *src, const char *sdp);

/*
 * sip_prack_uas_answer() - our 2xx to the INVITE of inbound @leg (as
 * sip_msg_reply_hdrs() with our Contact and Allow), held while a
 * reliable 18x awaits its PRACK. 0 or an errno.
 */
int sip_prack_uas_answer(struct sip_leg *leg, sip_t const *src,
			 const char *sdp, const char *hdrs);

/* sip_prack_uas_holding() - true while our 2xx waits for a PRACK. */
bool sip_prack_uas_holding(const struct sip_leg *leg);

/*
 * sip_prack_uac_hdrs() - append to @buf, the header lines of our INVITE
 * on an originated leg, what it says of 100rel: Supported when @sdp (our
 * offer) is set.
 */
void sip_prack_uac_hdrs(const char *sdp, char *buf, size_t size);

/*
 * sip_prack_uac_recv() - a 1xx to our INVITE @orq on originated @leg:
 * PRACK it there when it is reliable.
 */
void sip_prack_uac_recv(struct sip_leg *leg, nta_outgoing_t *orq,
			sip_t const *sip);

/* ---- sip_media.c ---- */

/*
 * sip_media_open() - the relay call of @c (two port pairs), listed by a
 * fresh cookie. Returns 0, ENOSPC (no free ports: the caller gets 503),
 * or another errno.
 */
int sip_media_open(struct sip_call *c);

/*
 * sip_media_close() - free @c's relay call (its ports go back) and put
 * its counters into c->cdr. Idempotent; nothing after it may use the
 * media.
 */
void sip_media_close(struct sip_call *c);

/*
 * sip_media_sdp() - the SDP of @src, sent by the party of leg @from, as
 * the party of the other leg must receive it: naming only rtp.advertise
 * and the relay port facing that party (sdp.h). Also tells the relay
 * where the party of @from wants its media: every offer and answer, both
 * ways.
 *
 * Returns 0 with *bodyp NULL when @src carries no SDP, 0 with a
 * malloc'd body (the caller frees it), EPROTO when the SDP is unusable
 * or the call has no media any more (counted; the sender gets 488 or
 * the call ends), or ENOMEM.
 */
int sip_media_sdp(struct sip_leg *from, sip_t const *src, char **bodyp);

/* sip_media_call() - the call whose relay call has @cookie, or NULL. */
struct sip_call *sip_media_call(struct sip *s, uint64_t cookie);

/*
 * sip_media_timeout() - the relay reported no media on the call with
 * @cookie: end it (unless it has ended meanwhile). SIP thread.
 */
void sip_media_timeout(struct sip *s, uint64_t cookie);

/*
 * sip_media_on_timeout() - the relay_timeout_h: runs on a relay WORKER
 * thread and only pushes @cookie into s->cmdq (a full queue loses the
 * report, counted in rtp_timeouts_lost). @arg is the sip.
 */
void sip_media_on_timeout(uint64_t cookie, void *arg);

/* ---- sip_tls.c ---- */

/*
 * sip_tls_listen() - add the TLS transport on [sip] tls_listen, with the
 * certificate directory s->tls_dir; the gateway's certificate must chain
 * to [sip] tls_ca and name the gateway's host. Nothing when TLS is off.
 * SIP thread, at start-up. Returns 0 or an errno.
 */
int sip_tls_listen(struct sip *s);

/*
 * sip_tls_tp() - the transport @irq arrived on (the socket's, not what
 * its Via claims).
 */
enum sip_tp sip_tls_tp(struct sip *s, nta_incoming_t *irq);

/*
 * sip_tls_pin() - a dialog that began over TLS stays on TLS: copies of
 * @rr and @m (either may be NULL) into @home, in which the first hop
 * says transport=tls (a sips: URI is left as it is, being TLS already).
 * The first hop is the first Record-Route entry when @uac is false (nta
 * keeps a UAS's route set in order), the last one when @uac is true (a
 * UAC's is reversed), and the Contact when there is none. The copies
 * live in @home. Returns 0 or ENOMEM.
 */
int sip_tls_pin(su_home_t *home, sip_record_route_t const *rr,
		sip_contact_t const *m, bool uac,
		sip_record_route_t **rr_out, sip_contact_t **m_out);

/* ---- sip_msg.c ---- */

/*
 * sip_msg_copy() - copy what may cross from one leg to the other out of
 * @src into @dst: the body with its Content-Type, Accept, Supported
 * without the extensions maskd does not do per leg, and the operator's
 * pass_headers. Nothing else of @src. An SDP body crosses only as @sdp,
 * the rewritten one (NULL: no SDP crosses); a multipart body never.
 * @src NULL: only @sdp (maskd's own request or answer).
 * Returns 0 or ENOMEM.
 */
int sip_msg_copy(const struct sip *s, msg_t *dst, sip_t *dsip,
		 sip_t const *src, const char *sdp);

/* sip_msg_has_sdp() - true when @sip carries an SDP body. */
bool sip_msg_has_sdp(sip_t const *sip);

/*
 * sip_msg_user() - the user part of @url without parameters into @out.
 * Returns 0, or EINVAL when there is none or it does not fit.
 */
int sip_msg_user(url_t const *url, char *out, size_t size);

/*
 * sip_msg_header_find() - the first header named @name (any case) in
 * @sip, known to sofia or not; NULL when there is none.
 */
msg_header_t *sip_msg_header_find(sip_t const *sip, const char *name);

/*
 * sip_msg_header_value() - the value of @h as text into @buf. Returns 0
 * or ENOSPC.
 */
int sip_msg_header_value(msg_header_t const *h, char *buf, size_t size);

enum sip_reply_flags {
	SIP_REPLY_ALLOW = 1 << 0,	/* add our Allow */
	SIP_REPLY_ACCEPT = 1 << 1,	/* add Accept: application/sdp */
};

/*
 * sip_msg_reply() - answer @irq with @status (standard phrase, never the
 * other leg's) and the crossing parts of @src (may be NULL) with @sdp as
 * its SDP (see sip_msg_copy()), plus our @contact when not NULL and what
 * @flags ask for. Returns 0 or an errno; the irq is not destroyed.
 */
int sip_msg_reply(struct sip *s, nta_incoming_t *irq, int status,
		  sip_t const *src, const char *sdp, const char *contact,
		  unsigned flags);

/*
 * sip_msg_reply_hdrs() - sip_msg_reply() plus @hdrs (may be NULL): raw
 * header lines of maskd's own ("Session-Expires: 90;refresher=uac"),
 * separated by CRLF.
 */
int sip_msg_reply_hdrs(struct sip *s, nta_incoming_t *irq, int status,
		       sip_t const *src, const char *sdp, const char *contact,
		       unsigned flags, const char *hdrs);

/*
 * sip_msg_response() - the message sip_msg_reply_hdrs() would send, built
 * and completed for @irq but not sent: *msgp is the caller's, to hand to
 * nta (nta_incoming_mreply(), nta_reliable_mreply()) or msg_destroy().
 * Returns 0 or an errno (*msgp untouched).
 */
int sip_msg_response(struct sip *s, nta_incoming_t *irq, int status,
		     sip_t const *src, const char *sdp, const char *contact,
		     unsigned flags, const char *hdrs, msg_t **msgp);

/* sip_msg_phrase() - the standard reason phrase of @status. */
const char *sip_msg_phrase(int status);

#endif
