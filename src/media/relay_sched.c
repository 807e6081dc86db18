/*
 * relay_sched.c - the relay workers' scheduling: [rtp] realtime_priority.
 *
 * A worker sends every played packet from its one play timer and relays
 * every packet as it arrives; on a busy host a worker that waits behind
 * other runnable threads delays a whole tick of packets (jitter of tens of
 * ms at 2,000 plays on two cores at normal priority, 1-2 ms at real-time
 * priority). Media relays are run at real-time priority for that reason
 * (rtpengine's --scheduling/--priority, FreeSWITCH's -rp, Debian's
 * freeswitch.service CPUSchedulingPolicy): the same, for the workers only.
 * The SIP, control, store and recorder threads keep normal priority, so
 * signalling never competes with itself for a core.
 *
 * Why SCHED_RR and a bounded priority: a worker that ran away at
 * SCHED_FIFO would keep its core until it blocked; under RR, workers of
 * one priority share a core by time slice, the kernel's RT throttling
 * (kernel.sched_rt_runtime_us, 950000 of 1000000 by default) leaves the
 * other threads 5% of every CPU, and a priority below 50 stays under the
 * kernel's threaded interrupt handlers (which PREEMPT_RT runs at 50). With
 * the throttling turned off (-1) a runaway worker on a host with as many
 * workers as cores could lock the host: maskd then says so once.
 *
 * Runs on the thread that calls relay_start(), before any call.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "relay_internal.h"

#define RT_RUNTIME_PATH "/proc/sys/kernel/sched_rt_runtime_us"

/* Whether the kernel throttles real-time threads (the default): read
 * once at start. Unknown (no /proc) counts as throttled. */
static bool relay_sched_throttled(void)
{
	FILE *f = fopen(RT_RUNTIME_PATH, "r");
	long us = 0;
	int n;

	if (!f)
		return true;
	n = fscanf(f, "%ld", &us);
	fclose(f);
	return n != 1 || us >= 0;
}

unsigned relay_sched_apply(struct relay *r, unsigned prio)
{
	struct sched_param sp;
	unsigned i, n = 0;
	int err = 0;

	if (!prio)
		return 0;
	memset(&sp, 0, sizeof(sp));
	sp.sched_priority = (int)prio;
	for (i = 0; i < r->n_workers; i++) {
		struct relay_worker *w = r->workers[i];

		err = pthread_setschedparam(w->thread, SCHED_RR, &sp);
		if (err)
			break;	/* EPERM for one is EPERM for all */
		atomic_store_explicit(&w->rt_prio, prio,
				      memory_order_relaxed);
		n++;
	}
	if (err) {
		/* all or none: workers share the calls evenly, so one at
		 * another priority than the rest helps nobody */
		sp.sched_priority = 0;
		for (i = 0; i < n; i++) {
			(void)pthread_setschedparam(r->workers[i]->thread,
						    SCHED_OTHER, &sp);
			atomic_store_explicit(&r->workers[i]->rt_prio, 0,
					      memory_order_relaxed);
		}
		n = 0;
	}
	if (err == EPERM)
		log_warn(r->log, "relay: [rtp] realtime_priority %u not "
			 "applied (EPERM: maskd needs CAP_SYS_NICE, or an "
			 "RLIMIT_RTPRIO of %u, e.g. systemd's "
			 "LimitRTPRIO=); the %u relay workers run at normal "
			 "priority", prio, prio, r->n_workers);
	else if (err)
		log_warn(r->log, "relay: [rtp] realtime_priority %u not "
			 "applied: %s; the relay workers run at normal "
			 "priority", prio, strerror(err));
	else
		log_info(r->log, "relay: %u workers at SCHED_RR priority %u "
			 "(SIP and control threads at normal priority)", n,
			 prio);
	if (n && !relay_sched_throttled())
		log_warn(r->log, "relay: the kernel does not throttle "
			 "real-time threads (%s is -1): a runaway relay "
			 "worker could starve this host; set it back to "
			 "950000, or [rtp] realtime_priority = 0",
			 RT_RUNTIME_PATH);
	return n;
}
