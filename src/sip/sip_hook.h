/*
 * sip_hook.h - the SIP side of the call-routing hook (sip_hook.c): what
 * sip_route.c, sip_call.c and sip_cmd.c call. SIP thread only, except
 * where said.
 */
#ifndef MASKD_SIP_HOOK_H
#define MASKD_SIP_HOOK_H

/* Parked INVITEs, by token; a power of two. */
#define SIP_HOOK_BUCKETS 1024

/* How long past [hooks] timeout_ms a parked INVITE waits for an answer
 * that was lost (a full queue) before on_error decides. */
#define SIP_HOOK_GUARD_MS 1000

/*
 * sip_hook_wanted() - must INVITE (@caller -> @vn) ask the hook, given
 * the store's answer @lookup_err (0 a session, ENOENT none, ESTALE an
 * ended one)?
 */
bool sip_hook_wanted(const struct sip *s, int lookup_err);

/*
 * sip_hook_park() - 100 Trying to @irq and ask the hook; the INVITE
 * waits in a call of state SIP_CALL_HOOK. @sess is the lookup's session
 * (active with @lookup_err 0, ended with ESTALE; else unused). Returns as
 * sip_route_invite(): 0 when the call took @irq over, else a status.
 */
int sip_hook_park(struct sip *s, nta_incoming_t *irq, sip_t const *sip,
		  const struct config_trunk *t, const char *caller,
		  const char *vn, int lookup_err, const struct session *sess);

/* sip_hook_answer() - SIP_CMD_HOOK_ANSWER: the decision for a parked
 * INVITE (none with that token any more: ignored, counted). */
void sip_hook_answer(struct sip *s, const struct sip_hook_answer *a);

/* sip_hook_set_run() - SIP_CMD_HOOK_SET: the handler from now on. */
void sip_hook_set_run(struct sip *s, const struct sip_cmd_hook_set *m);

/* sip_hook_forget() - @c is being freed: out of the parked table, its
 * hook state freed. NULL-safe on c->hook. */
void sip_hook_forget(struct sip_call *c);

/* sip_hook_close() - free s->hook (after the thread ended). */
void sip_hook_close(struct sip *s);

#endif
