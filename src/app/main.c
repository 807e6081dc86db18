/*
 * main.c - maskd's entry point: options, start-up, signals, shutdown.
 *
 * All of the daemon's state lives in one struct maskd, a local of main()
 * that the signal callbacks get by pointer: there is no global mutable
 * state. Start-up opens the modules in dependency order and shutdown
 * releases them in reverse, so a clean exit leaves nothing for LSan.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "maskd/api.h"
#include "maskd/cluster.h"
#include "maskd/config.h"
#include "maskd/ctl.h"
#include "maskd/log.h"
#include "maskd/mailbox.h"
#include "maskd/webhook.h"
#include "maskd/metrics.h"
#include "maskd/notify.h"
#include "maskd/prompt.h"
#include "maskd/recorder.h"
#include "maskd/relay.h"
#include "maskd/sip.h"
#include "maskd/store.h"
#include "maskd/tlsconf.h"
#include "maskd/writer.h"

#ifndef MASKD_VERSION
#define MASKD_VERSION "0.1.0"
#endif

#define MASKD_ERR_SIZE 512

struct maskd {
	struct config cfg;
	struct log log;
	bool log_open;
	/* every module's counters for /metrics: made first, freed last;
	 * each module takes its own off when it stops */
	struct metrics *metrics;
	struct store *st;
	struct event_base *base;
	struct writer *w;
	struct ctl *ctl;		/* the control thread's work */
	struct cluster *cluster;	/* [cluster] store; NULL = single-node */
	struct webhook_key keys[WEBHOOK_KEYS_MAX];	/* [events] secrets */
	struct api *api;		/* HTTP over ctl */
	struct mailbox *cdr_mb;		/* SIP thread -> control thread */
	/* the announcements, read once; immutable, so the SIP thread and
	 * the relay workers may share them; freed after both stopped */
	struct prompt_set *prompts;
	struct relay *relay;		/* the sip's media; outlives it */
	/* recordings: a thread of its own; outlives the sip and the
	 * relay, its reports reach ctl through rec_mb */
	struct recorder *rec;
	struct mailbox *rec_mb;		/* recorder thread -> control thread */
	struct sip *sip;
	struct event *sig_term;
	struct event *sig_int;
	struct event *sig_hup;
	struct event *watchdog;		/* WATCHDOG=1 to systemd, or NULL */
	int stop_signal;
};

/*
 * [cluster] store set: creates and closes through PostgreSQL, the LMDB
 * store fed from its changes. Nothing waits for PostgreSQL here: the
 * connections come up (and come back) by themselves, and until then the
 * API's creates answer 503.
 */
static int maskd_cluster(struct maskd *m)
{
	char errbuf[MASKD_ERR_SIZE];
	char *dsn = NULL;
	int err;

	err = cluster_dsn(&m->cfg.cluster, &dsn, errbuf, sizeof(errbuf));
	if (err) {
		log_error(&m->log, "maskd: %s", errbuf);
		return err;
	}
	if (!dsn)
		return 0;	/* single-node */
	err = cluster_open(&m->cluster, m->base, dsn,
			   m->cfg.cluster.connections,
			   (enum cluster_alloc)m->cfg.cluster.allocation,
			   &m->log);
	cluster_dsn_free(dsn);
	if (!err && m->cfg.cluster.node[0])
		err = cluster_set_node(m->cluster, m->cfg.cluster.node);
	if (!err)
		cluster_set_query_timeout(m->cluster,
					  m->cfg.cluster.query_timeout_ms);
	if (!err)
		cluster_set_retention(m->cluster, m->cfg.store.retention_s,
				      m->cfg.events.retention_s);
	if (!err)
		err = cluster_feed_start(m->cluster, m->st, m->w, NULL, NULL);
	/* call records and events reach PostgreSQL from this node's
	 * durable export queue */
	if (!err)
		err = cluster_export_start(m->cluster, m->st, m->w);
	if (err) {
		log_error(&m->log, "maskd: cannot start the cluster: %s",
			  strerror(err));
		return err;
	}
	ctl_set_cluster(m->ctl, m->cluster);
	return 0;
}

/* cluster_fresh_h: a node whose cache is stale answers OPTIONS 503, so a
 * front probing the nodes sends new calls elsewhere. A message lost to a
 * full queue is told again within a second. */
static void maskd_on_fresh(bool fresh, void *arg)
{
	struct maskd *m = arg;

	if (m->sip)
		(void)sip_cmd_ready(m->sip, fresh);
}

/* [events] into ctl: the secrets decoded, the schedule parsed (both
 * were validated with the file), delivery started when signing can. */
static int maskd_events(struct maskd *m)
{
	const struct config_events *ce = &m->cfg.events;
	struct ctl_events_conf ec;
	size_t i;
	int err;

	memset(&ec, 0, sizeof(ec));
	if (ce->n_secrets > WEBHOOK_KEYS_MAX) {
		log_error(&m->log, "maskd: events.secrets: at most %d",
			  WEBHOOK_KEYS_MAX);
		return EINVAL;
	}
	for (i = 0; i < ce->n_secrets; i++)
		if (webhook_key_parse(ce->secrets[i], &m->keys[i]))
			return EINVAL;
	if (webhook_schedule_parse(ce->retry_schedule, ec.schedule_s,
				   &ec.n_schedule))
		return EINVAL;
	ec.url = ce->url;
	ec.url_set = ce->url[0] != '\0';
	ec.max_pending = ce->max_pending;
	ec.retention_ms = (int64_t)ce->retention_s * 1000;
	ec.keys = m->keys;
	ec.n_keys = ce->n_secrets;
	ec.timeout_s = ce->timeout_s;
	ec.concurrency = ce->concurrency;
	ec.disable_after_ms = (int64_t)ce->disable_after_s * 1000;
	ec.allow = ce->allow;
	ec.n_allow = ce->n_allow;
	err = ctl_events_configure(m->ctl, &ec);
	if (err)
		log_error(&m->log, "maskd: cannot start event delivery: %s",
			  strerror(err));
	return err;
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s -c FILE          run with the config FILE\n"
		"       %s --check-config FILE  validate FILE and exit\n"
		"       %s --print-config FILE  print the effective config "
		"(defaults included,\n"
		"                                 secrets as ***) and exit\n"
		"       %s --config-template    print the commented config "
		"file (conf/maskd.conf)\n"
		"       %s --version\n"
		"       %s -h | --help\n",
		prog, prog, prog, prog, prog, prog);
}

static void maskd_on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct maskd *m = arg;

	(void)what;
	m->stop_signal = (int)sig;
	event_base_loopexit(m->base, NULL);
}

/* logrotate moves the file and sends SIGHUP: start a new one. */
static void maskd_on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct maskd *m = arg;
	int err;

	(void)sig;
	(void)what;
	err = log_reopen(&m->log);
	if (err)
		log_error(&m->log, "maskd: cannot reopen the log: %s",
			  strerror(err));
	else
		log_info(&m->log, "maskd: log reopened");
}

static int maskd_signal(struct maskd *m, struct event **evp, int sig,
			event_callback_fn cb)
{
	*evp = evsignal_new(m->base, sig, cb, m);
	if (!*evp)
		return ENOMEM;
	event_priority_set(*evp, 0);
	if (event_add(*evp, NULL))
		return EIO;
	return 0;
}

/* systemd's watchdog: the control thread's loop still turns. */
static void maskd_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_send(NOTIFY_WATCHDOG);
}

/*
 * maskd_notify_ready() - tell systemd (Type=notify) that SIP and the API
 * listen, and start feeding its watchdog when the unit asks for one.
 * Without $NOTIFY_SOCKET (run by hand, by the tests) nothing is sent.
 */
static int maskd_notify_ready(struct maskd *m)
{
	char state[2 * NOTIFY_STATE_MAX];
	struct timeval tv;
	uint64_t usec;
	int n, err;

	n = snprintf(state, sizeof(state),
		     NOTIFY_READY "\nSTATUS=listening sip=%s:%u api=%s:%u",
		     m->cfg.sip.listen.host, (unsigned)m->cfg.sip.listen.port,
		     m->cfg.api.listen.host, (unsigned)m->cfg.api.listen.port);
	/* READY=1 must go whatever the host names: the status is extra */
	err = notify_send(n > 0 && n <= NOTIFY_STATE_MAX ? state :
			  NOTIFY_READY);
	if (err && err != ENOENT)
		log_warn(&m->log, "maskd: cannot notify systemd: %s",
			 strerror(err));

	if (notify_watchdog_usec(&usec))
		return 0;
	/* half the interval, as sd_watchdog_enabled(3) advises */
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	m->watchdog = event_new(m->base, -1, EV_PERSIST, maskd_on_watchdog,
				m);
	if (!m->watchdog)
		return ENOMEM;
	event_priority_set(m->watchdog, 0);
	if (event_add(m->watchdog, &tv))
		return EIO;
	notify_send(NOTIFY_WATCHDOG);
	return 0;
}

/*
 * maskd_check_nofile() - make room for the descriptors the config may
 * need: one UDP socket per port of the RTP range, one per API client,
 * and headroom for SIP's sockets and connections, LMDB, the log and the
 * threads' wake-up descriptors. The soft limit is raised towards the hard
 * one (systemd's default soft limit is 1024); when even the hard limit is
 * too low, calls fail with 503 once it is reached: say so now.
 */
#define MASKD_NOFILE_HEADROOM 4096
static void maskd_check_nofile(struct maskd *m)
{
	struct rlimit rl;
	rlim_t need;

	need = (rlim_t)(m->cfg.rtp.port_max - m->cfg.rtp.port_min + 1) +
	       m->cfg.api.max_connections + MASKD_NOFILE_HEADROOM;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
			      rl.rlim_max > need ? need : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warn(&m->log, "maskd: open files limited to %llu, the RTP "
			 "range and API connections may need %llu: raise "
			 "LimitNOFILE (ulimit -n)",
			 (unsigned long long)rl.rlim_cur,
			 (unsigned long long)need);
}

/*
 * maskd_prompts_load() - every prompt of [media] prompts into memory.
 * Before any thread that plays them starts, so a missing or malformed
 * file stops start-up with its name instead of failing a live call.
 */
static int maskd_prompts_load(struct maskd *m)
{
	char dir[CONFIG_PATH_SIZE], err[PROMPT_ERR_SIZE];
	int ret;

	if (m->cfg.media.prompts[0]) {
		snprintf(dir, sizeof(dir), "%s", m->cfg.media.prompts);
	} else {
		ret = prompt_dir_default(dir, sizeof(dir));
		if (ret) {
			log_error(&m->log, "maskd: media.prompts: cannot find "
				  "the built-in prompts: %s", strerror(ret));
			return ret;
		}
	}
	ret = prompt_set_load(&m->prompts, dir, err, sizeof(err));
	if (ret) {
		log_error(&m->log, "maskd: media.prompts: %s", err);
		return ret;
	}
	log_info(&m->log, "maskd: %d prompts loaded from %s", PROMPT_N, dir);
	return 0;
}

/*
 * Two priorities: 0 for network and signals, 1 for the writer, so a batch
 * is committed only after every ready request has been queued into it.
 */
static int maskd_base_new(struct maskd *m)
{
	struct event_config *ec;

	ec = event_config_new();
	if (!ec)
		return ENOMEM;
	/*
	 * epoll changes made in one loop turn go to the kernel once, at its
	 * end: evhttp disables a connection's read event and enables its
	 * write event around each reply, in the same turn (measured: 4
	 * epoll_ctl a create over HTTP without, 3 with; a system call is
	 * dear on this kind of virtual machine). libevent's one caveat, fds
	 * made by dup() of one file, does not apply: nothing here dups.
	 */
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	m->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!m->base)
		return ENOMEM;
	if (event_base_priority_init(m->base, 2))
		return EINVAL;
	return 0;
}

/*
 * A call ended: runs on the SIP thread, which must not wait for the
 * store. The record is copied into the mailbox and written by the
 * control thread.
 */
static void maskd_post_cdr(const struct cdr *c, void *arg)
{
	struct maskd *m = arg;
	char id[STORE_ID_STR_SIZE];

	if (mailbox_post_lazy(m->cdr_mb, c)) {
		store_id_format(c->id, id);
		log_error(&m->log, "maskd: call record %s lost: out of memory",
			  id);
	}
}

/* A parked INVITE's routing question: SIP thread; ctl copies it over. */
static int maskd_ask_hook(const struct sip_hook_ask *q, void *arg)
{
	struct maskd *m = arg;

	return ctl_hook_ask(m->ctl, q);
}

/* A call's pair not in the cache (cluster mode): on the SIP thread. */
static int maskd_ask_miss(const struct sip_miss_ask *q, void *arg)
{
	struct maskd *m = arg;

	return ctl_cluster_miss(m->ctl, q);
}

/* ... and here it arrives on the control thread. */
static void maskd_on_cdr(void *msg, void *arg)
{
	struct maskd *m = arg;

	ctl_cdr_store(m->ctl, msg);
}

/* A recording ended (or was purged): on the recorder thread, copied
 * into the mailbox ... */
static void maskd_post_rec(const struct rec_result *r, void *arg)
{
	struct maskd *m = arg;

	if (mailbox_post(m->rec_mb, r))
		log_error(&m->log, "maskd: a recording's report lost: out of "
			  "memory");
}

/* ... and on the control thread its call record is updated. */
static void maskd_on_rec(void *msg, void *arg)
{
	struct maskd *m = arg;

	ctl_rec_result(m->ctl, msg);
}

/*
 * Every module's counters into the one registry the api serves on
 * /metrics, in the order the page shows them. Each module takes its own
 * off when it stops, so nothing here needs undoing. A failure is a name
 * declared twice: a programming error, found at start-up.
 */
static int maskd_metrics_register(struct maskd *m)
{
	int err;

	if ((err = store_metrics_register(m->st, m->metrics)) ||
	    (err = api_metrics_register(m->api, m->metrics)) ||
	    (err = ctl_metrics_register(m->ctl, m->metrics)) ||
	    (err = writer_metrics_register(m->w, m->metrics)) ||
	    (err = sip_metrics_register(m->sip, m->metrics)) ||
	    (err = relay_metrics_register(m->relay, m->metrics)) ||
	    (err = recorder_metrics_register(m->rec, m->metrics)))
		log_error(&m->log, "maskd: cannot register metrics: %s",
			  strerror(err));
	return err;
}

static void maskd_free(struct maskd *m, bool clean)
{
	if (m->sig_term)
		event_free(m->sig_term);
	if (m->sig_int)
		event_free(m->sig_int);
	if (m->sig_hup)
		event_free(m->sig_hup);
	if (m->watchdog)
		event_free(m->watchdog);
	/* calls end first: their last records go through the mailbox to
	 * ctl and the writer, which api_stop() and ctl_stop() flush; their
	 * relay calls are freed by sip_stop(), so the relay stops after it */
	if (m->ctl)
		ctl_set_sip(m->ctl, NULL);
	if (m->cluster)
		cluster_fresh_watch(m->cluster, NULL, NULL);
	sip_stop(m->sip);
	relay_stop(m->relay);
	prompt_set_free(m->prompts);
	mailbox_free(m->cdr_mb);
	/* after the calls' records: a recording's report updates one */
	recorder_stop(m->rec);
	mailbox_free(m->rec_mb);
	/* what waits for PostgreSQL is answered (503) while the api and
	 * the writer can still take it */
	if (m->ctl)
		ctl_set_cluster(m->ctl, NULL);
	cluster_close(m->cluster);
	api_stop(m->api);		/* answers what waits for the writer */
	ctl_stop(m->ctl);		/* the last CDRs reach the disk */
	writer_free(m->w);
	store_close(m->st);
	metrics_free(m->metrics);
	if (m->base)
		event_base_free(m->base);
	if (m->log_open) {
		if (clean)
			log_info(&m->log, "maskd stopped");
		log_close(&m->log);
	}
	config_free(&m->cfg);
}

/*
 * maskd_malloc_tune() - glibc's heap, set for a long-running server with
 * a steady working set (issue 14: 6-8 mprotect() per call, glibc growing
 * a thread's heap a page at a time and trimming it again as calls came
 * and went).
 *  - M_TRIM_THRESHOLD 64 MiB: a heap's free top is kept up to that size
 *    instead of being handed back and asked for again a moment later;
 *    the process stays at its high-water mark, which for a server that
 *    will see the same load again is what it needs anyway.
 *  - M_MMAP_THRESHOLD 8 MiB: setting the trim threshold freezes glibc's
 *    sliding mmap threshold, so it is fixed here, above the 2 MiB dirty
 *    list and 1 MiB free list LMDB mallocs for every nested write
 *    transaction (one per writer operation): at 1 MiB each of those was
 *    an mmap() and a munmap().
 * The number of arenas is left alone: capping it would make the SIP and
 * control threads share an arena lock.
 */
static void maskd_malloc_tune(void)
{
	(void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
	(void)mallopt(M_MMAP_THRESHOLD, 8 << 20);
}

/* How long a call record may wait in the SIP -> control mailbox. */
#define MASKD_CDR_LAZY_MS 50

static int maskd_run(const char *path)
{
	struct maskd m;
	char errbuf[MASKD_ERR_SIZE];
	int err;

	memset(&m, 0, sizeof(m));
	err = config_load(path, &m.cfg, errbuf, sizeof(errbuf));
	if (err) {
		fprintf(stderr, "%s\n", errbuf);
		config_free(&m.cfg);
		return 1;
	}

	err = log_open(&m.log, m.cfg.log.level, m.cfg.log.file);
	if (err) {
		fprintf(stderr, "maskd: cannot open log %s: %s\n",
			m.cfg.log.file, strerror(err));
		goto out;
	}
	m.log_open = true;
	log_info(&m.log, "maskd %s starting", MASKD_VERSION);

	signal(SIGPIPE, SIG_IGN);
	maskd_check_nofile(&m);

	err = metrics_alloc(&m.metrics);
	if (err) {
		log_error(&m.log, "maskd: cannot create the metrics: %s",
			  strerror(err));
		goto out;
	}

	err = store_open(&m.st, m.cfg.store.path, m.cfg.store.map_size,
			 &m.log);
	if (err) {
		log_error(&m.log, "maskd: cannot open the store %s: %s",
			  m.cfg.store.path, strerror(err));
		goto out;
	}

	err = maskd_base_new(&m);
	if (err) {
		log_error(&m.log, "maskd: cannot create the event base: %s",
			  strerror(err));
		goto out;
	}

	err = writer_alloc(&m.w, m.base, m.st, &m.log);
	if (err) {
		log_error(&m.log, "maskd: cannot start the writer: %s",
			  strerror(err));
		goto out;
	}

	/* sofia-sip cannot be given a least TLS version: the process gets
	 * one, before any thread but this one may use OpenSSL */
	if (m.cfg.sip.tls_listen.port) {
		err = tlsconf_min_version(&m.log);
		if (err)
			goto out;
	}

	err = ctl_start(&m.ctl, m.base, &m.cfg, m.st, m.w, &m.log);
	if (err) {
		log_error(&m.log, "maskd: cannot start the control layer: %s",
			  strerror(err));
		goto out;
	}

	err = maskd_events(&m);
	if (err)
		goto out;
	err = ctl_hook_start(m.ctl);
	if (err) {
		log_error(&m.log, "maskd: cannot start the routing hook: %s",
			  strerror(err));
		goto out;
	}
	err = maskd_cluster(&m);
	if (err)
		goto out;

	err = api_start(&m.api, m.base, &m.cfg, m.ctl, &m.log);
	if (err) {
		log_error(&m.log, "maskd: cannot start the api on %s:%u: %s",
			  m.cfg.api.listen.host,
			  (unsigned)m.cfg.api.listen.port, strerror(err));
		goto out;
	}

	err = mailbox_alloc(&m.cdr_mb, m.base, sizeof(struct cdr),
			    maskd_on_cdr, &m);
	/* records wait up to MASKD_CDR_LAZY_MS for company, then go into
	 * the store in one batch of their own (writer_submit_later()) */
	if (!err)
		err = mailbox_lazy(m.cdr_mb, MASKD_CDR_LAZY_MS);
	if (err) {
		log_error(&m.log, "maskd: cannot create the CDR mailbox: %s",
			  strerror(err));
		goto out;
	}
	err = maskd_prompts_load(&m);
	if (err)
		goto out;
	err = mailbox_alloc(&m.rec_mb, m.base, sizeof(struct rec_result),
			    maskd_on_rec, &m);
	if (err) {
		log_error(&m.log, "maskd: cannot create the recording "
			  "mailbox: %s", strerror(err));
		goto out;
	}
	err = recorder_start(&m.rec, &m.cfg.recording, &m.log,
			     maskd_post_rec, &m);
	if (err) {
		log_error(&m.log, "maskd: cannot start the recorder: %s",
			  strerror(err));
		goto out;
	}
	/* the sip hands its timeout handler to the relay itself */
	err = relay_start(&m.relay, &m.cfg.rtp, &m.log, NULL, NULL);
	if (err) {
		log_error(&m.log, "maskd: cannot start the media relay on "
			  "ports %u-%u: %s", (unsigned)m.cfg.rtp.port_min,
			  (unsigned)m.cfg.rtp.port_max, strerror(err));
		goto out;
	}
	err = sip_start(&m.sip, &m.cfg, m.st, m.relay, m.prompts,
			maskd_post_cdr, &m, &m.log);
	if (err) {
		log_error(&m.log, "maskd: cannot start SIP on %s:%u: %s",
			  m.cfg.sip.listen.host,
			  (unsigned)m.cfg.sip.listen.port, strerror(err));
		goto out;
	}
	ctl_set_sip(m.ctl, m.sip);
	sip_recorder_set(m.sip, m.rec);
	if (m.cluster)	/* not ready until the cache has caught up */
		cluster_fresh_watch(m.cluster, maskd_on_fresh, &m);
	if (m.cfg.hooks.route_url[0] &&
	    (err = sip_hook_set(m.sip, maskd_ask_hook, &m))) {
		log_error(&m.log, "maskd: cannot set the routing hook: %s",
			  strerror(err));
		goto out;
	}
	/* cluster mode: a call the cache cannot route asks PostgreSQL
	 * (no query limit: the miss still waits no longer than 5 s) */
	if (m.cluster &&
	    (err = sip_miss_set(m.sip, maskd_ask_miss, &m,
				m.cfg.cluster.query_timeout_ms ?
				m.cfg.cluster.query_timeout_ms : 5000))) {
		log_error(&m.log, "maskd: cannot set the cache miss handler: "
			  "%s", strerror(err));
		goto out;
	}
	err = maskd_metrics_register(&m);
	if (err)
		goto out;

	if ((err = maskd_signal(&m, &m.sig_term, SIGTERM, maskd_on_stop)) ||
	    (err = maskd_signal(&m, &m.sig_int, SIGINT, maskd_on_stop)) ||
	    (err = maskd_signal(&m, &m.sig_hup, SIGHUP, maskd_on_hup))) {
		log_error(&m.log, "maskd: cannot install signal handlers: %s",
			  strerror(err));
		goto out;
	}

	log_info(&m.log, "maskd listening sip=%s:%u api=%s:%u",
		 m.cfg.sip.listen.host, (unsigned)m.cfg.sip.listen.port,
		 m.cfg.api.listen.host, (unsigned)m.cfg.api.listen.port);
	err = maskd_notify_ready(&m);
	if (err) {
		log_error(&m.log, "maskd: cannot start the watchdog timer: %s",
			  strerror(err));
		goto out;
	}

	if (event_base_dispatch(m.base) < 0) {
		log_error(&m.log, "maskd: event loop failed");
		err = EIO;
		goto out;
	}
	log_info(&m.log, "maskd stopping (signal %d)", m.stop_signal);
	/* the flush of pending commits may take a moment: systemd then
	 * waits for the exit instead of thinking we hang */
	notify_send(NOTIFY_STOPPING);
 out:
	maskd_free(&m, err == 0);
	return err ? 1 : 0;
}

/* --check-config, or --print-config when @print. */
static int maskd_check_config(const char *path, bool print)
{
	struct config cfg;
	char errbuf[MASKD_ERR_SIZE];
	int err;

	memset(&cfg, 0, sizeof(cfg));
	err = config_load(path, &cfg, errbuf, sizeof(errbuf));
	if (err) {
		config_free(&cfg);
		fprintf(stderr, "%s\n", errbuf);
		return 1;
	}
	if (print)
		err = config_print(&cfg, stdout);
	else
		printf("%s: ok\n", path);
	config_free(&cfg);
	if (err) {
		fprintf(stderr, "maskd: cannot write the config: %s\n",
			strerror(err));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config",       required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "print-config", required_argument, NULL, 'P' },
		{ "config-template", no_argument,   NULL, 'T' },
		{ "version",      no_argument,       NULL, 'V' },
		{ "help",         no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *run = NULL, *check = NULL;
	bool print = false, template = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			run = optarg;
			break;
		case 'C':
			check = optarg;
			print = false;
			break;
		case 'P':
			check = optarg;
			print = true;
			break;
		case 'T':
			template = true;
			break;
		case 'V':
			printf("maskd %s\n", MASKD_VERSION);
			return 0;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind != argc || (!!run + !!check + template) != 1) {
		usage(stderr, argv[0]);
		return 2;
	}

	if (template) {
		if (config_template(stdout)) {
			fprintf(stderr, "maskd: cannot write the template\n");
			return 1;
		}
		return 0;
	}
	if (check)
		return maskd_check_config(check, print);
	maskd_malloc_tune();
	return maskd_run(run);
}
