/*
 * relay_packet.c - the per-packet path of a relay worker.
 *
 * Everything here runs on a worker thread for every datagram, and so does
 * no allocation, takes no lock and writes no log line: what happens is
 * counted (struct relay_side, struct relay_worker). Packets are moved in
 * batches with recvmmsg()/sendmmsg() from the worker's scratch buffers,
 * one system call for up to RELAY_BATCH datagrams each way.
 */
#include <errno.h>
#include <string.h>

#include "maskd/rtcp.h"
#include "relay_internal.h"

/*
 * relay_dest_accept() - may a packet from @src, arriving on the leg that
 * owns @d, be relayed? Latches @d onto @src when the rules in relay.h
 * say so. Hot path.
 */
static bool relay_dest_accept(struct relay_dest *d, const union relay_sa *src,
			      socklen_t srclen, int64_t now, bool strict)
{
	if (relay_sa_equal(src, &d->addr)) {
		d->last_ms = now;
		return true;
	}

	/* strict: addr is the SDP's, and nothing else is accepted */
	if (strict)
		return false;

	if (!d->latched || relay_sa_equal(src, &d->sdp) ||
	    (now - d->last_ms >= RELAY_RELATCH_MS &&
	     relay_sa_same_host(src, &d->addr))) {
		memcpy(&d->addr, src, srclen);
		d->len = srclen;
		d->latched = true;
		d->last_ms = now;
		return true;
	}

	return false;
}

/*
 * relay_side_tap() - each tap of @in sees the packet (relay.h: a DTMF
 * collector and a recorder may listen at once). Hot path, only for a
 * tapped leg.
 */
static void relay_side_tap(struct relay_side *in, const uint8_t *pkt,
			   unsigned len, bool rtcp_port, int64_t now)
{
	bool is_rtcp = rtcp_port || rtcp_is_rtcp(pkt, len);
	unsigned t;

	for (t = 0; t < RELAY_TAPS; t++) {
		if (in->tap[t])
			in->tap[t]->ops->write(in->tap[t], pkt, len, is_rtcp,
					       now);
	}
}

/*
 * relay_send() - send @n prepared datagrams out of @fd; returns how many
 * went, adding their bytes to *bytes. One that the kernel refuses is
 * skipped (counted as a drop by the caller); a full socket buffer drops
 * the rest of the batch rather than spin. Hot path.
 */
static unsigned relay_send(int fd, struct mmsghdr *m, unsigned n,
			   uint64_t *bytes)
{
	unsigned i = 0, sent = 0, j;
	int k;

	while (i < n) {
		k = sendmmsg(fd, m + i, n - i, MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				break;
			i++;		/* this one is refused; go on */
			continue;
		}
		for (j = i; j < i + (unsigned)k; j++)
			*bytes += m[j].msg_len;
		sent += (unsigned)k;
		i += (unsigned)k;
	}

	return sent;
}

/*
 * relay_sock_idle() - a pool socket with no call (relay_pool.c): read
 * what came and drop it, counted, so the edge-triggered event fires again
 * for the next packet. Hot path (a party still sending after its BYE).
 */
static void relay_sock_idle(struct relay_sock *s)
{
	struct relay_worker *w = s->w;
	uint64_t drops = 0;
	unsigned round, i;
	int n = 0;

	for (round = 0; round < RELAY_DRAIN_ROUNDS; round++) {
		for (i = 0; i < RELAY_BATCH; i++) {
			w->rmsg[i].msg_hdr.msg_namelen = sizeof(w->rname[i]);
			w->rmsg[i].msg_hdr.msg_flags = 0;
		}
		n = recvmmsg(s->fd, w->rmsg, RELAY_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		drops += (unsigned)n;
		if (n < RELAY_BATCH)
			break;
	}
	if (round == RELAY_DRAIN_ROUNDS)
		event_active(&s->ev, EV_READ, 1);
	if (drops)
		relay_count(&w->drops, drops);
}

/*
 * relay_sock_forward() - a call's socket is readable: drain it, writing
 * what the leg accepts into the leg's sink (and its taps).
 *
 * The socket is watched edge-triggered (EV_ET): epoll then does not poll
 * every ready socket again on each wait, which at 100,000 packets/s is a
 * measurable share of the CPU. The price is that the socket must be
 * drained, or re-activated by hand when the round limit stops us.
 *
 * Packets arriving on leg L come from party L. When L's sink is a leg
 * output (the plain call: the other leg's), they go out of that leg's
 * socket of the same kind, to where that leg has latched (or to its SDP
 * address), so party O sees them come from maskd's port facing it - in
 * batches, sendmmsg() straight from the receive buffers, with no call
 * through the sink's ops: the sink costs one compare per wake-up here.
 * Any other sink gets write() per packet; a tap gets write() per packet
 * before the packet is forwarded (and before RTCP is scrubbed). Hot path.
 */
static void relay_sock_forward(evutil_socket_t fd, struct relay_sock *s)
{
	struct relay_call *c = s->call;
	struct relay_worker *w = c->w;
	struct relay_side *in = relay_side(c, s->leg);
	struct relay_sink *sink = in->sink;
	bool tapped = in->tapped;
	struct relay_side *out = relay_sink_side(sink);
	struct relay_dest *from = &in->dest[s->kind];
	struct relay_dest *to = out ? &out->dest[s->kind] : NULL;
	int out_fd = out ? out->sock[s->kind]->fd : -1;
	bool strict = w->r->strict;
	uint64_t pkts = 0, bytes = 0, drops = 0;
	/* coarse: a vDSO read of the last tick; a few ms of error is
	 * nothing next to latching and timeout periods of seconds (the
	 * relay's every time is coarse, so they compare) */
	int64_t now = clock_mono_coarse_ms();
	bool heard = false;
	unsigned round, i, nsend, sent;
	int n;

	for (round = 0; round < RELAY_DRAIN_ROUNDS; round++) {
		for (i = 0; i < RELAY_BATCH; i++) {
			w->rmsg[i].msg_hdr.msg_namelen = sizeof(w->rname[i]);
			w->rmsg[i].msg_hdr.msg_flags = 0;
		}

		n = recvmmsg(fd, w->rmsg, RELAY_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;	/* EAGAIN: drained (or an error: retried on
				 * the next readable event) */

		nsend = 0;
		for (i = 0; i < (unsigned)n; i++) {
			struct msghdr *h = &w->rmsg[i].msg_hdr;
			unsigned len = w->rmsg[i].msg_len;

			if (h->msg_flags & MSG_TRUNC ||
			    !relay_dest_accept(from, &w->rname[i],
					       h->msg_namelen, now, strict)) {
				drops++;
				continue;
			}
			heard = true;
			if (tapped)
				relay_side_tap(in, w->buf[i], len,
					       s->kind == RELAY_RTCP, now);
			if (!out) {
				/* a sink that consumes it, or none */
				if (!sink) {
					drops++;
					continue;
				}
				sink->ops->write(sink, w->buf[i], len,
						 s->kind == RELAY_RTCP ||
						 rtcp_is_rtcp(w->buf[i], len),
						 now);
				pkts++;
				bytes += len;
				continue;
			}
			if (!to->addr.sa.sa_family || out->muted) {
				drops++;
				continue;
			}

			/* RTCP (or RTCP muxed on the RTP port) names its
			 * sender: rewritten in place, see rtcp.h */
			if (s->kind == RELAY_RTCP ||
			    rtcp_is_rtcp(w->buf[i], len))
				(void)rtcp_scrub(w->buf[i], len);

			w->siov[nsend].iov_base = w->buf[i];
			w->siov[nsend].iov_len = len;
			w->smsg[nsend].msg_hdr.msg_name = &to->addr;
			w->smsg[nsend].msg_hdr.msg_namelen = to->len;
			nsend++;
		}

		sent = nsend ? relay_send(out_fd, w->smsg, nsend, &bytes) : 0;
		pkts += sent;
		drops += nsend - sent;

		if (n < RELAY_BATCH)
			break;	/* fewer than asked for: the queue is empty */
	}

	/* edge-triggered: a socket left with packets in it (a flood, cut
	 * short so the others get their turn) gets no new edge; come back
	 * to it after the others */
	if (round == RELAY_DRAIN_ROUNDS)
		event_active(&s->ev, EV_READ, 1);

	if (heard)
		c->last_rx_ms = now;
	if (pkts) {
		relay_count(&in->packets, pkts);
		relay_count(&in->bytes, bytes);
		relay_count(&w->packets, pkts);
		relay_count(&w->bytes, bytes);
	}
	if (drops) {
		relay_count(&in->drops, drops);
		relay_count(&w->drops, drops);
	}
}

/* The event of every pool socket: its call's, or none (idle). */
void relay_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_sock *s = arg;

	(void)what;
	if (s->call)
		relay_sock_forward(fd, s);
	else
		relay_sock_idle(s);
}
