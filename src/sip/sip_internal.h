/*
 * sip_internal.h - what the files of src/sip/ share: the SIP thread's
 * state (struct sip), one call (struct sip_call) and its legs (struct
 * sip_leg), and the helpers each file offers the others.
 *
 * Everything declared here belongs to the SIP thread and is touched by no
 * other, except the counters in struct sip_counters (relaxed atomics, read
 * by the metrics registry from the thread that renders /metrics), the
 * start-up hand-shake fields of struct sip (under its mutex), and its
 * command queue (cmdq: any thread pushes, mqueue.h) with the stop_asked
 * flag.
 *
 * Include this before any other sofia-sip header: it sets the "magic"
 * types sofia's callbacks are declared with.
 */
#ifndef MASKD_SIP_INTERNAL_H
#define MASKD_SIP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sip;
struct sip_call;

#define SU_ROOT_MAGIC_T		struct sip
#define SU_WAKEUP_ARG_T		struct sip
#define SU_TIMER_ARG_T		void
#define NTA_AGENT_MAGIC_T	struct sip
#define NTA_LEG_MAGIC_T		void
#define NTA_OUTGOING_MAGIC_T	void
#define NTA_INCOMING_MAGIC_T	void
#define NTA_RELIABLE_MAGIC_T	void

#include <sofia-sip/su.h>
#include <sofia-sip/auth_client.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include "maskd/clock.h"
#include "maskd/config.h"
#include "maskd/e164.h"
#include "maskd/flood.h"
#include "maskd/log.h"
#include "maskd/mqueue.h"
#include "maskd/prompt.h"
#include "maskd/metrics.h"
#include "maskd/relay.h"
#include "maskd/sdp.h"
#include "maskd/sip.h"
#include "maskd/store.h"
#include "maskd/tlsconf.h"

/* The methods maskd handles on each leg; sent as Allow. */
#define SIP_ALLOW_METHODS \
	"INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK"

/* Session ids with a live call, hashed; a power of two. */
#define SIP_BUSY_BUCKETS 4096

/* Calls with a relay call, by cookie; a power of two. */
#define SIP_MEDIA_BUCKETS 4096

/* Messages the command queue into the SIP thread holds (sip_cmd.c):
 * relay timeouts and the control thread's commands. One more is refused
 * and counted by its sender (what the old 1 MiB timeout pipe held). */
#define SIP_CMD_MAX 131072

/* How long sip_stop() lets BYEs and CANCELs leave before closing. */
#define SIP_STOP_GRACE_MS 300

/* How often nta's transaction and bad message counts are copied into the
 * counters. */
#define SIP_STATS_PERIOD_MS 1000

/* A call whose caller is done waits at most this long for the callee's
 * final answer to our CANCEL before it is freed anyway. */
#define SIP_ZOMBIE_MS 70000

/* "sip:" user "@" host:port ";transport=tcp" and some. */
#define SIP_URI_SIZE (CONFIG_HOST_SIZE + 96)

/*
 * sofia's Via class with maskd's parse function (sip_via.c). First member:
 * a parsed Via's sh_class points at the whole.
 */
struct sip_via_hclass {
	struct msg_hclass_s hc;
	int msg_size;		/* su_home size of a sip->mclass message */
};

/* How deep a TLS peer's chain may be: leaf, intermediates, root. */
#define SIP_TLS_VERIFY_DEPTH 4

/*
 * The transport a leg runs on: what maskd's Contact (and nta's Via) say
 * on it, and on TLS what every request of its dialog must leave on
 * (sip_tls_pin()).
 */
enum sip_tp {
	SIP_TP_UDP = 0,
	SIP_TP_TCP,
	SIP_TP_TLS,
};

/* Relaxed atomics, declared in sip_metrics.inc: the metrics registry reads
 * them from the thread that renders /metrics. */
struct sip_counters {
#define X METRICS_X_CELL
#include "sip_metrics.inc"
#undef X
};

#define SIP_COUNT(s, name) metrics_inc(&(s)->counters.name)
#define SIP_UNCOUNT(s, name) metrics_dec(&(s)->counters.name)

/*
 * The B2BUA. Created by sip_start() on the caller's thread; from the
 * moment the SIP thread runs, everything below "SIP thread only" is its
 * alone.
 */
struct sip {
	const struct config *cfg;	/* borrowed */
	struct store *st;		/* borrowed */
	struct log *log;		/* borrowed */
	sip_cdr_h *cdrh;
	void *cdr_arg;

	pthread_t thread;
	pthread_mutex_t lock;		/* start-up hand-shake */
	pthread_cond_t cond;
	bool start_done;
	int start_err;

	/* The one way into the SIP thread (sip_cmd.c): any thread pushes
	 * typed copies, the su_root watches its fd. The relay's workers
	 * push their timeouts, the control thread its commands. */
	struct mqueue *cmdq;
	atomic_bool stop_asked;		/* sip_stop(): set, then wake cmdq */

	/* borrowed; its timeout handler pushes call cookies into cmdq from
	 * the relay's worker threads (sip_media.c) */
	struct relay *relay;
	/* borrowed, immutable: what maskd plays (sip_announce.c); NULL
	 * = none loaded, nothing is announced */
	const struct prompt_set *prompts;

	struct sip_counters counters;
	struct metrics *metrics;	/* borrowed; sip_metrics_register() */

	/* ---- SIP thread only ---- */
	su_root_t *root;
	nta_agent_t *agent;
	/* malloc'd: the parser nta uses, sofia's with via_class for Via
	 * (sip_via.c) */
	msg_mclass_t *mclass;
	struct sip_via_hclass via_class;
	su_wait_t cmd_wait;
	int cmd_index;			/* su_root_register() index; 0 = none */
	uint64_t media_cookie;		/* the last one given to a call */
	su_timer_t *stats_timer;
	uint64_t nta_bad_seen;		/* nta's bad messages, last sample */
	su_timer_t *stop_timer;
	struct store_reader *reader;
	bool stopping;

	struct flood *flood;		/* per-source limit (sip_guard.c) */
	struct tbucket cps;		/* [sip] cps */
	struct tbucket *trunk_cps;	/* [trunk.X] cps, by trunk index */

	char host[CONFIG_HOST_SIZE + 2];	/* our host in URIs ([v6]) */
	char port[8];				/* our port, decimal */
	char tls_host[CONFIG_HOST_SIZE + 2];	/* the same for TLS */
	char tls_port[8];			/* "" = no TLS */
	char gw_host[CONFIG_HOST_SIZE + 2];	/* gateway host in URIs */
	enum sip_tp gw_tp;
	int64_t auth_warned_ms;		/* last warning of sip_auth_failed() */
	/* sofia-sip's certificate directory (tlsconf.h): made by
	 * sip_start(), read when the SIP thread adds the TLS transport,
	 * removed by sip_start() once the thread has started */
	char tls_dir[TLSCONF_DIR_SIZE];

	struct sip_call *calls;		/* every live call */
	struct sip_call *busy[SIP_BUSY_BUCKETS];	/* by session id */
	struct sip_call *media[SIP_MEDIA_BUCKETS];	/* by cookie */
};

/* Where a call stands; see sip_call.c for the transitions. */
enum sip_call_state {
	SIP_CALL_EARLY = 0,	/* INVITE sent to the callee, no final yet */
	SIP_CALL_ANSWERED,	/* 2xx relayed to the caller, its ACK awaited */
	SIP_CALL_CONFIRMED,	/* both legs up */
	SIP_CALL_ZOMBIE,	/* caller done; the callee's final awaited */
};

struct sip_leg;

/*
 * One in-dialog request relayed from one leg to the other (re-INVITE,
 * UPDATE, INFO, OPTIONS): the server transaction we answer and the client
 * transaction whose answer we relay (sip_forward.c). Owned by its call.
 */
struct sip_fwd {
	struct sip_fwd *next;
	struct sip_call *call;
	struct sip_leg *from;		/* the leg it came on */
	nta_incoming_t *irq;		/* on that leg */
	nta_outgoing_t *orq;		/* on the other leg */
	bool is_invite;
	bool acked;			/* 2xx ACKed on the other leg */
	bool cancelled;			/* the sender CANCELled it */
	bool auth_retried;		/* orq went again with credentials */
};

/*
 * The RFC 4028 session timer of one leg, negotiated on that leg alone
 * (sip_timer.c): maskd is the UAS of an inbound leg's INVITE and the UAC
 * of an originated leg's, and either side may refresh. Part of its leg.
 */
struct sip_st {
	uint32_t interval_s;		/* 0: no session timer on the leg */
	uint32_t min_s;			/* the party's Min-SE (422); 0: none */
	bool we_refresh;		/* maskd refreshes; else the party */
	bool peer_update;		/* the party allows UPDATE */
	bool peer_timer;		/* the party supports "timer" */
	su_timer_t *timer;		/* refresh (ours) or expiry (theirs) */
	nta_outgoing_t *orq;		/* our refresh, until answered */
	bool retried;			/* a 422 was answered with a retry */
	bool auth_retried;		/* orq went again with credentials */
	char *sdp;			/* malloc'd: the last SDP maskd sent
					 * the party on this leg */
	char *peer_sdp;			/* malloc'd: the last SDP the party
					 * sent, as it came */
};

/*
 * What a caller hears when the gateway's authentication fails (the
 * gateway refused our credentials, or wants some we do not have): 403,
 * as RFC 3398 interworking gives it (401/407 -> Q.850 cause 21 "call
 * rejected" -> 403) and Asterisk does. FreeSWITCH maps the same cause 21
 * to 603, but a 6xx tells the carrier the callee declined everywhere; a
 * 5xx would send it rerouting to a trunk that fails the same way.
 */
#define SIP_AUTH_FAIL_STATUS 403

/*
 * Digest authentication towards the gateway on an originated leg
 * (sip_auth.c): sofia's client authenticators, holding the gateway's
 * challenges and our credentials (as HA1, never the password). Made on
 * the leg's first challenge; part of its leg, released by
 * sip_auth_free().
 */
struct sip_auth {
	su_home_t *home;		/* NULL: never challenged */
	auth_client_t *auc;		/* in home */
	bool invite_retried;		/* our INVITE went again with them */
};

/*
 * Reliable provisional responses (RFC 3262, "100rel") of one leg
 * (sip_prack.c). On an inbound leg maskd is the UAS of the party's
 * INVITE and sends it 18x reliably when it asked for them; on an
 * originated leg maskd is the UAC of its own INVITE and PRACKs the
 * party's reliable 18x itself. No PRACK and no RSeq/RAck ever crosses.
 * At most one reliable 18x of ours awaits its PRACK at a time; what comes
 * meanwhile is held here, so nta never queues two (its queue lets a 2xx
 * overtake an unacknowledged 18x). Part of its leg; sip_prack_free()
 * releases it.
 */
struct sip_prack {
	/* maskd the UAS (an inbound leg) */
	bool supported;		/* the party's INVITE: Supported: 100rel */
	bool required;		/* ... Require: 100rel: every 18x reliably */
	bool offered;		/* ... it carried an offer (SDP) */
	nta_reliable_t *rel;	/* our reliable 18x until PRACKed/flushed */
	msg_t *next;		/* the next reliable 18x, held until then */
	bool next_sdp;		/* ... it carries SDP */
	msg_t *final;		/* our 2xx, held until then */
	/* maskd the UAC (an originated leg) */
	nta_outgoing_t *orq;	/* our PRACK, until answered */
};

/* What a leg is to maskd. */
enum sip_leg_role {
	SIP_LEG_NONE = 0,	/* not (or not yet) part of its call */
	SIP_LEG_INBOUND,	/* a carrier's INVITE: maskd is its UAS */
	SIP_LEG_OUTBOUND,	/* maskd's INVITE to the gateway: its UAC */
};

/* The legs a call may bridge, one per relay side (enum relay_leg). */
#define SIP_CALL_LEGS 2

/*
 * One leg of a call: one dialog with one party, with its own Call-ID,
 * tags and CSeq space, and everything negotiated on it alone (session
 * timer, 100rel, digest authentication). A leg is the relay side facing
 * its party (leg->side indexes call->legs). Made by sip_leg_inbound()
 * and sip_leg_accept() (a carrier's INVITE) or by sip_leg_originate()
 * (maskd calls out), released with its call by sip_leg_free()
 * (sip_leg.c). Owned by the SIP thread, part of its call.
 */
struct sip_leg {
	struct sip_call *call;
	enum sip_leg_role role;
	enum relay_leg side;		/* legs[side]; the relay side facing
					 * the party */
	nta_leg_t *dialog;		/* NULL: none (yet, or any more) */
	enum sip_tp tp;			/* the transport the party is on */
	char contact[SIP_URI_SIZE];	/* our Contact towards the party */
	char target[E164_SIZE];		/* originated: the number called */

	nta_incoming_t *irq_invite;	/* inbound: the party's INVITE,
					 * until its ACK */
	nta_outgoing_t *orq_invite;	/* originated: our INVITE */
	bool answered;			/* originated: the party sent a 2xx */
	bool acked;			/* ... and we ACKed it */

	struct sdp_origin origin;	/* the o= line the party is shown */
	struct sip_st st;		/* RFC 4028 */
	struct sip_prack prack;		/* RFC 3262 */
	struct sip_auth auth;		/* originated: towards the gateway */
};

/*
 * One call: its legs, bridged by the relay call. A call is born with its
 * inbound leg (side A, the caller); a side whose leg has role
 * SIP_LEG_NONE has no party yet, and sip_leg_originate() gives it one
 * (side B, the callee: today at once, from sip_call_start()). Owned by
 * the SIP thread, listed in sip->calls, freed by sip_call_free().
 */
struct sip_call {
	struct sip *s;
	struct sip_call *next, **prev;	/* sip->calls */
	struct sip_call *busy_next;	/* sip->busy bucket */
	bool busy_listed;

	enum sip_call_state state;
	struct cdr cdr;
	bool cdr_sent;

	char vn[E164_SIZE];

	struct sip_leg legs[SIP_CALL_LEGS];	/* [enum relay_leg] */
	bool ringing_told;		/* call.ringing posted (events) */

	struct sip_fwd *fwds;		/* in-dialog requests being relayed */

	su_timer_t *ring_timer;
	su_timer_t *limit_timer;
	su_timer_t *zombie_timer;
	uint32_t limit_s;		/* call time limit; 0 = none */

	/* the call's media (sip_media.c): from routing until its CDR */
	struct relay_call *media;	/* NULL: none, or freed */
	uint64_t cookie;		/* what the relay reports it by */
	struct sip_call *media_next;	/* sip->media bucket */

	/* an announcement (sip_announce.c): maskd is the media endpoint
	 * of the one leg; NULL: a bridged call */
	const struct prompt *announce;
	uint16_t announce_code;		/* the final response after it */
	bool cdr_none;			/* no session: no CDR goes out */
};

/* The leg the call came in on (maskd its UAS). */
static inline struct sip_leg *sip_call_inbound(struct sip_call *c)
{
	return &c->legs[RELAY_LEG_A];
}

/*
 * sip_call_leg_other() - the leg @leg is bridged to: where what comes on
 * @leg is forwarded. Its role is SIP_LEG_NONE while the call has one leg.
 */
static inline struct sip_leg *sip_call_leg_other(struct sip_leg *leg)
{
	return &leg->call->legs[leg->side == RELAY_LEG_A ? RELAY_LEG_B
							 : RELAY_LEG_A];
}

/* ---- sip.c ---- */

/*
 * sip_stopping() - sip_stop() asked: end every call, then leave the
 * loop after a grace period for the BYEs. SIP thread; idempotent.
 */
void sip_stopping(struct sip *s);

/* ---- sip_cmd.c: the typed command queue into the SIP thread ---- */

/* What crosses into the SIP thread. Every message is a copy. */
enum sip_cmd_id {
	SIP_CMD_RTP_TIMEOUT = 1,	/* uint64_t: a relay call's cookie */
	SIP_CMD_SESSION_END,		/* struct sip_cmd_session_end */
	SIP_CMD_PLAY_DONE,		/* struct sip_cmd_play_done */
};

/* A relay worker finished playing into a leg (relay_play_done_h). */
struct sip_cmd_play_done {
	uint64_t cookie;		/* the relay call's */
	int leg;			/* enum relay_leg */
	int err;
};

struct sip_cmd_session_end {
	uint8_t session_id[STORE_ID_LEN];
	char reason[CDR_REASON_SIZE];
};

/* sip_cmd_open() - s->cmdq, before the thread starts; sip_cmd_close()
 * frees it (and what is still in it) after the thread has ended. */
int sip_cmd_open(struct sip *s);
void sip_cmd_close(struct sip *s);

/* sip_cmd_listen() - watch s->cmdq's fd from the su_root;
 * sip_cmd_unlisten() undoes it. SIP thread. */
int sip_cmd_listen(struct sip *s);
void sip_cmd_unlisten(struct sip *s);

/* ---- sip_route.c ---- */

/*
 * sip_route_invite() - an out-of-dialog INVITE: check the source, find
 * the session and start the call. Returns 0 when the INVITE is taken care
 * of (answered or routed), else the status nta should answer with.
 */
int sip_route_invite(struct sip *s, nta_incoming_t *irq, sip_t const *sip);

/*
 * sip_route_source_ok() - true when the request's source address is in
 * some trunk's sources; *trunkp (may be NULL) gets that trunk.
 */
bool sip_route_source_ok(struct sip *s, nta_incoming_t *irq,
			 const struct config_trunk **trunkp);

/*
 * sip_route_normalise() - @in (a URI user part) as E.164 under trunk @t's
 * rules (@t may be NULL: no national rule) into @out. Returns 0 or
 * EINVAL.
 */
int sip_route_normalise(const struct config_trunk *t, const char *in,
			char out[E164_SIZE]);

/* ---- sip_via.c ---- */
/*
 * sip_via_open() - s->mclass: sofia's SIP parser, but the top Via of every
 * request read is made to send responses to its source address and port
 * (received=, rport=, no maddr) before nta sees it. For NTATAG_MCLASS;
 * freed by sip_via_close() once the agent is gone (safe on a partial
 * open). Returns 0, ENOMEM, or ENOENT when sofia's class table is not
 * what it was built for.
 */
int sip_via_open(struct sip *s);
void sip_via_close(struct sip *s);

/* ---- sip_guard.c ---- */

/* sip_guard_open() - the flood table and CPS buckets per s->cfg; undone
 * by sip_guard_close() (safe on a partial open). Returns 0 or ENOMEM. */
int sip_guard_open(struct sip *s);
void sip_guard_close(struct sip *s);

/*
 * sip_guard_admit() - the per-source flood limit and the scanner
 * User-Agents, for an out-of-dialog request nta has not made a
 * transaction for. True: go on. False: refused, counted, and @msg is
 * gone (freed, or answered 503 statelessly per [flood] action).
 */
bool sip_guard_admit(struct sip *s, msg_t *msg, sip_t const *sip);

/*
 * sip_guard_cps_ok() - take a token from trunk @t's (may be NULL) and the
 * global calls-per-second bucket for a new INVITE. True: go on. False:
 * @irq was answered 503 with Retry-After and destroyed (counted).
 */
bool sip_guard_cps_ok(struct sip *s, const struct config_trunk *t,
		      nta_incoming_t *irq);

/* ---- sip_call.c: the call - create, route, bridge, end ---- */

/*
 * sip_call_start() - a call for a routed INVITE: its inbound leg, and the
 * leg it originates towards the other party. On success the call owns
 * @irq; on error the caller still does and must answer it.
 */
int sip_call_start(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		   const struct session *sess, const char *caller);

/* sip_call_link() - list @c in s->calls and count it; the call is
 * routed. */
void sip_call_link(struct sip_call *c);

/* sip_call_bind_inbound() - answers on the INVITE transaction of @c's
 * inbound leg (ACK, CANCEL, timeouts) go to the call from now on. */
void sip_call_bind_inbound(struct sip_call *c);

/* sip_call_busy() - true when session @id has a live call. */
bool sip_call_busy(struct sip *s, const uint8_t id[STORE_ID_LEN]);

/* sip_call_find_session() - the live call of session @id, or NULL. */
struct sip_call *sip_call_find_session(struct sip *s,
				       const uint8_t id[STORE_ID_LEN]);

/*
 * sip_call_end() - maskd ends @c: BYE both legs when answered, else 480
 * to the caller and CANCEL to the callee; CDR hangup "maskd" with
 * @reason. May free @c.
 */
void sip_call_end(struct sip_call *c, const char *reason);

/* sip_call_busy_remove() - session of @c takes calls again; idempotent. */
void sip_call_busy_remove(struct sip_call *c);

/* sip_call_stop_all() - end every call now (shutdown); CDRs go out. */
void sip_call_stop_all(struct sip *s);

/*
 * sip_call_rtp_timeout() - the relay saw no media on @c for its timeout:
 * BYE both legs (CANCEL the callee when still ringing), CDR reason
 * "rtp_timeout". May free @c.
 */
void sip_call_rtp_timeout(struct sip_call *c);

/*
 * sip_call_hangup() - BYE every leg of @c but @except (NULL: every one;
 * the leg that just said BYE itself, or one without a dialog to BYE),
 * write the CDR (@who, @reason) and free @c.
 */
void sip_call_hangup(struct sip_call *c, struct sip_leg *except,
		     enum cdr_hangup who, const char *reason);

/*
 * sip_call_cancel() - end @c before it is answered: @status to the
 * caller, CANCEL on the originated leg and wait (ZOMBIE) for its final
 * answer. The CDR goes out now. May free @c.
 */
void sip_call_cancel(struct sip_call *c, int status, enum cdr_hangup who,
		     const char *reason);

/*
 * sip_call_free() - release everything @c holds in nta, sofia and the
 * relay, and @c. Safe from inside any callback of the call.
 */
void sip_call_free(struct sip_call *c);

/*
 * sip_call_on_outbound() - the nta_response_f of an originated leg's
 * INVITE (@magic: the leg): progress, answer and failure bridged to the
 * inbound leg.
 */
int sip_call_on_outbound(void *magic, nta_outgoing_t *orq,
			 sip_t const *sip);

/*
 * sip_call_offering() - true while an offer of any leg is in flight
 * (a relayed re-INVITE or UPDATE, or a refresh of ours): no new one may
 * start. (sip_timer.c)
 */
bool sip_call_offering(const struct sip_call *c);

/* ---- sip_announce.c: maskd answers and tells why ---- */

/*
 * sip_announce() - the INVITE @irq (@sip) cannot be routed: play prompt
 * @id to the caller (183 and early media, or 200 with announce_answer),
 * then answer @code (or BYE). @sess: the ended session, NULL for an
 * unknown pair; @caller the caller's number (E.164). Returns 0 when the call took @irq over, else the status
 * nta answers with (@code itself when there is nothing to play into:
 * no offer, no prompts; 488 for an offer without G.711; 503 no ports).
 */
int sip_announce(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		 const struct session *sess, const char *caller,
		 enum prompt_id id, int code);

/* sip_announce_done() - the relay reports @c's prompt over (@err 0) or
 * never started: the final response or BYE. May free @c. */
void sip_announce_done(struct sip_call *c, int err);

/* ---- sip_cdr.c: the call record ---- */

/*
 * sip_call_cdr() - the caller's side of @c is over: the CDR goes out
 * (once), with the relay call's counters, and the session takes its next
 * call.
 */
void sip_call_cdr(struct sip_call *c, uint16_t code, enum cdr_hangup who,
		  const char *reason);

/* sip_cdr_failure_status() - what the caller hears of the callee's @st. */
int sip_cdr_failure_status(int st);

/* sip_cdr_failure_reason() - the CDR reason of the callee's failure @st. */
const char *sip_cdr_failure_reason(int st);

/* ---- sip_leg.c: a leg's lifetime, its dialog, sending on it ---- */

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

/* sip_leg_ack() - ACK the 2xx that answered @orq on @leg, with @sdp. */
void sip_leg_ack(struct sip_leg *leg, nta_outgoing_t *orq, sip_t const *src,
		 const char *sdp);

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
