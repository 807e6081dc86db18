/*
 * sip_miss.h - the SIP side of a cache miss in cluster mode (sip_miss.c):
 * what sip_route.c, sip.c and sip_cmd.c call. SIP thread only.
 */
#ifndef MASKD_SIP_MISS_H
#define MASKD_SIP_MISS_H

/* At most this many INVITEs wait for PostgreSQL at once; past it a miss
 * is answered from the cache alone (a flood of unknown pairs must not
 * become a flood of queries). */
#define SIP_MISS_MAX 1024

/* How long past the handler's timeout a parked INVITE waits for an
 * answer that was lost (a full queue) before it is routed as it is. */
#define SIP_MISS_GUARD_MS 1000

/* sip_miss_wanted() - is there a handler to ask (and room)? */
bool sip_miss_wanted(const struct sip *s);

/*
 * sip_miss_park() - 100 Trying to @irq, ask the handler about (@caller,
 * @vn); the INVITE waits for sip_miss_answer(). Returns 0 (parked: the
 * transaction is ours), or an errno: not parked, route it as without a
 * handler.
 */
int sip_miss_park(struct sip *s, nta_incoming_t *irq, const char *caller,
		  const char *vn);

/* SIP_CMD_MISS_ANSWER / _SET */
void sip_miss_answer(struct sip *s, const struct sip_cmd_miss_answer *a);
void sip_miss_set_run(struct sip *s, const struct sip_cmd_miss_set *m);

/* sip_miss_stop_all() - stopping: every parked INVITE gets 503. */
void sip_miss_stop_all(struct sip *s);

/* sip_miss_close() - free s->miss (after the thread ended). */
void sip_miss_close(struct sip *s);

#endif
