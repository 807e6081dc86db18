/*
 * sip_internal.h - what the files of src/sip/ share: the SIP thread's
 * state (struct sip), one call (struct sip_call) and the helpers each file
 * offers the others.
 *
 * Everything declared here belongs to the SIP thread and is touched by no
 * other, except the counters in struct sip_counters (relaxed atomics, read
 * by sip_stats_get() from any thread) and the start-up hand-shake fields
 * of struct sip (under its mutex).
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

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include "maskd/config.h"
#include "maskd/e164.h"
#include "maskd/flood.h"
#include "maskd/log.h"
#include "maskd/relay.h"
#include "maskd/sdp.h"
#include "maskd/sip.h"
#include "maskd/store.h"
#include "maskd/tlsconf.h"

/* The methods maskd handles on each leg; sent as Allow. */
#define SIP_ALLOW_METHODS "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"

/* Session ids with a live call, hashed; a power of two. */
#define SIP_BUSY_BUCKETS 4096

/* Calls with a relay call, by cookie; a power of two. */
#define SIP_MEDIA_BUCKETS 4096

/* What the relay's workers may queue for the SIP thread before a timeout
 * report is lost (and counted): eight bytes each. Asked of the kernel,
 * which may give less (fs.pipe-max-size). */
#define SIP_MEDIA_PIPE_BYTES (1 << 20)

/* How long sip_stop() lets BYEs and CANCELs leave before closing. */
#define SIP_STOP_GRACE_MS 300

/* How often nta's transaction count is copied into the counters. */
#define SIP_STATS_PERIOD_MS 1000

/* A call whose caller is done waits at most this long for the callee's
 * final answer to our CANCEL before it is freed anyway. */
#define SIP_ZOMBIE_MS 70000

/* "sip:" user "@" host:port ";transport=tcp" and some. */
#define SIP_URI_SIZE (CONFIG_HOST_SIZE + 96)

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

/* Relaxed atomics: /metrics reads them from the control thread. */
struct sip_counters {
	atomic_uint_fast64_t calls_live;
	atomic_uint_fast64_t dialogs_live;
	atomic_uint_fast64_t transactions_live;
	atomic_uint_fast64_t calls_total;
	atomic_uint_fast64_t calls_answered;
	atomic_uint_fast64_t rejected_source;
	atomic_uint_fast64_t rejected_unknown;
	atomic_uint_fast64_t rejected_ended;
	atomic_uint_fast64_t rejected_busy;
	atomic_uint_fast64_t malformed;
	atomic_uint_fast64_t nta_malformed;	/* dropped by nta's parser */
	atomic_uint_fast64_t options;
	atomic_uint_fast64_t rejected_ports;
	atomic_uint_fast64_t bad_sdp;
	atomic_uint_fast64_t rtp_timeouts;
	atomic_uint_fast64_t rtp_timeouts_lost;	/* relay workers count it */
	atomic_uint_fast64_t flood_blocked;
	atomic_uint_fast64_t scanner_dropped;
	atomic_uint_fast64_t cps_refused;
};

#define SIP_COUNT(s, name) \
	atomic_fetch_add_explicit(&(s)->counters.name, 1, memory_order_relaxed)
#define SIP_UNCOUNT(s, name) \
	atomic_fetch_sub_explicit(&(s)->counters.name, 1, memory_order_relaxed)

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

	int stop_pipe[2];	/* sip_stop() writes, the SIP thread reads */

	/* borrowed; its timeout handler writes call cookies into
	 * media_pipe from the relay's worker threads (sip_media.c) */
	struct relay *relay;
	int media_pipe[2];

	struct sip_counters counters;

	/* ---- SIP thread only ---- */
	su_root_t *root;
	nta_agent_t *agent;
	su_wait_t stop_wait;
	int stop_index;			/* su_root_register() index; 0 = none */
	su_wait_t media_wait;
	int media_index;		/* the same for media_pipe */
	uint64_t media_cookie;		/* the last one given to a call */
	su_timer_t *stats_timer;
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

/*
 * One in-dialog request relayed from one leg to the other (re-INVITE,
 * UPDATE, INFO, OPTIONS): the server transaction we answer and the client
 * transaction whose answer we relay. Owned by its call.
 */
struct sip_fwd {
	struct sip_fwd *next;
	struct sip_call *call;
	nta_incoming_t *irq;		/* on the leg it came from */
	nta_outgoing_t *orq;		/* on the other leg */
	bool from_a;			/* came from the caller's leg */
	bool is_invite;
	bool acked;			/* 2xx ACKed on the other leg */
	bool cancelled;			/* the sender CANCELled it */
};

/*
 * The RFC 4028 session timer of one leg, negotiated on that leg alone
 * (sip_call.c): maskd is the UAS of the caller's INVITE and the UAC of its
 * own on leg b, and either side may refresh. Owned by its call.
 */
struct sip_st {
	struct sip_call *call;
	enum relay_leg leg;
	uint32_t interval_s;		/* 0: no session timer on the leg */
	uint32_t min_s;			/* the party's Min-SE (422); 0: none */
	bool we_refresh;		/* maskd refreshes; else the party */
	bool peer_update;		/* the party allows UPDATE */
	bool peer_timer;		/* the party supports "timer" */
	su_timer_t *timer;		/* refresh (ours) or expiry (theirs) */
	nta_outgoing_t *orq;		/* our refresh, until answered */
	bool retried;			/* a 422 was answered with a retry */
	char *sdp;			/* malloc'd: the last SDP maskd sent
					 * the party on this leg */
	char *peer_sdp;			/* malloc'd: the last SDP the party
					 * sent, as it came */
};

/*
 * One call: the caller's leg (a) and the callee's leg (b), each its own
 * dialog with its own Call-ID, tags and CSeq space. Owned by the SIP
 * thread, listed in sip->calls, freed by sip_call_free().
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
	char callee[E164_SIZE];

	nta_leg_t *leg_a;		/* dialog with the caller */
	nta_leg_t *leg_b;		/* dialog with the callee */
	enum sip_tp tp_a;		/* how the caller reached us */
	char contact_a[SIP_URI_SIZE];	/* our Contact towards the caller */
	char contact_b[SIP_URI_SIZE];	/* our Contact towards the callee */

	nta_incoming_t *irq_invite;	/* the caller's INVITE, until ACK */
	nta_outgoing_t *orq_invite;	/* our INVITE to the callee */
	bool b_answered;		/* the callee sent a 2xx */
	bool b_acked;			/* ... and we ACKed it */

	struct sip_fwd *fwds;		/* in-dialog requests being relayed */

	su_timer_t *ring_timer;
	su_timer_t *limit_timer;
	su_timer_t *zombie_timer;
	uint32_t limit_s;		/* call time limit; 0 = none */

	/* the call's media (sip_media.c): from routing until its CDR */
	struct relay_call *media;	/* NULL: none, or freed */
	uint64_t cookie;		/* what the relay reports it by */
	struct sip_call *media_next;	/* sip->media bucket */
	struct sdp_origin origin[2];	/* [enum relay_leg]: the o= line
					 * each party is shown */

	struct sip_st st[2];		/* [enum relay_leg]: session timers */
};

/* ---- sip.c ---- */

/* sip_now_ms() - wall-clock milliseconds since the epoch. */
int64_t sip_now_ms(void);

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

/* ---- sip_call.c ---- */

/*
 * sip_call_start() - place the outbound leg for a routed INVITE. On
 * success the call owns @irq; on error the caller still does and must
 * answer it.
 */
int sip_call_start(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		   const struct session *sess, const char *caller);

/* sip_call_busy() - true when session @id has a live call. */
bool sip_call_busy(struct sip *s, const uint8_t id[STORE_ID_LEN]);

/* sip_call_stop_all() - end every call now (shutdown); CDRs go out. */
void sip_call_stop_all(struct sip *s);

/*
 * sip_call_rtp_timeout() - the relay saw no media on @c for its timeout:
 * BYE both legs (CANCEL the callee when still ringing), CDR reason
 * "rtp_timeout". May free @c.
 */
void sip_call_rtp_timeout(struct sip_call *c);

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
 * the other party must receive it: naming only rtp.advertise and the
 * relay port facing that party (sdp.h). Also tells the relay where the
 * party of @from wants its media: every offer and answer, both ways.
 *
 * Returns 0 with *bodyp NULL when @src carries no SDP, 0 with a
 * malloc'd body (the caller frees it), EPROTO when the SDP is unusable
 * or the call has no media any more (counted; the sender gets 488 or
 * the call ends), or ENOMEM.
 */
int sip_media_sdp(struct sip_call *c, sip_t const *src, enum relay_leg from,
		  char **bodyp);

/*
 * sip_media_listen() - register the timeout pipe with the su_root;
 * sip_media_unlisten() undoes it. SIP thread.
 */
int sip_media_listen(struct sip *s);
void sip_media_unlisten(struct sip *s);

/*
 * sip_media_on_timeout() - the relay_timeout_h: runs on a relay WORKER
 * thread and only writes @cookie into s->media_pipe (one atomic write of
 * eight bytes: several workers may write at once). @arg is the sip.
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

/* sip_msg_phrase() - the standard reason phrase of @status. */
const char *sip_msg_phrase(int status);

#endif
