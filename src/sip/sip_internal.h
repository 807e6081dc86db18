/*
 * sip_internal.h - what the files of src/sip/ share: the SIP thread's
 * state (struct sip: one SIP worker; several share a struct sip_group,
 * sip_worker.h), one call (struct sip_call) and its legs (struct
 * sip_leg), and the helpers each file offers the others; a leg's dialog
 * machinery (leg, forward, timer, auth, PRACK, media, TLS, messages) is
 * declared in sip_dialog.h, included at the end.
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
struct sip_group;

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
#include <sofia-sip/nta_stateless.h>
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

/* The SIP thread's timer slack (sip.c): how late the kernel may end its
 * loop's waits to serve several timers in one wake-up. */
#define SIP_TIMER_SLACK_NS (20 * 1000 * 1000)

/* Timers due within this many ms run before the loop's wait, that much
 * early, rather than spin a sub-millisecond wait (sip.c). */
#define SIP_TIMER_EARLY_MS 1

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

/* A Via branch of ours or of a party's, as far as maskd copies one. */
#define SIP_BRANCH_SIZE 128

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
	/* the workers' group (sip_worker.h) and this one's index in it;
	 * set before the thread starts */
	struct sip_group *grp;
	unsigned idx;
	uint16_t listen_port;		/* UDP and TCP; listen's host */
	uint16_t tls_listen_port;	/* 0 = no TLS */

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
	/* borrowed; set once by sip_recorder_set() (sip_rec.c); NULL:
	 * nothing is recorded */
	_Atomic(struct recorder *) rec;
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
	uint64_t nta_retry_seen;	/* retransmissions received, same */
	struct sip_overload *overload;	/* sip_overload.c; NULL: off */
	su_timer_t *stop_timer;
	struct store_reader *reader;
	bool stopping;
	/* sip_cmd_ready(): false, OPTIONS get 503 (calls still routed) */
	bool unready;
	/* PATCH /v1/sip/workers/{worker} (sip_worker.c): new calls and
	 * OPTIONS get 503, the calls up are served to their end */
	bool draining;

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

	struct sip_hook *hook;		/* sip_hook.c; NULL: none set */
	struct sip_miss *miss;		/* sip_miss.c; NULL: none set */

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
	SIP_CALL_HOOK,		/* INVITE parked: the routing hook is asked
				 * (sip_hook.c); 100 Trying sent, no leg
				 * made yet */
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
	enum sip_tp tp;			/* the transport the party is on;
					 * our Contact towards the party is
					 * made from it (sip_leg_contact()) */
	char target[E164_SIZE];		/* originated: the number called */

	nta_incoming_t *irq_invite;	/* inbound: the party's INVITE,
					 * until its ACK */
	nta_outgoing_t *orq_invite;	/* originated: our INVITE */
	bool answered;			/* originated: the party sent a 2xx */
	bool acked;			/* ... and we ACKed it */
	/* the last INVITE of ours on the leg whose 2xx we ACKed (0: none)
	 * and whether that ACK carried st.sdp: enough to ACK its 2xx
	 * again when the party retransmits it (sip_leg_reack()) */
	uint32_t ack_cseq;
	bool ack_sdp;

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
	/* its session's claim in the workers' group (sip_worker.c):
	 * claim_next under the group's claim_lock */
	bool claimed;
	uint8_t claim_id[STORE_ID_LEN];
	struct sip_call *claim_next;

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
	bool cdr_none;			/* no CDR goes out: no session and
					 * not answered by maskd (a session-less
					 * record has a zero session id) */

	/* a request-a-call, or a call with participants (sip_rac.h);
	 * NULL: a plain inbound call */
	struct sip_rac *rac;
	/* recording (sip_rec.c) */
	bool record;			/* the session's record flag */
	struct rec_call *rec;		/* from answer to media's end */
	uint8_t rec_playing;		/* legs hearing `recorded`, bits */
	struct sip_hook_wait *hook;	/* sip_hook.c: parked for the hook,
					 * or routed after it; NULL: never */
	/* a PIN prompt (sip_pin.c): maskd answered a caller who is no
	 * party and asks for a PIN; NULL: none. Kept once bridged. */
	struct sip_pin *pin;
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
	SIP_CMD_CALL,			/* struct sip_call_req (sip.h) */
	SIP_CMD_HOOK_ANSWER,		/* struct sip_hook_answer */
	SIP_CMD_HOOK_SET,		/* struct sip_cmd_hook_set */
	SIP_CMD_DIGIT,			/* struct sip_cmd_digit */
	SIP_CMD_READY,			/* bool: sip_cmd_ready() */
	SIP_CMD_MISS_SET,		/* struct sip_cmd_miss_set */
	SIP_CMD_MISS_ANSWER,		/* struct sip_cmd_miss_answer */
};

struct sip_cmd_miss_answer {
	uint64_t token;
	bool found;
};

struct sip_cmd_miss_set {
	sip_miss_h *h;
	void *arg;
	uint32_t timeout_ms;
};

struct sip_cmd_hook_set {
	sip_hook_h *h;
	void *arg;
};

/* A relay worker heard a DTMF digit on a PIN prompt's leg (sip_pin.c). */
struct sip_cmd_digit {
	uint64_t cookie;		/* the relay call's */
	char digit;			/* '0'-'9', '*', '#', 'A'-'D' */
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

/* sip_route_again() - sip_route_invite() for an INVITE parked on a
 * cache miss, once PostgreSQL was asked (sip_miss.c): no caps counted
 * again, no second question. */
int sip_route_again(struct sip *s, nta_incoming_t *irq, sip_t const *sip);

/*
 * sip_route_refuse() - an INVITE with no active session for its pair
 * (@sess: the ended one, or NULL): refused with @code or, with @action
 * announce, told why first (@prompt); call.unrouted goes out. Returns as
 * sip_route_invite().
 */
int sip_route_refuse(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		     const struct session *sess, const char *caller,
		     const char *vn, int action, enum prompt_id prompt,
		     int code);

/*
 * sip_route_unrouted() - call.unrouted for @caller -> @vn, answered
 * @code (@reason: NULL or how); @call_id (NULL: none) the record an
 * announcement filed. Returns @code.
 */
int sip_route_unrouted(struct sip *s, const char *caller, const char *vn,
		       int code, const char *reason, const uint8_t *call_id);

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

/* sip_guard_open() - the group's flood table and CPS buckets per @cfg;
 * undone by sip_guard_close() (safe on a partial open). Returns 0 or
 * ENOMEM. Before any worker runs. */
int sip_guard_open(struct sip_group *g, const struct config *cfg);
void sip_guard_close(struct sip_group *g);

/*
 * sip_guard_admit() - the per-source flood limit and the scanner
 * User-Agents, for an out-of-dialog request nta has not made a
 * transaction for. True: go on. False: refused, counted, and @msg is
 * gone (freed, or answered 503 statelessly per [flood] action).
 */
bool sip_guard_admit(struct sip *s, msg_t *msg, sip_t const *sip);

/* sip_guard_flood_blocked() - count one request from @sa against the
 * per-source flood limit (if any, trunks exempt per config); true when
 * the source is blocked. sip_guard_scanner_ua() - whether User-Agent
 * @ua is a scanner's. Their halves of sip_guard_admit(), for the
 * overload front (sip_front.c). */
bool sip_guard_flood_blocked(struct sip *s, const struct sockaddr *sa);
bool sip_guard_scanner_ua(const struct sip *s, const char *ua);

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

/*
 * sip_call_new() - a call struct for an INVITE received now (its CDR id
 * made, counted live, linked nowhere); NULL on ENOMEM or EIO.
 * sip_call_setup() - route @c to session @sess as sip_call_start() does
 * (@c may be parked: linked, in state SIP_CALL_HOOK, its inbound
 * irq_invite NULL again). On error @c is left for the caller to free
 * and @irq to answer. A session with an all-zero id (a hook's connect
 * without create_session) files no CDR and takes no busy slot.
 */
struct sip_call *sip_call_new(struct sip *s);
int sip_call_setup(struct sip_call *c, nta_incoming_t *irq, sip_t const *sip,
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

/* sip_call_busy_add() - @c is the live call of its session (cdr's
 * session_id) from now on. */
void sip_call_busy_add(struct sip_call *c);

/* sip_call_ringing() - true while a leg maskd originated for @c has no
 * final answer yet: it is CANCELled, never BYEd. */
bool sip_call_ringing(const struct sip_call *c);

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
 * sip_call_progress() - call.initiated/ringing/answered (@kind) of @c for
 * the events outbox: a copy of the record so far to the CDR handler.
 */
void sip_call_progress(struct sip_call *c, enum cdr_kind kind);

/* sip_call_limit_arm() - @c's call time limit (c->limit_s) runs from
 * now; nothing when it has none. */
void sip_call_limit_arm(struct sip_call *c);

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
 * unknown pair; @caller the caller's number and @vn the number called
 * (E.164). Returns 0 when the call took @irq over, and then @call_id
 * (may be NULL) gets the id of its record: the session's, or without
 * @sess a session-less one keeping @caller and @vn (store_cdr.c). Else
 * the status nta answers with (@code itself when there is nothing to
 * play into: no offer, no prompts; 488 for an offer without G.711; 503
 * no ports), and no record is filed.
 */
int sip_announce(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		 const struct session *sess, const char *caller,
		 const char *vn, enum prompt_id id, int code,
		 uint8_t *call_id);

/* What maskd answers with when it is the media endpoint, chosen from
 * the caller's offer (sip_announce_answer_sdp()). */
struct sip_announce_codec {
	int pt;			/* PLAYER_PT_PCMU or PLAYER_PT_PCMA */
	int te_pt;		/* telephone-event/8000; -1: not offered */
};

/*
 * sip_announce_answer_sdp() - maskd's own answer to the offer @body
 * (@len bytes) of @c's inbound leg, naming only rtp.advertise and relay
 * side A's port, into @out: PCMU or PCMA (the offer's first) and
 * telephone-event/8000 when offered, in *cc. EPROTO: no G.711 (488);
 * EINVAL: not SDP; EMSGSIZE.
 */
int sip_announce_answer_sdp(struct sip_call *c, const char *body,
			    size_t len, struct sip_announce_codec *cc,
			    char *out, size_t size);

/* sip_announce_abandon() - a call maskd was to answer itself (an
 * announcement, a PIN prompt) could not be set up (@err): free it and
 * leave its INVITE to the caller, who answers it with the status this
 * returns (488 no G.711, 503 no ports, else 500), counted. */
int sip_announce_abandon(struct sip_call *c, int err);

/* sip_announce_remote() - side A sends to where the caller's offer
 * (@sip) says. 0, ENOMEM or EPROTO. */
int sip_announce_remote(struct sip_call *c, sip_t const *sip);

/* sip_announce_on_done() - relay_play_done_h for every prompt played on
 * a call (@arg: the struct sip): pushes SIP_CMD_PLAY_DONE. Worker
 * thread. */
void sip_announce_on_done(uint64_t cookie, enum relay_leg leg, int err,
			  void *arg);

/* sip_announce_done() - the relay reports @c's prompt over (@err 0) or
 * never started: the final response or BYE. May free @c. */
void sip_announce_done(struct sip_call *c, int err);

/* ---- sip_rec.c: recording ---- */

/* sip_rec_answered() - @c is answered: record it if its session says
 * so (and [recording] announce: the prompt to both first). */
void sip_rec_answered(struct sip_call *c);

/* sip_rec_stop() - @c's media ends: so does its recording. Idempotent. */
void sip_rec_stop(struct sip_call *c);

/* sip_rec_play_done() - the `recorded` prompt to @leg is over. */
void sip_rec_play_done(struct sip_call *c, int leg);

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

#include "sip_dialog.h"
#include "sip_rac.h"

#endif
