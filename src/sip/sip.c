/*
 * sip.c - the SIP thread: its su_root and nta agent, the transports, the
 * requests that belong to no dialog, and an orderly stop.
 *
 * sip_start() creates the thread and waits until it has bound the
 * sockets (or failed to), so a bind error comes back as an errno and a
 * caller may send the moment sip_start() returns. sip_stop() sets a flag
 * and wakes the thread through its command queue (sip_cmd.c), the one way
 * into the thread from outside, and joins it.
 *
 * nta runs in user-agent mode (NTATAG_UA): it retransmits our 2xx until
 * the ACK comes and hands that ACK to the INVITE's server transaction,
 * which is how a B2BUA must behave on each of its legs.
 */
#include "sip_internal.h"
#include "sip_hook.h"
#include "sip_miss.h"
#include "sip_overload.h"
#include "sip_worker.h"

#include <sofia-sip/tport_tag.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/su_log.h>

/*
 * What sofia-sip says when a TLS peer is refused (tport_tls.c), known by
 * its format: the only account of why calls to a TLS gateway fail, so it
 * is a warning. These lines name certificates, never numbers.
 */
static bool sip_sofia_tls_fmt(const char *fmt)
{
	static const char *const prefixes[] = {
		"-Error with certificate", "  issuer   = ", "  subject  = ",
		"  err ",
	};
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(fmt, prefixes[i], strlen(prefixes[i])))
			return true;
	return strstr(fmt, "Peer Subject Mismatch") ||
	       strstr(fmt, "TLS setup failed");
}

/*
 * sofia-sip logs to stderr by itself; its lines name addresses and
 * numbers, so they go to our log at debug level only, but for a refused
 * TLS peer. Nothing is formatted for a line that is not logged (a flood
 * of bad messages makes sofia-sip talk).
 */
static void sip_on_sofia_log(void *stream, char const *fmt, va_list ap)
{
	struct sip *s = stream;
	char line[1024];
	size_t len;
	bool tls;

	if (!s->log)
		return;
	tls = sip_sofia_tls_fmt(fmt);
	if (s->log->level < (tls ? LOG_LVL_WARN : LOG_LVL_DEBUG))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (!len)
		return;
	if (tls)
		log_warn(s->log, "sip: tls: %s", line);
	else
		log_debug(s->log, "sofia: %s", line);
}

/* "[v6]" for IPv6 literals, else the host as it is. */
static void sip_host_format(char *out, size_t size, const char *host)
{
	if (strchr(host, ':'))
		snprintf(out, size, "[%s]", host);
	else
		snprintf(out, size, "%s", host);
}

/*
 * Copies nta's live transaction count into the counters, and adds the
 * messages its parser threw away since the last time to the malformed
 * ones. nta keeps them in its own tables, which only this thread may
 * read, so a timer samples them for /metrics; completed transactions
 * linger there for sip.transaction_timeout by design.
 */
static void sip_on_stats(su_root_magic_t *magic, su_timer_t *t, void *arg)
{
	struct sip *s = arg;
	usize_t irqs = 0, orqs = 0, bad = 0, retry = 0;

	(void)magic;
	(void)t;
	nta_agent_get_stats(s->agent, NTATAG_S_IRQ_HASH_USED_REF(irqs),
			    NTATAG_S_ORQ_HASH_USED_REF(orqs),
			    NTATAG_S_BAD_MESSAGE_REF(bad),
			    NTATAG_S_RECV_RETRY_REF(retry), TAG_END());
	metrics_set(&s->counters.transactions_live,
		    (uint64_t)irqs + (uint64_t)orqs);
	/* nta's count only grows; a delta keeps maskd_sip_malformed_total
	 * one counter that maskd's own refusals add to as well */
	if ((uint64_t)bad > s->nta_bad_seen) {
		metrics_add(&s->counters.malformed,
			    (uint64_t)bad - s->nta_bad_seen);
		s->nta_bad_seen = (uint64_t)bad;
	}
	if ((uint64_t)retry > s->nta_retry_seen) {
		metrics_add(&s->counters.retransmissions,
			    (uint64_t)retry - s->nta_retry_seen);
		s->nta_retry_seen = (uint64_t)retry;
	}
}

static int sip_reply_options(struct sip *s, nta_incoming_t *irq,
			     sip_t const *sip)
{
	if (!sip_route_source_ok(s, irq, NULL)) {
		SIP_COUNT(s, rejected_source);
		return 403;
	}

	/* RFC 3261 8.2.2.3: answering OPTIONS here needs no extension, so
	 * one that requires any gets 420 naming it in Unsupported */
	if (sip->sip_require &&
	    nta_check_required(irq, sip, NULL, TAG_END())) {
		nta_incoming_destroy(irq);
		return 0;
	}

	SIP_COUNT(s, options);
	/* a front probing nodes (conf/kamailio-front.cfg) sends new calls
	 * elsewhere while we say 503; unready, we still route what it
	 * sends; draining, we refuse it (sip_worker_admit()) */
	if (s->unready || s->draining)
		sip_msg_reply(s, irq, 503, NULL, NULL, NULL, 0);
	else
		sip_msg_reply(s, irq, 200, NULL, NULL, NULL,
			      SIP_REPLY_ALLOW | SIP_REPLY_ACCEPT);
	nta_incoming_destroy(irq);
	return 0;
}

/*
 * Every request that matches no dialog of ours, now with its server
 * transaction. A request that names a dialog (To tag) we do not have gets
 * 481; a new INVITE is routed; OPTIONS is a trunk's keepalive. Returns 0
 * when @irq is taken care of, else the status to answer.
 *
 * Hot path: no logging above debug, counters instead.
 */
static int sip_on_request(struct sip *s, nta_incoming_t *irq,
			  sip_t const *sip)
{
	sip_method_t method = sip->sip_request->rq_method;

	if (!sip->sip_from || !sip->sip_to || !sip->sip_call_id ||
	    !sip->sip_cseq) {
		SIP_COUNT(s, malformed);
		return 400;
	}

	if (sip->sip_to->a_tag)
		return 481;

	if (s->stopping)
		return 503;

	/* RFC 3261 8.2.2.1: a Request-URI we cannot serve is 416; never
	 * fall back on To (RFC 4475 3.3.2) */
	switch (sip->sip_request->rq_url->url_type) {
	case url_sip:
	case url_sips:
	case url_tel:
		break;
	default:
		return 416;
	}

	switch (method) {
	case sip_method_invite:
		return sip_route_invite(s, irq, sip);
	case sip_method_options:
		return sip_reply_options(s, irq, sip);
	case sip_method_cancel:
	case sip_method_bye:
	case sip_method_update:
	case sip_method_info:
	case sip_method_prack:
		return 481;
	default:
		sip_msg_reply(s, irq, 405, NULL, NULL, NULL, SIP_REPLY_ALLOW);
		nta_incoming_destroy(irq);
		return 0;
	}
}

/*
 * The agent's message callback: what nta could not match to a transaction
 * or a dialog. There is no default leg on purpose: a leg gets its request
 * with a server transaction already made, and one destroyed unanswered
 * is answered 500 by nta - a flood could not be dropped silently. Here
 * the request is still a bare message: the guard (sip_guard.c) frees the
 * refused ones before anything is allocated for them, and only then is
 * a transaction made.
 */
static int sip_on_message(struct sip *s, nta_agent_t *agent, msg_t *msg,
			  sip_t *sip)
{
	nta_incoming_t *irq;
	int status;

	/* a response no transaction of ours wants: a 2xx our ACK was
	 * lost for is ACKed again, anything else dropped as nta would */
	if (!sip || !sip->sip_request) {
		if (sip && sip_leg_reack(s, sip))
			SIP_COUNT(s, reacks);
		msg_destroy(msg);
		return 0;
	}

	if (!sip_guard_admit(s, msg, sip))
		return 0;

	/* an ACK for a 2xx of a dialog that is gone: nothing to answer */
	if (sip->sip_request->rq_method == sip_method_ack) {
		msg_destroy(msg);
		return 0;
	}

	/* draining or overload: a new call is refused before anything is
	 * spent on it */
	if (sip->sip_request->rq_method == sip_method_invite &&
	    sip->sip_to && !sip->sip_to->a_tag &&
	    (!sip_worker_admit(s, msg) || !sip_overload_admit(s, msg, sip)))
		return 0;

	irq = nta_incoming_create(agent, NULL, msg, sip, TAG_END());
	if (!irq)
		return 0;	/* msg freed by nta */

	status = sip_on_request(s, irq, sip);
	if (status) {
		nta_incoming_treply(irq, status, sip_msg_phrase(status),
				    TAG_END());
		nta_incoming_destroy(irq);
	}
	return 0;
}

static void sip_on_stop_timer(su_root_magic_t *magic, su_timer_t *t,
			      void *arg)
{
	struct sip *s = arg;

	(void)magic;
	(void)t;
	su_root_break(s->root);
}

/*
 * sip_stop() has asked (sip_cmd.c saw the flag). End every call (the
 * BYEs and CANCELs go out now), then give them a moment on the wire
 * before the agent and its sockets are destroyed.
 */
void sip_stopping(struct sip *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	metrics_set(&s->counters.ready, 0);	/* OPTIONS: 503 from now */

	sip_call_stop_all(s);
	sip_miss_stop_all(s);

	if (su_timer_set_interval(s->stop_timer, sip_on_stop_timer, s,
				  SIP_STOP_GRACE_MS) < 0)
		su_root_break(s->root);
}

/*
 * Before each wait of the loop (su_root's one prepoll hook).
 *
 * sofia waits until its next timer in whole milliseconds, rounded down
 * (su_duration()): with a timer due in 0.4 ms it waits 0 ms, and the loop
 * spins on epoll_wait(0) until the deadline has passed. Every deadline
 * did that - nta's transaction timers, ours - about fifteen empty
 * epoll_wait() a time on this kind of machine: at 100 calls/s the SIP
 * thread made 21 of them per call for 6 datagrams (perf trace), and the
 * spins were most of the CPU a call costs at low rates. So the timers
 * due within SIP_TIMER_EARLY_MS run here, that much early at most: SIP's
 * timers are T1 (500 ms) and longer, and the timer slack already lets
 * the kernel end a wait up to 20 ms late. A timer that is one
 * millisecond away or more is left to sofia's wait (which ends a little
 * before it: the next turn here runs it).
 *
 * Then the overload front path's turn (sip_overload.c).
 */
static void sip_on_prepoll(su_prepoll_magic_t *magic, su_root_t *root)
{
	struct sip *s = (struct sip *)magic;
	su_duration_t tout = -1;

	(void)su_timer_expire(su_task_timers(su_root_task(root)), &tout,
			      su_time_add(su_now(), SIP_TIMER_EARLY_MS));
	sip_overload_prepoll(s);
}

/* Everything sip_thread_open() made, in reverse; safe on a partial open. */
static void sip_thread_close(struct sip *s)
{
	if (s->root)
		su_root_remove_prepoll(s->root);
	if (s->stats_timer)
		su_timer_destroy(s->stats_timer);
	if (s->stop_timer)
		su_timer_destroy(s->stop_timer);
	s->stats_timer = s->stop_timer = NULL;
	sip_overload_close(s);
	if (s->agent)
		nta_agent_destroy(s->agent);
	s->agent = NULL;
	sip_via_close(s);	/* after the agent: its messages use it */
	sip_cmd_unlisten(s);
	if (s->root)
		su_root_destroy(s->root);
	s->root = NULL;
	store_reader_close(s->reader);
	s->reader = NULL;
}

/*
 * The kernel silently caps a socket buffer at net.core.{r,w}mem_max (208
 * KiB on a stock system). A SIP socket that small drops bursts of
 * responses above ~1,200 calls/s, which then come back as retransmissions
 * and failed calls: say so at start rather than let it look like a bug.
 */
static void sip_check_buffer_limit(struct sip *s, const char *path)
{
	unsigned long max = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	if (fscanf(f, "%lu", &max) == 1 && max < s->cfg->sip.udp_buffer)
		log_warn(s->log, "sip: %s is %lu, below [sip] udp_buffer %u: "
			 "the kernel caps the SIP socket's buffer there; raise "
			 "it with sysctl", path, max, s->cfg->sip.udp_buffer);
	fclose(f);
}

static int sip_thread_open(struct sip *s)
{
	const struct config *cfg = s->cfg;
	char url[CONFIG_HOST_SIZE + 64];
	char lhost[CONFIG_HOST_SIZE + 2];
	int err;

	err = store_reader_open(s->st, &s->reader);
	if (err)
		return err;

	s->root = su_root_create(s);
	if (!s->root)
		return ENOMEM;
	if (su_root_add_prepoll(s->root, sip_on_prepoll,
				(su_prepoll_magic_t *)s))
		return ENOMEM;

	err = sip_cmd_listen(s);
	if (err)
		return err;
	err = sip_via_open(s);
	if (err)
		return err;

	sip_check_buffer_limit(s, "/proc/sys/net/core/rmem_max");
	sip_check_buffer_limit(s, "/proc/sys/net/core/wmem_max");

	/*
	 * One transport per URL: given "transport=udp,tcp", the Debian
	 * sofia-sip's nta_agent_add_tport() reads an uninitialised stack
	 * array (valgrind shows it) and crashed here whenever that stack
	 * happened to hold garbage. TCP is added separately below.
	 */
	sip_host_format(lhost, sizeof(lhost), cfg->sip.listen.host);
	snprintf(url, sizeof(url), "sip:%s:%u;transport=udp", lhost,
		 (unsigned)s->listen_port);

	/*
	 * UA mode: our 2xx are retransmitted until ACKed, and the ACK comes
	 * to the INVITE's server transaction. No Timestamp, and no 100rel in
	 * every INVITE nta sends: maskd offers it itself, per leg, where it
	 * does it (sip_prack.c), never in a relayed re-INVITE. Our parser
	 * (sip_via.c) sends every response to where its request came from;
	 * SERVER_RPORT(2) is nta's half of the same rule (rport even when
	 * the Via asks for none) on the paths it checks the Via itself.
	 */
	su_seterrno(0);
	s->agent = nta_agent_create(s->root, URL_STRING_MAKE(url),
				    sip_on_message, s,
				    NTATAG_MCLASS(s->mclass),
				    NTATAG_SERVER_RPORT(2),
				    NTATAG_UA(1),
				    NTATAG_REL100(0),
				    NTATAG_USE_TIMESTAMP(0),
				    NTATAG_MERGE_482(1),
				    NTATAG_SIP_T1X64(
					    cfg->sip.transaction_timeout_ms),
				    TPTAG_UDP_RMEM(cfg->sip.udp_buffer),
				    TPTAG_UDP_WMEM(cfg->sip.udp_buffer),
				    TAG_END());
	if (!s->agent) {
		err = su_errno();
		return err ? err : EADDRNOTAVAIL;
	}
	snprintf(url, sizeof(url), "sip:%s:%u;transport=tcp", lhost,
		 (unsigned)s->listen_port);
	su_seterrno(0);
	if (nta_agent_add_tport(s->agent, URL_STRING_MAKE(url), TAG_END())) {
		err = su_errno();
		return err ? err : EADDRNOTAVAIL;
	}
	err = sip_tls_listen(s);
	if (err)
		return err;

	s->stats_timer = su_timer_create(su_root_task(s->root),
					 SIP_STATS_PERIOD_MS);
	s->stop_timer = su_timer_create(su_root_task(s->root), 0);
	if (!s->stats_timer || !s->stop_timer)
		return ENOMEM;
	if (su_timer_run(s->stats_timer, sip_on_stats, s) < 0)
		return ENOMEM;
	err = sip_overload_open(s);
	if (err)
		return err;

	return 0;
}

static void sip_start_done(struct sip *s, int err)
{
	pthread_mutex_lock(&s->lock);
	s->start_err = err;
	s->start_done = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void *sip_thread(void *arg)
{
	struct sip *s = arg;
	char name[16];
	int err;

	/* its own name, so top -H and /proc/PID/task tell its CPU apart:
	 * maskd-sip, then maskd-sip1, maskd-sip2, ... */
	if (s->idx)
		snprintf(name, sizeof(name), "maskd-sip%u", s->idx % 100);
	else
		snprintf(name, sizeof(name), "maskd-sip");
	pthread_setname_np(pthread_self(), name);
	/*
	 * nta fires its one timer at the exact deadline of the next
	 * transaction timer, and completed transactions expire all the
	 * time under load (each call leaves three or four, their deadlines
	 * spread like the calls): one loop wake-up each. With some slack
	 * the kernel ends the loop's wait a little later and nta handles
	 * every deadline passed by then in one go. SIP's shortest timer is
	 * T1 (500 ms); 20 ms more are nothing to it, and the overload
	 * tick (sip_overload.c) takes them off what it counts as lag.
	 */
	(void)prctl(PR_SET_TIMERSLACK, SIP_TIMER_SLACK_NS, 0, 0, 0);
	su_init();
	/* sofia's log is the process's: worker 0 (started first) sends it
	 * to ours, sip_stop() takes it back once every worker has ended */
	if (!s->idx)
		su_log_redirect(su_log_default, sip_on_sofia_log, s);
	err = sip_thread_open(s);
	if (err) {
		sip_thread_close(s);
		su_deinit();
		sip_start_done(s, err);
		return NULL;
	}

	if (s->idx)
		log_info(s->log, "sip: worker %u listening on %s:%u (udp, "
			 "tcp)", s->idx, s->cfg->sip.listen.host,
			 (unsigned)s->listen_port);
	else
		log_info(s->log, "sip: listening on %s:%u (udp, tcp)",
			 s->cfg->sip.listen.host, (unsigned)s->listen_port);
	if (s->tls_port[0] && s->idx)
		log_info(s->log, "sip: worker %u listening on %s:%u (tls)",
			 s->idx, s->cfg->sip.tls_listen.host,
			 (unsigned)s->tls_listen_port);
	else if (s->tls_port[0])
		log_info(s->log, "sip: listening on %s:%u (tls)",
			 s->cfg->sip.tls_listen.host,
			 (unsigned)s->tls_listen_port);
	sip_start_done(s, 0);

	su_root_run(s->root);

	sip_thread_close(s);
	su_deinit();
	return NULL;
}

static void sip_free(struct sip *s)
{
	if (!s)
		return;
	tlsconf_dir_remove(s->tls_dir);
	sip_cmd_close(s);
	sip_hook_close(s);
	sip_miss_close(s);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/*
 * sip_worker_new() - worker @idx of @g, on @port (UDP, TCP) and
 * @tls_port (0: no TLS), its thread not started.
 */
static int sip_worker_new(struct sip_group *g, unsigned idx, uint16_t port,
			  uint16_t tls_port, const struct config *cfg,
			  struct store *st, struct relay *relay,
			  const struct prompt_set *prompts, sip_cdr_h *cdrh,
			  void *arg, struct log *log)
{
	struct sip *s;
	const char *host;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->grp = g;
	s->idx = idx;
	s->listen_port = port;
	s->tls_listen_port = tls_port;
	s->cfg = cfg;
	s->st = st;
	s->relay = relay;
	s->prompts = prompts;
	s->log = log;
	s->cdrh = cdrh;
	s->cdr_arg = arg;
	s->media_cookie = sip_worker_base(s);
	metrics_set(&s->counters.ready, 1);	/* until sip_cmd_ready() */

	host = cfg->sip.advertise[0] ? cfg->sip.advertise
				     : cfg->sip.listen.host;
	sip_host_format(s->host, sizeof(s->host), host);
	snprintf(s->port, sizeof(s->port), "%u", (unsigned)port);
	sip_host_format(s->gw_host, sizeof(s->gw_host),
			cfg->gateway.address.host);
	if (!strcmp(cfg->gateway.transport, "tls"))
		s->gw_tp = SIP_TP_TLS;
	else if (!strcmp(cfg->gateway.transport, "tcp"))
		s->gw_tp = SIP_TP_TCP;
	else
		s->gw_tp = SIP_TP_UDP;

	if (tls_port) {
		host = cfg->sip.advertise[0] ? cfg->sip.advertise
					     : cfg->sip.tls_listen.host;
		sip_host_format(s->tls_host, sizeof(s->tls_host), host);
		snprintf(s->tls_port, sizeof(s->tls_port), "%u",
			 (unsigned)tls_port);
	}

	err = sip_cmd_open(s);
	if (err) {
		sip_free(s);
		return err;
	}
	g->w[idx] = s;
	return 0;
}

/* sip_worker_run() - start @s's thread and wait until it has bound its
 * sockets (or failed to: its errno, the thread joined). */
static int sip_worker_run(struct sip *s)
{
	int err;

	err = pthread_create(&s->thread, NULL, sip_thread, s);
	if (err)
		return err;
	pthread_mutex_lock(&s->lock);
	while (!s->start_done)
		pthread_cond_wait(&s->cond, &s->lock);
	err = s->start_err;
	pthread_mutex_unlock(&s->lock);
	if (err) {
		pthread_join(s->thread, NULL);
		log_error(s->log, "sip: cannot listen on %s:%u: %s",
			  s->cfg->sip.listen.host, (unsigned)s->listen_port,
			  strerror(err));
	}
	return err;
}

/* sip_group_join() - ask the first @running workers of @g to stop and
 * join them; then the relay's handler goes (relay_sync(): none is inside
 * it any more, so the command queues may go). */
static void sip_group_join(struct sip_group *g, unsigned running,
			   struct relay *relay)
{
	unsigned i;

	/* a flag and a wake-up, not a message: a full queue cannot lose
	 * it */
	for (i = 0; i < running; i++) {
		atomic_store(&g->w[i]->stop_asked, true);
		mqueue_wake(g->w[i]->cmdq);
	}
	for (i = 0; i < running; i++)
		pthread_join(g->w[i]->thread, NULL);
	su_log_redirect(su_log_default, NULL, NULL);
	/* every relay call of ours was freed by the threads; once the
	 * workers have applied that, none can report a timeout any more
	 * and none is inside the handler */
	relay_sync(relay);
	relay_timeout_set(relay, NULL, NULL);
}

/* sip_group_release() - every worker of @g (stopped), then @g. */
static void sip_group_release(struct sip_group *g)
{
	unsigned i;

	for (i = 0; i < g->n; i++)
		sip_free(g->w[i]);
	sip_group_free(g);
}

int sip_start(struct sip **sp, const struct config *cfg, struct store *st,
	      struct relay *relay, const struct prompt_set *prompts,
	      sip_cdr_h *cdrh, void *arg, struct log *log)
{
	uint16_t ports[SIP_WORKERS_MAX], tls_ports[SIP_WORKERS_MAX];
	struct sip_group *g = NULL;
	char tls_dir[TLSCONF_DIR_SIZE] = "";
	unsigned n, i, running = 0;
	int err;

	if (!sp || !cfg || !st || !relay)
		return EINVAL;

	n = sip_workers_plan(cfg, ports, tls_ports);
	err = sip_group_alloc(&g, n, cfg);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		err = sip_worker_new(g, i, ports[i], tls_ports[i], cfg, st,
				     relay, prompts, cdrh, arg, log);
		if (err)
			goto out;
	}

	if (cfg->sip.tls_listen.port) {
		/* a bad key or certificate stops start-up here (logged),
		 * before sofia-sip could carry on without one */
		err = tlsconf_dir_make(cfg->sip.tls_cert, cfg->sip.tls_key,
				       cfg->sip.tls_ca, tls_dir, log);
		if (err) {
			log_error(log, "sip: tls: cannot use [sip] tls_cert "
				  "%s and tls_key %s", cfg->sip.tls_cert,
				  cfg->sip.tls_key);
			goto out;
		}
		for (i = 0; i < n; i++)
			memcpy(g->w[i]->tls_dir, tls_dir, sizeof(tls_dir));
	}

	/* before any thread exists, so before any relay call: the relay
	 * hands each call to its worker under a lock, which orders this */
	relay_timeout_set(relay, sip_worker_on_timeout, g);

	for (i = 0; i < n; i++) {
		err = sip_worker_run(g->w[i]);
		if (err)
			break;
		running++;
	}

	/* sofia-sip read the files when it made the TLS transports, and
	 * never again: no copy of the key stays on disk */
	tlsconf_dir_remove(tls_dir);
	for (i = 0; i < n; i++)
		g->w[i]->tls_dir[0] = '\0';
	if (err)
		goto out;
	if (n > 1)
		log_info(log, "sip: %u workers", n);

	*sp = g->w[0];
	g = NULL;
 out:
	if (g) {
		sip_group_join(g, running, relay);
		sip_group_release(g);
	}
	return err;
}

int sip_metrics_register(struct sip *s, struct metrics *reg)
{
	return sip_group_metrics_register(s->grp, reg);
}

void sip_stop(struct sip *s)
{
	struct sip_group *g;
	struct relay *relay;
	struct log *log;

	if (!s)
		return;
	g = s->grp;
	relay = s->relay;
	log = s->log;

	/* first: the counters are freed with the workers */
	sip_group_metrics_unregister(g);

	sip_group_join(g, g->n, relay);
	sip_group_release(g);

	log_info(log, "sip: stopped");
}
