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

struct metrics;

/*
 * sip_metrics_register() - show the B2BUA's counters (src/sip/
 * sip_metrics.inc) in @reg from now on; sip_stop() takes them off. Call
 * after sip_start(), from the same thread. Returns 0 or an errno of
 * metrics_register().
 */
int sip_metrics_register(struct sip *s, struct metrics *reg);

#endif
