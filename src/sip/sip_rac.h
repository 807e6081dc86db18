/*
 * sip_rac.h - what sip_rac.c (request-a-call: maskd calls both parties),
 * sip_rac_cmd.c (the control thread's requests about calls) and
 * sip_conf.c (participants mixed into a call) share with each other and
 * with the rest of src/sip/. Not a contract; SIP thread only.
 *
 * A call the API touches gets a struct sip_rac (c->rac): a
 * request-a-call has one from its start; an inbound call gets one when
 * a participant is first added. Both parties' legs stay in c->legs
 * (side A, side B); a participant is a struct sip_part of its own,
 * whose leg faces the relay leg of the same index (2..).
 */
#ifndef MASKD_SIP_RAC_H
#define MASKD_SIP_RAC_H

#ifndef MASKD_SIP_INTERNAL_H
#error "include sip_internal.h first"
#endif

/* A request-a-call's stage; an inbound call's rac stays SIP_RAC_NONE. */
enum sip_rac_stage {
	SIP_RAC_NONE = 0,	/* an inbound call (participants only) */
	SIP_RAC_FIRST,		/* calling the first party (side A) */
	SIP_RAC_SECOND,		/* A up, hearing `connecting`; calling B */
	SIP_RAC_BRIDGED,	/* A and B talk */
	SIP_RAC_GOODBYE,	/* B failed: A hears `goodbye`, then BYE */
};

/* One participant: a leg maskd called into a live call (sip_conf.c). */
struct sip_part {
	struct sip_leg leg;		/* leg.side: its relay leg (2..) */
	enum sip_leg_view_state state;
	uint16_t code;			/* its final answer */
	bool mixed;			/* in the mixer */
	su_timer_t *ring_timer;
};

/* Payload types maskd offers and plays (relay_call_play()). */
#define SIP_RAC_PT_PCMU 0
#define SIP_RAC_PT_PCMA 8
#define SIP_RAC_PT_TE 101	/* telephone-event/8000, ours */

/* A party's answer to maskd's offer: the codec it chose. */
struct sip_rac_codec {
	int pt;				/* SIP_RAC_PT_PCMU/PCMA */
	int te_pt;			/* telephone-event; -1: none */
};

struct sip_rac {
	enum sip_rac_stage stage;
	struct sip_originate o;		/* a request-a-call's; zero else */
	enum sip_leg_view_state state[SIP_CALL_LEGS];	/* A, B */
	uint16_t code[SIP_CALL_LEGS];
	bool rang[SIP_CALL_LEGS];	/* call.ringing posted for the leg */
	struct sip_rac_codec codec;	/* what A answered; offered to B */
	struct sip_rac_codec early;	/* scratch: an answer in a 18x */
	int want;			/* what A hears: a prompt_id, -1 none */
	unsigned retries;		/* of that play change (EBUSY) */
	su_timer_t *retry_timer;	/* ... the next try */
	su_timer_t *guard_timer;	/* goodbye: ends it if the done report
					 * is lost */
	char end_reason[CDR_REASON_SIZE];	/* goodbye: the CDR's */
	uint16_t end_code;

	/* participants (sip_conf.c), by relay leg index */
	struct sip_part *parts[SIP_CALL_LEGS_MAX];
	unsigned n_parts;		/* live ones */
	unsigned joined;		/* ever answered: CDR participants */
	uint32_t mixed;			/* relay legs in the mixer */
};

/* ---- sip_rac_cmd.c ---- */

/* sip_rac_cmd() - run one request of the control thread (sip_cmd.c). */
void sip_rac_cmd(struct sip *s, const struct sip_call_req *req);

/* ---- sip_rac.c ---- */

/*
 * sip_rac_originate() - a request-a-call for @o: its relay call, the
 * first INVITE out, the session claimed. Returns 0 and *cp, ECANCELED
 * (stopping), EBUSY (the session has a call), EINVAL, ENOSPC (no ports)
 * or an errno.
 */
int sip_rac_originate(struct sip *s, const struct sip_originate *o,
		      struct sip_call **cp);

/* sip_rac_get() - @c's rac, made on first use (an inbound call). NULL:
 * ENOMEM. */
struct sip_rac *sip_rac_get(struct sip_call *c);

/* sip_rac_free() - @c's rac and its participants (sip_call_free()). */
void sip_rac_free(struct sip_call *c);

/*
 * sip_rac_on_response() - the answers to maskd's INVITE on a leg of a
 * request-a-call (@leg: side A or B). As nta_response_f.
 */
int sip_rac_on_response(struct sip_leg *leg, nta_outgoing_t *orq,
			sip_t const *sip);

/*
 * sip_rac_hangup() - sip_call_hangup() of a call with a rac: ends every
 * participant; for a request-a-call not yet bridged, ends the whole call
 * (CANCEL what rings, BYE what is up, CDR) and returns true; else false
 * (the plain hang-up goes on).
 */
bool sip_rac_hangup(struct sip_call *c, struct sip_leg *except,
		    enum cdr_hangup who, const char *reason);

/*
 * sip_rac_on_request() - an in-dialog request on a leg of a call with a
 * rac. True when taken care of (*status: 0, or what nta answers with).
 */
bool sip_rac_on_request(struct sip_leg *from, nta_incoming_t *irq,
			sip_t const *sip, int *status);

/* sip_rac_play_done() - a prompt to leg @leg of @c is over (@err). */
void sip_rac_play_done(struct sip_call *c, int leg, int err);

/*
 * sip_rac_offer() - maskd's own SDP offer to @leg's party, naming
 * rtp.advertise and @leg's relay port: @codec (NULL: PCMU and PCMA,
 * with telephone-event). malloc'd into *sdpp, also kept as the leg's
 * last SDP sent (its session refresh). 0 or ENOMEM.
 */
int sip_rac_offer(struct sip_leg *leg, const struct sip_rac_codec *codec,
		  char **sdpp);

/*
 * sip_rac_answer_final() - sip_rac_answer() of the 2xx @sip, or, when it
 * has no SDP, the codec of the answer a 18x carried before (already
 * given to the relay). EPROTO when there is none.
 */
int sip_rac_answer_final(struct sip_leg *leg, sip_t const *sip,
			 struct sip_rac_codec *codec);

/* sip_rac_codec_of() - the codec of the first audio stream of SDP
 * @body (@len bytes); EPROTO when it has neither PCMU nor PCMA. */
int sip_rac_codec_of(const char *body, size_t len,
		     struct sip_rac_codec *codec);

/*
 * sip_rac_answer() - @sip, a party's answer to maskd's offer on @leg:
 * tell the relay where that party wants its media, and the codec it
 * chose into @codec. EPROTO when there is none usable (no SDP, no G.711).
 */
int sip_rac_answer(struct sip_leg *leg, sip_t const *sip,
		   struct sip_rac_codec *codec);

/*
 * sip_rac_retry() - a failure @status (@sip) to maskd's INVITE on
 * originated @leg that may go again: 422 with a Min-SE, a challenge we
 * have credentials for (each once). 0 when it went again; else
 * *reasonp is "auth_failed"/"auth_required" (the gateway's
 * authentication failed: the party sees 403), "failure", or NULL.
 */
int sip_rac_retry(struct sip_leg *leg, sip_t const *sip, int status,
		  const char **reasonp);

/*
 * sip_rac_reinvite() - the INVITE of originated @leg again (a 422 with
 * Min-SE, or a challenge: sip_auth_challenge() done), with the SDP it
 * was last sent. 0 when it went.
 */
int sip_rac_reinvite(struct sip_leg *leg);

/* ---- sip_conf.c ---- */

/*
 * sip_conf_add() - call @number from @c's VN into @c (bridged) as a
 * participant, at most @max of them. Returns 0 and *legp, EALREADY (the
 * parties are not talking), ENOSPC (the cap, or no ports), EPROTO (the
 * parties' codec cannot be mixed) or an errno.
 */
int sip_conf_add(struct sip_call *c, const char *number, unsigned max,
		 unsigned *legp);

/* sip_conf_remove() - BYE (or CANCEL) participant @leg of @c. ESRCH: no
 * such participant. */
int sip_conf_remove(struct sip_call *c, unsigned leg);

/* sip_conf_end() - every participant of @c leaves (the call ends). */
void sip_conf_end(struct sip_call *c);

/* sip_conf_on_response() - as sip_rac_on_response(), participant legs. */
int sip_conf_on_response(struct sip_leg *leg, nta_outgoing_t *orq,
			 sip_t const *sip);

/* sip_conf_on_request() - as sip_rac_on_request(), participant legs. */
bool sip_conf_on_request(struct sip_leg *from, nta_incoming_t *irq,
			 sip_t const *sip, int *status);

/* sip_conf_view() - @c's participants into @v. */
void sip_conf_view(struct sip_call *c, struct sip_call_view *v);

#endif
