/*
 * sip_guard.c - what an out-of-dialog request must pass before maskd
 * spends anything on it: the per-source flood limit (pike-style, flood.h),
 * the scanner User-Agents, and, for a new INVITE, the calls-per-second
 * caps.
 *
 * The first two run in the agent's message callback (sip.c), before nta
 * has made a server transaction: a refused request is freed there and
 * then, so a flood costs a parse and a table lookup, nothing more. In-dialog
 * requests and retransmissions never get here (nta matches them first);
 * neither do requests nta's parser refuses itself (it answers those 400
 * statelessly; sip_on_stats() adds them to the malformed counter).
 *
 * The table and the buckets are the workers' group's (sip_worker.h), so
 * the limits are the node's whatever worker a request reaches: with
 * several workers each check holds the group's guard_lock for a lookup,
 * with one it takes no lock.
 *
 * SIP threads; hot path: no allocation (but for an optional 503), no
 * log. Every refusal is counted.
 */
#include "sip_internal.h"
#include "sip_worker.h"

#include <sofia-sip/nta_stateless.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Sources tracked at once: 72 bytes each. A flood of forged sources can
 * only evict quiet entries, never a blocked one (flood.h). */
#define SIP_FLOOD_SLOTS 16384

/* The largest burst a CPS cap lets through: one second's worth. */
#define SIP_CPS_BURST_S 1.0

/*
 * Every time here is clock_mono_ms(), not the wall clock: a wall clock
 * stepped back would keep an offender blocked for the size of the step,
 * one stepped forward would free it early.
 */

static void sip_guard_bucket_init(struct tbucket *b, uint32_t cps,
				  int64_t now)
{
	double burst = cps * SIP_CPS_BURST_S;

	tbucket_init(b, cps, burst < 1 ? 1 : burst, now);
}

int sip_guard_open(struct sip_group *g, const struct config *cfg)
{
	struct flood_params p;
	int64_t now = clock_mono_ms();
	size_t i;
	int err;

	if (cfg->flood.rate) {
		memset(&p, 0, sizeof(p));
		p.limit = cfg->flood.rate;
		p.window_ms = cfg->flood.window_s * 1000;
		p.block_ms = cfg->flood.block_s * 1000;
		p.slots = SIP_FLOOD_SLOTS;
		err = flood_alloc(&g->flood, &p);
		if (err)
			return err;
	}

	sip_guard_bucket_init(&g->cps, cfg->sip.cps, now);
	if (cfg->n_trunks) {
		g->trunk_cps = calloc(cfg->n_trunks, sizeof(*g->trunk_cps));
		if (!g->trunk_cps)
			return ENOMEM;
	}
	for (i = 0; i < cfg->n_trunks; i++)
		sip_guard_bucket_init(&g->trunk_cps[i], cfg->trunks[i].cps,
				      now);
	return 0;
}

void sip_guard_close(struct sip_group *g)
{
	flood_free(g->flood);
	g->flood = NULL;
	free(g->trunk_cps);
	g->trunk_cps = NULL;
}

/* The group's guard_lock, when there is more than one worker to share
 * the table and buckets with. */
static void sip_guard_lock(struct sip_group *g)
{
	if (g->n > 1)
		pthread_mutex_lock(&g->guard_lock);
}

static void sip_guard_unlock(struct sip_group *g)
{
	if (g->n > 1)
		pthread_mutex_unlock(&g->guard_lock);
}

static bool sip_guard_from_trunk(const struct sip *s, const struct sockaddr *sa)
{
	const struct config *cfg = s->cfg;
	size_t i, j;

	for (i = 0; i < cfg->n_trunks; i++)
		for (j = 0; j < cfg->trunks[i].n_sources; j++)
			if (net_cidr_match(&cfg->trunks[i].sources[j], sa))
				return true;
	return false;
}

bool sip_guard_scanner_ua(const struct sip *s, const char *ua)
{
	const struct config *cfg = s->cfg;
	size_t i;

	for (i = 0; i < cfg->flood.n_scanners; i++)
		if (strcasestr(ua, cfg->flood.scanners[i]))
			return true;
	return false;
}

static bool sip_guard_scanner(const struct sip *s, sip_t const *sip)
{
	if (!sip->sip_user_agent || !sip->sip_user_agent->g_string)
		return false;
	return sip_guard_scanner_ua(s, sip->sip_user_agent->g_string);
}

bool sip_guard_flood_blocked(struct sip *s, const struct sockaddr *sa)
{
	const struct config *cfg = s->cfg;

	/*
	 * A carrier flooding is still a flood, so trunk sources are limited
	 * too unless the operator says otherwise; their rate is what
	 * [flood] rate is sized for.
	 */
	struct sip_group *g = s->grp;
	bool blocked;

	if (!g->flood ||
	    (cfg->flood.exempt_trunks && sip_guard_from_trunk(s, sa)))
		return false;
	sip_guard_lock(g);
	blocked = flood_check_addr(g->flood, sa, clock_mono_ms()) ==
		  FLOOD_BLOCK;
	sip_guard_unlock(g);
	return blocked;
}

bool sip_guard_admit(struct sip *s, msg_t *msg, sip_t const *sip)
{
	const struct config *cfg = s->cfg;
	su_sockaddr_t const *su = msg_addr(msg);
	char retry[16];

	if (su && sip_guard_flood_blocked(s, &su->su_sa)) {
		SIP_COUNT(s, flood_blocked);
		if (!cfg->flood.reply_503 ||
		    sip->sip_request->rq_method == sip_method_ack) {
			msg_destroy(msg);
			return false;
		}
		snprintf(retry, sizeof(retry), "%u", cfg->flood.block_s);
		/* stateless: an offender gets no transaction of ours */
		nta_msg_treply(s->agent, msg, SIP_503_SERVICE_UNAVAILABLE,
			       SIPTAG_RETRY_AFTER_STR(retry), TAG_END());
		return false;
	}

	/* a scanner learns nothing from silence, not even that we exist */
	if (sip_guard_scanner(s, sip)) {
		SIP_COUNT(s, scanner_dropped);
		msg_destroy(msg);
		return false;
	}
	return true;
}

static bool sip_guard_reply_503(nta_incoming_t *irq, uint32_t retry_s)
{
	char retry[16];

	snprintf(retry, sizeof(retry), "%u", retry_s ? retry_s : 1);
	nta_incoming_treply(irq, SIP_503_SERVICE_UNAVAILABLE,
			    SIPTAG_RETRY_AFTER_STR(retry), TAG_END());
	nta_incoming_destroy(irq);
	return false;
}

bool sip_guard_cps_ok(struct sip *s, const struct config_trunk *t,
		  nta_incoming_t *irq)
{
	const struct config *cfg = s->cfg;
	struct sip_group *g = s->grp;
	int64_t now = clock_mono_ms();
	uint32_t retry_s = 0;
	bool ok = true;

	if (!(t && t->cps && g->trunk_cps) && !cfg->sip.cps)
		return true;
	sip_guard_lock(g);
	/* the trunk's own cap first: a trunk over its share must not
	 * spend the tokens of the others */
	if (t && t->cps && g->trunk_cps &&
	    !tbucket_take(&g->trunk_cps[t - cfg->trunks], now, &retry_s))
		ok = false;
	else if (cfg->sip.cps && !tbucket_take(&g->cps, now, &retry_s))
		ok = false;
	sip_guard_unlock(g);
	if (!ok) {
		SIP_COUNT(s, cps_refused);
		return sip_guard_reply_503(irq, retry_s);
	}
	return true;
}
