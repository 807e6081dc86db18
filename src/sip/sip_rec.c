/*
 * sip_rec.c - recording a call (recorder.h) from the SIP side: a call of
 * a session with `record` starts its recording when it is answered and
 * stops it when its media ends (sip_media_close(), however the call
 * ends); with [recording] announce both parties first hear the
 * `recorded` prompt, the bridge held open meanwhile.
 *
 * SIP thread only. The recorder is set once after sip_start()
 * (sip_recorder_set()), an atomic pointer: a call answered in the
 * instant before it is set is not recorded.
 */
#include "sip_internal.h"
#include "sip_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/player.h"
#include "maskd/recorder.h"

void sip_recorder_set(struct sip *s, struct recorder *r)
{
	unsigned i;

	for (i = 0; i < s->grp->n; i++)
		atomic_store_explicit(&s->grp->w[i]->rec, r,
				      memory_order_release);
}

/* The first format of the m=audio line @leg's party sent us: what it
 * will most likely send; -1 when there is none. */
static int sip_rec_first_pt(const struct sip_leg *leg)
{
	const char *m = leg->st.peer_sdp ? strstr(leg->st.peer_sdp, "m=audio ")
					 : NULL;
	unsigned port, pt;

	if (m && sscanf(m, "m=audio %u RTP/AVP %u", &port, &pt) == 2)
		return (int)pt;
	return -1;
}

/* The payload type to play to @leg's party: PCMA when it put PCMA
 * first, PCMU otherwise (every maskd offer and answer carries G.711). */
static uint8_t sip_rec_pt(const struct sip_leg *leg)
{
	return sip_rec_first_pt(leg) == PLAYER_PT_PCMA ? PLAYER_PT_PCMA
						       : PLAYER_PT_PCMU;
}

/* The file's rate from the SDP: 16 kHz when a party put G.722 (9)
 * first, 8 kHz for G.711 first, 0 (the recorder waits for the first
 * audio) otherwise. */
static unsigned sip_rec_rate(const struct sip_call *c)
{
	int a = sip_rec_first_pt(&c->legs[RELAY_LEG_A]);
	int b = sip_rec_first_pt(&c->legs[RELAY_LEG_B]);

	if (a == 9 || b == 9)
		return 16000;
	if ((a == 0 || a == 8) && (b == 0 || b == 8))
		return 8000;
	return 0;
}

/* Both prompts are over: bridge the legs again. */
static void sip_rec_bridge(struct sip_call *c)
{
	if (!c->media)
		return;
	/* EBUSY cannot happen: the unbridging notes were applied before
	 * the prompts they preceded could end */
	(void)relay_call_connect(c->media, RELAY_LEG_A,
				 relay_call_sink(c->media, RELAY_LEG_B));
	(void)relay_call_connect(c->media, RELAY_LEG_B,
				 relay_call_sink(c->media, RELAY_LEG_A));
}

void sip_rec_play_done(struct sip_call *c, int leg)
{
	if (!(c->rec_playing & (1u << leg)))
		return;
	c->rec_playing &= (uint8_t)~(1u << leg);
	if (!c->rec_playing)
		sip_rec_bridge(c);
}

/*
 * The prompt to both parties; what they say meanwhile is recorded but
 * not passed on, so neither hears the other over it. The play first:
 * a leg whose play cannot start keeps its bridge (a connect note cannot
 * be taken back before the worker has applied it).
 */
static void sip_rec_announce(struct sip_call *c)
{
	const struct prompt *p = prompt_get(c->s->prompts, PROMPT_RECORDED);
	int l;

	if (!p)
		return;
	for (l = 0; l < SIP_CALL_LEGS; l++) {
		if (relay_call_play(c->media, (enum relay_leg)l, p,
				    sip_rec_pt(&c->legs[l]),
				    sip_announce_on_done, c->s))
			continue;
		c->rec_playing |= (uint8_t)(1u << l);
	}
	/* what each party says goes nowhere until both prompts are over */
	for (l = 0; l < SIP_CALL_LEGS && c->rec_playing; l++)
		(void)relay_call_connect(c->media, (enum relay_leg)l, NULL);
}

void sip_rec_answered(struct sip_call *c)
{
	struct sip *s = c->s;
	struct recorder *r = atomic_load_explicit(&s->rec,
						  memory_order_acquire);
	int err;

	if (!c->record || !r || !c->media || c->rec)
		return;
	err = recorder_call_start(r, c->media, c->cdr.id, c->cdr.session_id,
				  c->cdr.a_to_b ? RELAY_LEG_A : RELAY_LEG_B,
				  sip_rec_rate(c), &c->rec);
	if (err) {
		/* the call goes on unrecorded; the CDR says why */
		c->cdr.rec_state = CDR_REC_FAILED;
		snprintf(c->cdr.rec_reason, sizeof(c->cdr.rec_reason), "%s",
			 REC_REASON_IO);
		return;
	}
	c->cdr.rec_state = CDR_REC_ACTIVE;
	c->cdr.rec_format = (uint8_t)recorder_format(r);
	if (s->cfg->recording.announce && s->prompts)
		sip_rec_announce(c);
}

void sip_rec_stop(struct sip_call *c)
{
	recorder_call_stop(c->rec);
	c->rec = NULL;
	c->rec_playing = 0;
}
