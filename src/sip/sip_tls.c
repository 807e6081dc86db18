/*
 * sip_tls.c - SIP over TLS: the transport, which transport a request
 * came on, and keeping a TLS dialog on TLS.
 *
 * sofia-sip's tport does the TLS (OpenSSL) on its own TCP port; maskd
 * gives it a certificate directory (tlsconf.h) and a verification
 * policy: the peers maskd connects to (the gateway, and in-dialog
 * requests to a TLS caller) must present a certificate that chains to
 * [sip] tls_ca and (tls_verify_name) names the host maskd connected to;
 * clients connecting to maskd are not asked for one. Over TLS maskd writes
 * sip:...;transport=tls, which is what Kamailio and FreeSWITCH put on
 * their TLS trunks (a sips: URI would ask for TLS on every hop to the
 * party, which no carrier trunk promises).
 *
 * SIP thread only.
 */
#include "sip_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sofia-sip/nta_tport.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>

int sip_tls_listen(struct sip *s)
{
	const struct config *cfg = s->cfg;
	const char *host = cfg->sip.tls_listen.host;
	char url[CONFIG_HOST_SIZE + 64];
	unsigned policy;
	int err;

	if (!s->tls_port[0])
		return 0;

	/* no CA, no TLS gateway (config.c): the in-dialog requests maskd
	 * sends to a TLS caller are encrypted but cannot be verified */
	if (!cfg->sip.tls_ca[0])
		policy = TPTLS_VERIFY_NONE;
	else if (cfg->sip.tls_verify_name)
		policy = TPTLS_VERIFY_SUBJECTS_OUT;
	else
		policy = TPTLS_VERIFY_OUT;
	/* a sip: URL would offer nta udp, tcp and sctp to bind, and no tls:
	 * only sips: binds TLS (this names the socket, not our URIs) */
	snprintf(url, sizeof(url), strchr(host, ':') ?
		 "sips:[%s]:%u;transport=tls" : "sips:%s:%u;transport=tls",
		 host, (unsigned)s->tls_listen_port);
	su_seterrno(0);
	if (nta_agent_add_tport(s->agent, URL_STRING_MAKE(url),
				TPTAG_CERTIFICATE(s->tls_dir),
				TPTAG_TLS_VERIFY_POLICY(policy),
				TPTAG_TLS_VERIFY_DEPTH(SIP_TLS_VERIFY_DEPTH),
				TPTAG_TLS_VERIFY_DATE(1),
				/* a refused handshake closes the connection
				 * with nothing else said: only this makes
				 * nta fail the waiting request (503) rather
				 * than let it time out */
				TPTAG_SDWN_ERROR(1),
				TAG_END())) {
		err = su_errno();
		if (!err)
			err = EADDRNOTAVAIL;
		log_error(s->log, "sip: cannot listen on %s:%u (tls): %s",
			  host, (unsigned)s->tls_listen_port,
			  strerror(err));
		return err;
	}
	return 0;
}

enum sip_tp sip_tls_tp(struct sip *s, nta_incoming_t *irq)
{
	tport_t *tp = nta_incoming_transport(s->agent, irq, NULL);
	enum sip_tp out = SIP_TP_UDP;

	if (!tp)
		return out;
	/* a TLS transport is a TCP one too */
	if (tport_has_tls(tp))
		out = SIP_TP_TLS;
	else if (tport_is_tcp(tp))
		out = SIP_TP_TCP;
	tport_unref(tp);
	return out;
}

/* @url (in @home) says transport=tls instead of any transport it named. */
static int sip_tls_url_pin(su_home_t *home, url_t *url)
{
	if (url->url_type == url_sips)
		return 0;
	if (url->url_params)
		url->url_params = url_strip_param_string(
			(char *)url->url_params, "transport");
	return url_param_add(home, url, "transport=tls") ? ENOMEM : 0;
}

int sip_tls_pin(su_home_t *home, sip_record_route_t const *rr,
		sip_contact_t const *m, bool uac,
		sip_record_route_t **rr_out, sip_contact_t **m_out)
{
	sip_record_route_t *r, *hop = NULL;

	*rr_out = NULL;
	*m_out = NULL;
	if (rr) {
		*rr_out = sip_record_route_dup(home, rr);
		if (!*rr_out)
			return ENOMEM;
		for (r = *rr_out; r; r = r->r_next) {
			hop = r;
			if (!uac)
				break;
		}
	}
	if (m) {
		*m_out = sip_contact_dup(home, m);
		if (!*m_out)
			return ENOMEM;
	}
	if (hop)
		return sip_tls_url_pin(home, hop->r_url);
	if (*m_out)
		return sip_tls_url_pin(home, (*m_out)->m_url);
	return 0;
}
