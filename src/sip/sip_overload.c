/*
 * sip_overload.c - refuse new calls before the SIP thread falls behind.
 *
 * One thread does all SIP work. Offered more than it can do, it used to
 * take everything: the UDP receive queue grew, every message waited
 * longer than T1 in it, every caller retransmitted its INVITE (more work
 * still) and every call failed - collapse (issue 14: 39% of calls failed
 * at 1.5 times the clean rate, 79% at 2 times). Under overload a B2BUA
 * must instead finish the calls it took and refuse new ones cheaply.
 *
 * What is measured: the lag of the thread, the larger of
 *   - how late a short timer fires (work queued inside the thread), and
 *   - the age of the oldest datagram waiting on nta's UDP socket (work
 *     queued in the kernel). sofia's transport reads ONE datagram per
 *     loop iteration and runs its timers between them, so a full queue
 *     does not make a timer late: the queue's age is what says that a
 *     message will be seen too late. The kernel stamps each datagram on
 *     arrival (SO_TIMESTAMPNS); a MSG_PEEK of one byte reads the stamp
 *     of the head without taking it (nta's reads ignore the stamp).
 * smoothed (EWMA, weight 1/4 per tick).
 *
 * What is done: above [sip] overload_lag_ms a new out-of-dialog INVITE
 * is refused with probability (lag - threshold) / threshold (all of them
 * at twice the threshold): a proportional controller, which settles the
 * lag between one and two thresholds instead of switching all refusals
 * on and off (which makes the queue swing, as Kamailio's pike or a fixed
 * rate limit do under a steady overload). The refusal is a stateless 503
 * with a random Retry-After of 1-5 s (spread, so upstreams that honour
 * it do not all come back in the same second, like Kamailio's pl_drop),
 * made before any transaction, lookup or allocation of ours: on UDP,
 * once at least half of them are refused, by the front path
 * (sip_front.c), which answers it from the raw datagram before sofia
 * reads it (sip.c's prepoll hook on su_root runs it before each wait of
 * the loop); on TCP and TLS, below that rate, and for whatever the front
 * leaves to sofia, by sip_overload_admit() through nta. A new
 * INVITE let through has its Call-ID remembered (sip_front.c), so that
 * its retransmissions are never refused. Requests
 * that belong to calls (ACK, BYE, CANCEL, PRACK, re-INVITE: nta matches
 * them to their transaction or dialog, they never come here), responses,
 * OPTIONS and retransmissions are always served: finishing calls is what
 * frees the thread.
 *
 * The timer runs every SIP_OVERLOAD_TICK_MS while the lag is near the
 * threshold and every SIP_OVERLOAD_IDLE_MS when it is far below it, so
 * an idle or lightly loaded maskd pays ten wake-ups a second for it.
 *
 * SIP thread only.
 */
#include "sip_internal.h"
#include "sip_overload.h"
#include "sip_front.h"

#include <sofia-sip/nta_stateless.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

/* Timer periods: near or above the threshold, and well below it. */
#define SIP_OVERLOAD_TICK_MS 20
#define SIP_OVERLOAD_IDLE_MS 100

/* Retry-After of a refusal: uniform in [MIN, MAX] seconds. */
#define SIP_OVERLOAD_RETRY_MIN_S 1
#define SIP_OVERLOAD_RETRY_MAX_S 5

/* A queued datagram older than this means the wall clock stepped (the
 * kernel's stamps are wall-clock times): the sample is ignored. */
#define SIP_OVERLOAD_AGE_MAX_US (10 * 1000000LL)

/* At most one onset line per this long; the others are counted. */
#define SIP_OVERLOAD_LOG_MS 10000

/* A Call-ID let through is remembered this long past a transaction's
 * life (sip_front.c: its retransmissions are never refused). */
#define SIP_OVERLOAD_SET_MARGIN_MS 4000

/* Refusal probability is in 1/65536ths. */
#define SIP_OVERLOAD_P_ONE 65536u

/*
 * The front path (sip_front.c) runs from this refusal probability on.
 * It saves about 23 us of the thread's CPU per refused call (INVITE and
 * ACK: 17 us instead of 40, bench/bench_refuse.py) but costs a peek of
 * about 3 us for each of the six or seven datagrams of every call let
 * through: it pays only when more than about half of the new calls are
 * refused. Below that, refusals go through sofia (sip_overload_admit()).
 */
#define SIP_OVERLOAD_FRONT_P (SIP_OVERLOAD_P_ONE / 2)

struct sip_overload {
	struct sip *s;
	su_timer_t *timer;
	int fd;			/* nta's UDP socket; -1: not found */
	struct sip_front *front;	/* sip_front.c */
	unsigned period_ms;
	int64_t due_us;		/* when the timer should fire */
	int64_t thr_us;		/* [sip] overload_lag_ms */
	int64_t lag_us;		/* smoothed */
	uint32_t p;		/* refusal probability, /65536 */
	uint64_t rng;		/* xorshift64 state */

	bool on;		/* in an overload episode */
	bool on_logged;		/* its onset was logged */
	int64_t on_ms;		/* when it began */
	uint64_t on_rejected;	/* the refusal counter then */
	int64_t logged_ms;	/* last onset line */
	unsigned quiet;		/* episodes not logged since */
};

static int64_t sip_overload_now_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t sip_overload_rand(struct sip_overload *o)
{
	uint64_t x = o->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	o->rng = x;
	return x;
}

/*
 * sip_overload_find_udp() - nta's UDP socket on [sip] listen. sofia has
 * no call that gives a transport's descriptor, so the process's
 * descriptors are looked at once, at start: the one UDP socket bound to
 * the SIP port (the relay's ports are another range, by config check).
 */
static int sip_overload_find_udp(const struct sip *s)
{
	struct sockaddr_storage ss;
	struct dirent *e;
	socklen_t len;
	int fd, type, found = -1;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (found < 0 && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		fd = atoi(e->d_name);
		len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
		    type != SOCK_DGRAM)
			continue;
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len))
			continue;
		if ((ss.ss_family == AF_INET &&
		     ntohs(((struct sockaddr_in *)&ss)->sin_port) ==
		     s->listen_port) ||
		    (ss.ss_family == AF_INET6 &&
		     ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) ==
		     s->listen_port))
			found = fd;
	}
	closedir(d);
	return found;
}

/*
 * sip_overload_queue_us() - the age of the oldest datagram waiting on
 * nta's UDP socket: 0 for none, -1 when it cannot be told.
 */
static int64_t sip_overload_queue_us(const struct sip_overload *o)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct timespec))];
	} ctl;
	struct cmsghdr *cm;
	struct timespec ts;
	struct msghdr mh;
	struct iovec iov;
	char byte;
	int64_t age;

	if (o->fd < 0)
		return -1;

	iov.iov_base = &byte;
	iov.iov_len = 1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	if (recvmsg(o->fd, &mh, MSG_PEEK | MSG_DONTWAIT) < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;

	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
		age = sip_overload_now_us(CLOCK_REALTIME) -
		      ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
		if (age < 0 || age > SIP_OVERLOAD_AGE_MAX_US)
			return -1;
		return age;
	}
	return -1;
}

static void sip_overload_log(struct sip *s, struct sip_overload *o,
			     int64_t now_ms)
{
	uint64_t rejected = metrics_get(&s->counters.overload_rejected);

	if (o->p && !o->on) {
		o->on = true;
		o->on_ms = now_ms;
		o->on_rejected = rejected;
		o->on_logged = !o->logged_ms ||
			       now_ms - o->logged_ms >= SIP_OVERLOAD_LOG_MS;
		metrics_set(&s->counters.overloaded, 1);
		if (!o->on_logged) {
			o->quiet++;
			return;
		}
		o->logged_ms = now_ms;
		log_warn(s->log, "sip: overloaded: lag %lld ms above [sip] "
			 "overload_lag_ms %lld: refusing new INVITEs with 503 "
			 "(%u short episodes not logged before this one)",
			 (long long)(o->lag_us / 1000),
			 (long long)(o->thr_us / 1000), o->quiet);
		o->quiet = 0;
		return;
	}

	/* over once the lag is back under half the threshold: a lag
	 * hovering at the threshold is one episode, not many */
	if (o->on && !o->p && o->lag_us < o->thr_us / 2) {
		o->on = false;
		metrics_set(&s->counters.overloaded, 0);
		if (o->on_logged)
			log_warn(s->log, "sip: overload over after %lld ms: "
				 "%llu new INVITEs refused", (long long)
				 (now_ms - o->on_ms), (unsigned long long)
				 (rejected - o->on_rejected));
	}
}

static void sip_overload_arm(struct sip_overload *o, int64_t now_us);

static void sip_overload_on_tick(su_root_magic_t *magic, su_timer_t *t,
				 void *arg)
{
	struct sip *s = arg;
	struct sip_overload *o = s->overload;
	int64_t now = sip_overload_now_us(CLOCK_MONOTONIC);
	int64_t late, queued, sample, excess;

	(void)magic;
	(void)t;

	/* the kernel may end the loop's wait SIP_TIMER_SLACK_NS late on
	 * purpose (sip.c): that is not lag */
	late = now - o->due_us - SIP_TIMER_SLACK_NS / 1000;
	if (late < 0)
		late = 0;
	queued = sip_overload_queue_us(o);
	sample = queued > late ? queued : late;
	o->lag_us += (sample - o->lag_us) / 4;

	excess = o->lag_us - o->thr_us;
	if (excess <= 0)
		o->p = 0;
	else if (excess >= o->thr_us)
		o->p = SIP_OVERLOAD_P_ONE;
	else
		o->p = (uint32_t)(excess * SIP_OVERLOAD_P_ONE / o->thr_us);

	metrics_set(&s->counters.lag_ms, (uint64_t)(o->lag_us / 1000));
	sip_overload_log(s, o, now / 1000);
	sip_overload_arm(o, now);
}

static void sip_overload_arm(struct sip_overload *o, int64_t now_us)
{
	o->period_ms = !o->on && o->lag_us < o->thr_us / 4 ?
		       SIP_OVERLOAD_IDLE_MS : SIP_OVERLOAD_TICK_MS;
	o->due_us = now_us + (int64_t)o->period_ms * 1000;
	/* only fails without memory; the lag then stays where it was */
	(void)su_timer_set_interval(o->timer, sip_overload_on_tick,
				    o->s, o->period_ms);
}

/* Whether to refuse a new INVITE now: 0 no, else its Retry-After. */
static unsigned sip_overload_decide(struct sip_overload *o)
{
	if (!o->p)
		return 0;
	if (o->p < SIP_OVERLOAD_P_ONE &&
	    (sip_overload_rand(o) & (SIP_OVERLOAD_P_ONE - 1)) >= o->p)
		return 0;
	return SIP_OVERLOAD_RETRY_MIN_S +
	       (unsigned)(sip_overload_rand(o) %
			  (SIP_OVERLOAD_RETRY_MAX_S -
			   SIP_OVERLOAD_RETRY_MIN_S + 1));
}

static unsigned sip_overload_front_admit(void *arg)
{
	return sip_overload_decide(arg);
}

/*
 * Before each wait of the SIP loop (sip.c's prepoll hook): while at
 * least half of the new INVITEs are being refused, the front refuses
 * those at the head of the UDP queue before sofia reads the next datagram
 * (sip_front.c). sofia reads one datagram per wake-up, so every datagram
 * passes here first. Otherwise: one test, nothing else.
 */
void sip_overload_prepoll(struct sip *s)
{
	struct sip_overload *o = s->overload;

	if (o && o->fd >= 0 && o->p >= SIP_OVERLOAD_FRONT_P)
		(void)sip_front_drain(o->front, sip_overload_front_admit, o);
}

int sip_overload_open(struct sip *s)
{
	struct sip_overload *o;
	int on = 1, err;

	if (!s->cfg->sip.overload_lag_ms)
		return 0;

	o = calloc(1, sizeof(*o));
	if (!o)
		return ENOMEM;
	s->overload = o;
	o->thr_us = (int64_t)s->cfg->sip.overload_lag_ms * 1000;
	o->s = s;
	if (getrandom(&o->rng, sizeof(o->rng), 0) != sizeof(o->rng) ||
	    !o->rng)
		o->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)clock_mono_ms();

	o->fd = sip_overload_find_udp(s);
	if (o->fd >= 0 &&
	    setsockopt(o->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)))
		o->fd = -1;
	if (o->fd < 0)
		log_info(s->log, "sip: overload: the SIP UDP socket's queue "
			 "cannot be watched; only the thread's lateness is");

	err = sip_front_alloc(s, o->fd, s->cfg->sip.transaction_timeout_ms +
			      SIP_OVERLOAD_SET_MARGIN_MS, &o->front);
	if (err)
		return err;
	o->timer = su_timer_create(su_root_task(s->root), 0);
	if (!o->timer)
		return ENOMEM;
	sip_overload_arm(o, sip_overload_now_us(CLOCK_MONOTONIC));
	return 0;
}

void sip_overload_close(struct sip *s)
{
	struct sip_overload *o = s->overload;

	if (!o)
		return;
	if (o->timer)
		su_timer_destroy(o->timer);
	sip_front_free(o->front);
	free(o);
	s->overload = NULL;
}

bool sip_overload_admit(struct sip *s, msg_t *msg, sip_t const *sip)
{
	struct sip_overload *o = s->overload;
	const char *id;
	unsigned retry_s;
	char retry[16];

	if (!o || !sip->sip_call_id || !sip->sip_call_id->i_id)
		return true;
	id = sip->sip_call_id->i_id;
	/* let through by the front already (sip_front.c): sofia reads it */
	if (sip_front_known(o->front, id, strlen(id)))
		return true;
	retry_s = sip_overload_decide(o);
	if (!retry_s) {
		/* its retransmissions are its transaction's, never refused */
		sip_front_remember(o->front, id, strlen(id));
		return true;
	}

	SIP_COUNT(s, overload_rejected);
	snprintf(retry, sizeof(retry), "%u", retry_s);
	/* stateless: a refused INVITE costs no transaction of ours; its
	 * retransmission (if the 503 is lost) is simply refused again */
	nta_msg_treply(s->agent, msg, SIP_503_SERVICE_UNAVAILABLE,
		       SIPTAG_RETRY_AFTER_STR(retry), TAG_END());
	return false;
}
