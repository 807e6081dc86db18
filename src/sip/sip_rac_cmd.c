/*
 * sip_rac_cmd.c - the control thread's requests about calls
 * (SIP_CMD_CALL, sip_cmd.c): originate a request-a-call (sip_rac.c),
 * look at a live call, hang it up, add or remove a participant
 * (sip_conf.c). Each is answered exactly once through its reply handler
 * with a copy of the call (struct sip_call_view): nothing of a call
 * leaves the SIP thread but that copy. A request about a call another
 * worker has goes on to it (sip_worker.h). SIP thread only.
 */
#include "sip_internal.h"
#include "sip_worker.h"

#include <errno.h>
#include <string.h>

static void sip_rac_view(struct sip_call *c, struct sip_call_view *v)
{
	struct sip_rac *rac = c->rac;
	bool api = rac && rac->stage != SIP_RAC_NONE;
	struct sip_leg *leg;
	size_t i;

	memset(v, 0, sizeof(*v));
	memcpy(v->call_id, c->cdr.id, STORE_ID_LEN);
	memcpy(v->session_id, c->cdr.session_id, STORE_ID_LEN);
	v->api = api;
	v->a_to_b = c->cdr.a_to_b;
	v->start_ms = c->cdr.start_ms;
	v->answer_ms = c->cdr.answer_ms;
	v->bridged = api ? rac->stage == SIP_RAC_BRIDGED
			 : c->state == SIP_CALL_CONFIRMED ||
			   c->state == SIP_CALL_ANSWERED;
	v->ending = c->state == SIP_CALL_ZOMBIE ||
		    (api && rac->stage == SIP_RAC_GOODBYE);
	for (i = 0; i < SIP_CALL_LEGS; i++) {
		leg = &c->legs[i];
		v->legs[i].id = (unsigned)i;
		if (c->state == SIP_CALL_ZOMBIE) {
			v->legs[i].state = SIP_LEG_VIEW_ENDED;
		} else if (api) {
			v->legs[i].state = rac->state[i];
			v->legs[i].code = rac->code[i];
		} else if (leg->role == SIP_LEG_INBOUND) {
			v->legs[i].state = c->state == SIP_CALL_CONFIRMED ?
					   SIP_LEG_VIEW_ANSWERED :
					   SIP_LEG_VIEW_CALLING;
		} else {
			v->legs[i].state = leg->answered ?
					   SIP_LEG_VIEW_ANSWERED :
					   c->ringing_told ?
					   SIP_LEG_VIEW_RINGING :
					   SIP_LEG_VIEW_CALLING;
		}
	}
	v->n_legs = SIP_CALL_LEGS;
	if (rac)
		sip_conf_view(c, v);
}

/*
 * The live call with record id @id; a linear walk, for the API's pace.
 * A call whose record has gone out (a ZOMBIE waiting for a CANCEL's
 * answer) is over for the API: its record answers for it.
 */
static struct sip_call *sip_rac_find(struct sip *s,
				     const uint8_t id[STORE_ID_LEN])
{
	struct sip_call *c;

	for (c = s->calls; c; c = c->next) {
		if (!c->cdr_none && !c->cdr_sent &&
		    !memcmp(c->cdr.id, id, STORE_ID_LEN))
			return c;
	}
	return NULL;
}

static void sip_rac_reply(const struct sip_call_req *req, int err,
			  const struct sip_call_view *v, unsigned leg)
{
	struct sip_reply r;

	memset(&r, 0, sizeof(r));
	r.op = req->op;
	r.token = req->token;
	r.err = err;
	r.leg = leg;
	if (!err && v)
		r.view = *v;
	req->h(&r, req->arg);
}

void sip_rac_cmd(struct sip *s, const struct sip_call_req *req)
{
	struct sip_call_view v;
	struct sip_call *c = NULL;
	unsigned leg = 0;
	int err;

	if (!req->h)
		return;
	if (req->op == SIP_CALL_OP_ORIGINATE) {
		/* sip_worker_pick() sends one here only when every worker
		 * is draining */
		err = s->draining ? ESHUTDOWN
				  : sip_rac_originate(s, &req->o, &c);
		if (!err)
			sip_rac_view(c, &v);
		sip_rac_reply(req, err, &v, 0);
		return;
	}

	c = sip_rac_find(s, req->call_id);
	if (!c) {
		/* another worker's call, maybe: the last one says ENOENT
		 * (so does this one if the next's queue is full) */
		if (!sip_worker_pass(s, SIP_CMD_CALL, req, sizeof(*req)))
			return;
		sip_rac_reply(req, ENOENT, NULL, 0);
		return;
	}
	switch (req->op) {
	case SIP_CALL_OP_GET:
		err = 0;
		break;
	case SIP_CALL_OP_HANGUP:
		/* the view first: the call may be freed by its end */
		sip_rac_view(c, &v);
		v.ending = true;
		if (c->state != SIP_CALL_ZOMBIE)
			sip_call_end(c, "api_hangup");
		sip_rac_reply(req, 0, &v, 0);
		return;
	case SIP_CALL_OP_PARTICIPANT_ADD:
		err = sip_conf_add(c, req->number, req->max_participants,
				   &leg);
		break;
	case SIP_CALL_OP_PARTICIPANT_REMOVE:
		leg = req->leg;
		err = sip_conf_remove(c, req->leg);
		break;
	default:
		err = EINVAL;
		break;
	}
	if (!err)
		sip_rac_view(c, &v);
	sip_rac_reply(req, err, &v, leg);
}
