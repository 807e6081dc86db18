/*
 * sip.h - the masking B2BUA: SIP transport, routing, both legs of every
 * call.
 *
 * Runs on its own thread: sip_start() creates it, with a sofia-sip su_root
 * and the nta layer on it. Every call object, dialog, transaction and
 * timer belongs to that thread and is never touched by another. It reads
 * the store through its own store_reader (one lookup per inbound INVITE)
 * and never writes to it: a finished call's record goes out through the
 * sip_cdr_h handler, which must copy it and return at once (main.c posts
 * it to the control thread, the only writer).
 *
 * Workers. With [sip] workers = N there are N such threads, each with its
 * own root, agent, ports (listen, then worker_ports) and calls; a call is
 * its worker's alone. The handle is one for all of them: every function
 * below reaches the worker(s) concerned (src/sip/sip_worker.h), and the
 * handlers given here (CDR, hook, miss, replies) are called from any
 * worker's thread - they already only copy and post. One worker can be
 * drained (new calls refused, its calls served to their end) and resumed
 * at run time (SIP_CALL_OP_WORKER_STATE below). With one worker,
 * everything is as described for "the SIP thread".
 *
 * Media. Every call's RTP and RTCP go through the relay (relay.h): a
 * relay call is allocated when the INVITE is routed (none free: 503) and
 * freed when the call's CDR goes out, its counters in the CDR; every SDP
 * that crosses, offer or answer, either way, is rewritten (sdp.h) to name
 * only rtp.advertise and the relay's ports (unusable SDP: 488). A relay
 * timeout BYEs both legs (CDR reason "rtp_timeout").
 */
#ifndef MASKD_SIP_H
#define MASKD_SIP_H

#include <stdbool.h>
#include <stdint.h>

#include "maskd/config.h"
#include "maskd/e164.h"
#include "maskd/log.h"
#include "maskd/relay.h"
#include "maskd/store.h"

struct sip;
struct prompt_set;

/*
 * sip_cdr_h - a call has ended. Runs on the SIP thread; @c is valid only
 * during the call. Must not block.
 */
typedef void (sip_cdr_h)(const struct cdr *c, void *arg);

/*
 * sip_start() - bind cfg->sip.listen (UDP and TCP) and cfg->sip.tls_listen
 * (TLS, when set; see tlsconf.h for its files) and start the SIP thread.
 * @cfg, @st, @relay, @prompts and @log are borrowed and must outlive the
 * sip (@prompts may be NULL: nothing is announced, every unrouted
 * INVITE gets its code); @relay is started, has no call yet, and is the sip's alone: its
 * timeout handler is replaced (relay_timeout_set()) by the sip's own.
 * Returns 0 once the sockets are bound (so a caller can send at once), or
 * an errno (EADDRINUSE, ...; ENOENT or EINVAL for TLS files that cannot
 * serve, logged) with no thread left running.
 */
int sip_start(struct sip **sp, const struct config *cfg, struct store *st,
	      struct relay *relay, const struct prompt_set *prompts,
	      sip_cdr_h *cdrh, void *arg, struct log *log);

struct recorder;

/*
 * sip_recorder_set() - record the answered calls of sessions with
 * `record` through @r (borrowed; NULL: none) from now on. Any thread,
 * once, after sip_start(); @r must outlive the sip's calls (stop it
 * after sip_stop()).
 */
void sip_recorder_set(struct sip *s, struct recorder *r);

/*
 * sip_stop() - end every call (BYE / CANCEL / final response, each
 * reported through sip_cdr_h), stop the thread and free everything. Each
 * call's relay call is freed (relay_sync() waits until its ports are
 * back), and the relay's timeout handler is cleared: stop the relay only
 * after this. NULL-safe. Call from the thread that called sip_start().
 */
void sip_stop(struct sip *s);

/*
 * Commands into the SIP thread (sip_cmd.c). Any thread; each copies what
 * it needs into the SIP thread's command queue and returns at once - the
 * SIP thread acts on it soon after, never the caller. Each returns 0, or
 * ENOSPC (the queue is full) or ENOMEM: the command is then lost and the
 * caller counts it. @s must be started and not yet stopped.
 */

/*
 * sip_cmd_session_end() - session @id has ended (closed by the API): if
 * one of its calls is up or ringing, maskd ends it - BYE on both legs
 * (480 to a caller still waiting, CANCEL to a ringing callee), CDR
 * hangup "maskd" with @reason (e.g. "session_closed", cut to fit).
 */
int sip_cmd_session_end(struct sip *s, const uint8_t id[STORE_ID_LEN],
			const char *reason);

/*
 * sip_cmd_ready() - whether this node can route calls now; true from
 * sip_start() on. Not ready, maskd answers OPTIONS with 503 (so a front
 * that probes its nodes - conf/kamailio-front.cfg - sends new calls to
 * others) but still routes every call it is sent: in cluster mode a stale
 * cache beats none when every node is stale (PostgreSQL down). Telling
 * the same state again costs one queued message and changes nothing.
 */
int sip_cmd_ready(struct sip *s, bool ready);

/*
 * Calls the API drives (sip_rac.c, sip_conf.c): request-a-call (maskd
 * calls one party of a session from its VN, then the other, and bridges
 * them; RFC 3725 third-party call control with maskd anchoring the media)
 * and participants (a further party called from the same VN and mixed
 * in). The control thread asks with sip_cmd_call(); the SIP thread
 * answers every request exactly once through its @h, from the SIP
 * thread, with a struct sip_reply that @h must copy and hand over (ctl
 * posts it into its own mailbox). A request the queue refuses is never
 * answered (the push returned ENOSPC).
 */

/* The legs a call may have: the two parties and participants. */
#define SIP_CALL_LEGS_MAX 6

enum sip_call_op {
	SIP_CALL_OP_ORIGINATE = 1,	/* request-a-call: o */
	SIP_CALL_OP_GET,		/* the live call @call_id */
	SIP_CALL_OP_HANGUP,		/* every leg, at any stage */
	SIP_CALL_OP_PARTICIPANT_ADD,	/* call @number into it */
	SIP_CALL_OP_PARTICIPANT_REMOVE,	/* BYE (or CANCEL) leg @leg */
	SIP_CALL_OP_WORKER_STATE,	/* worker @worker drains or resumes */
};

/* What a request-a-call needs of its session (ctl copies it). */
struct sip_originate {
	uint8_t session_id[STORE_ID_LEN];
	char first[E164_SIZE];		/* called first; faces relay leg A */
	char second[E164_SIZE];
	char vn[E164_SIZE];
	bool a_first;			/* first is the session's party_a */
	bool record;			/* the session's record flag */
	uint32_t ring_timeout_s;	/* per leg; > 0 */
	uint32_t time_limit_s;		/* from the bridge; 0 = none */
};

struct sip_reply;

/*
 * sip_reply_h - the SIP thread's answer to one sip_cmd_call(). Runs on
 * the SIP thread; @r is valid during the call only. Must not block.
 */
typedef void (sip_reply_h)(const struct sip_reply *r, void *arg);

struct sip_call_req {
	enum sip_call_op op;
	uint64_t token;			/* echoed in the reply */
	sip_reply_h *h;
	void *arg;
	uint8_t call_id[STORE_ID_LEN];	/* all but ORIGINATE */
	struct sip_originate o;		/* ORIGINATE */
	char number[E164_SIZE];		/* PARTICIPANT_ADD */
	unsigned max_participants;	/* PARTICIPANT_ADD: the cap */
	unsigned leg;			/* PARTICIPANT_REMOVE */
	unsigned worker;		/* WORKER_STATE: its index */
	bool drain;			/* WORKER_STATE: drain (else resume) */
};

/* Where one leg of a live call stands, as GET /v1/calls/{id} shows it. */
enum sip_leg_view_state {
	SIP_LEG_VIEW_IDLE = 0,		/* not called yet */
	SIP_LEG_VIEW_CALLING,		/* INVITE out, no 18x */
	SIP_LEG_VIEW_RINGING,		/* 18x */
	SIP_LEG_VIEW_ANSWERED,		/* 2xx: talking (or hearing a prompt) */
	SIP_LEG_VIEW_ENDED,		/* failed or hung up */
};

struct sip_leg_view {
	unsigned id;			/* 0 first party (A), 1 second (B),
					 * 2.. participants */
	enum sip_leg_view_state state;
	uint16_t code;			/* its final answer; 0 = none yet */
	char number[E164_SIZE];		/* participants only; "" else */
};

/* A live call, copied out of the SIP thread. */
struct sip_call_view {
	uint8_t call_id[STORE_ID_LEN];
	uint8_t session_id[STORE_ID_LEN];
	bool api;			/* request-a-call (else inbound) */
	bool a_to_b;			/* party_a called / was called first */
	bool bridged;			/* the two parties talk */
	bool ending;			/* hanging up */
	int64_t start_ms;
	int64_t answer_ms;		/* bridged at; 0 = not yet */
	unsigned n_legs;
	struct sip_leg_view legs[SIP_CALL_LEGS_MAX];
};

/*
 * One SIP worker as the API shows it (GET /v1/sip/workers). Draining, it
 * answers new out-of-dialog INVITEs (and request-a-calls) with 503 and
 * OPTIONS with 503, so a probing front moves new calls to the others,
 * and serves the calls it has to their end; resumed, it takes new calls
 * again.
 */
struct sip_worker_view {
	unsigned worker;		/* index: 0 is [sip] listen */
	uint16_t port;			/* UDP and TCP */
	uint16_t tls_port;		/* 0: no TLS */
	bool draining;
	uint64_t calls_live;		/* calls still up on it */
	uint64_t calls_total;		/* inbound INVITEs it routed */
};

/*
 * The answer. @err: 0, or for ORIGINATE EBUSY (the session has a call
 * up), ENOSPC (no relay ports), ECANCELED (maskd stopping), ESHUTDOWN
 * (every SIP worker is draining); for the
 * others ENOENT (no live call with that id; it may have ended), for
 * PARTICIPANT_ADD EALREADY (the parties are not talking yet), ENOSPC (at
 * max_participants, or no ports), EPROTO (the parties' codec cannot be
 * mixed), for PARTICIPANT_REMOVE ESRCH (no such participant leg).
 * @view: the call after the request (when @err is 0); @leg: the
 * participant's leg id (PARTICIPANT_ADD); @worker: WORKER_STATE's
 * worker after the change.
 */
struct sip_reply {
	enum sip_call_op op;
	uint64_t token;
	int err;
	unsigned leg;
	struct sip_call_view view;
	struct sip_worker_view worker;	/* WORKER_STATE: after the change */
};

/*
 * sip_cmd_call() - queue @req (copied) for the SIP thread, which answers
 * it through req->h. Returns 0, ENOSPC or ENOMEM (then no answer comes).
 */
int sip_cmd_call(struct sip *s, const struct sip_call_req *req);

/*
 * Taking one SIP worker out of service and back (sip_worker.c). The
 * change is a sip_cmd_call() with op SIP_CALL_OP_WORKER_STATE: it goes
 * into that worker's own queue (ENOENT: no such worker) and the worker
 * answers with its view once it has changed. Draining is allowed for
 * every worker, the only one too: a node behind a front with other
 * nodes (the cluster) is drained as a whole before maintenance.
 */

/* sip_workers() - how many SIP workers there are. Any thread. */
unsigned sip_workers(const struct sip *s);

/*
 * sip_worker_view() - worker @i as its counters show it now, into @v.
 * Any thread (relaxed reads of what /metrics reads). Returns 0 or ENOENT.
 */
int sip_worker_view(struct sip *s, unsigned i, struct sip_worker_view *v);
/* ---- the call-routing hook ([hooks]; sip_hook.c) ---- */

/*
 * With [hooks] route_url set, an INVITE the hook must decide ([hooks]
 * route) gets 100 Trying at once and waits, parked, while the hook's
 * question (struct sip_hook_ask, a copy) goes to its handler; the answer
 * comes back through the command queue (sip_cmd_hook_answer()). A caller
 * that CANCELs meanwhile gets 487 and the late answer is ignored; an
 * answer that never comes is an error after timeout_ms and a second.
 */
enum sip_hook_action {
	SIP_HOOK_ERROR = 0,	/* no usable answer: [hooks] on_error */
	SIP_HOOK_CONNECT,	/* call @to from the VN */
	SIP_HOOK_ALLOW,		/* route as the session says */
	SIP_HOOK_REJECT,	/* @status to the caller */
	SIP_HOOK_ANNOUNCE,	/* prompt @prompt, then @status */
};

/* What the SIP thread asks about one parked INVITE. */
struct sip_hook_ask {
	uint64_t token;			/* the parked INVITE's; echoed back */
	uint8_t call_id[STORE_ID_LEN];	/* the call's (its CDR's) id */
	char from[E164_SIZE];		/* the caller */
	char to[E164_SIZE];		/* the VN dialled */
	char trunk[CONFIG_NAME_SIZE];	/* the trunk it came on */
	bool has_session;		/* an active session matched */
	uint8_t session_id[STORE_ID_LEN];
	char other_party[E164_SIZE];	/* whom the session would call */
};

/* The session a connect created (create_session), for its call. */
struct sip_hook_session {
	uint8_t id[STORE_ID_LEN];
	char party_a[E164_SIZE];
	char party_b[E164_SIZE];
	uint32_t call_time_limit_s;
};

/* The decision about one parked INVITE. */
struct sip_hook_answer {
	uint64_t token;			/* the ask's */
	enum sip_hook_action action;
	uint16_t status;		/* REJECT: 400-699; ANNOUNCE: after
					 * the prompt (0: unknown_code) */
	char to[E164_SIZE];		/* CONNECT: E.164 */
	int prompt;			/* ANNOUNCE: enum prompt_id */
	bool has_session;		/* CONNECT: @session was created */
	struct sip_hook_session session;
};

/*
 * sip_hook_h - a parked INVITE's question. Runs on the SIP thread; @q
 * is valid only during the call: copy it and return at once. Returns 0,
 * or an errno (the question is lost: on_error applies at once).
 */
typedef int (sip_hook_h)(const struct sip_hook_ask *q, void *arg);

/*
 * sip_hook_set() - who answers the hook's questions from now on (through
 * the command queue, so any thread; until it lands, a hook question is
 * an error). Returns as the sip_cmd_*() below.
 */
int sip_hook_set(struct sip *s, sip_hook_h *h, void *arg);

/*
 * sip_cmd_hook_answer() - the hook's decision @a (copied) for the parked
 * INVITE a->token. Any thread; returns as the other commands.
 */
int sip_cmd_hook_answer(struct sip *s, const struct sip_hook_answer *a);

/* ---- cache misses in cluster mode (sip_miss.c) ---- */

/*
 * With a miss handler set (cluster mode), an INVITE whose (caller, VN)
 * the node's LMDB cache does not hold as active gets 100 Trying at once
 * and waits, parked (no call, no ports), while the handler asks
 * PostgreSQL; sip_cmd_miss_answer() routes it again from the cache, in
 * which the handler has written the session if there was one. No answer
 * within the timeout given to sip_miss_set() and a second: routed again
 * as it is (unknown, most likely). A CANCEL meanwhile gets 487.
 */
struct sip_miss_ask {
	uint64_t token;			/* echoed back */
	char caller[E164_SIZE];
	char vn[E164_SIZE];
};

/* sip_miss_h - runs on the SIP thread: copy @q, return at once. 0, or
 * an errno (not asked: the INVITE is routed as without a handler). */
typedef int (sip_miss_h)(const struct sip_miss_ask *q, void *arg);

/* sip_miss_set() - the handler from now on (NULL: none), and how long
 * it may take. Any thread (through the command queue). */
int sip_miss_set(struct sip *s, sip_miss_h *h, void *arg,
		 uint32_t timeout_ms);

/* sip_cmd_miss_answer() - the question @token is answered (@found: a
 * session was written into the cache): route its INVITE again. Any
 * thread; returns as the other commands. */
int sip_cmd_miss_answer(struct sip *s, uint64_t token, bool found);

struct metrics;

/*
 * sip_metrics_register() - show the B2BUA's counters (src/sip/
 * sip_metrics.inc) in @reg from now on; sip_stop() takes them off. Call
 * after sip_start(), from the same thread. Returns 0 or an errno of
 * metrics_register().
 */
int sip_metrics_register(struct sip *s, struct metrics *reg);

#endif
