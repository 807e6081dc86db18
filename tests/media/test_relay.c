/*
 * test_relay.c - the media relay over real UDP sockets on loopback.
 *
 * The relay binds 127.0.0.1; party A lives on 127.0.0.2, party B on
 * 127.0.0.3, a stranger on 127.0.0.4, so every check of "where did this
 * packet come from" is unambiguous. Each test uses its own port range so
 * that ports still closing from one test never meet the next.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "maskd/config.h"
#include "maskd/relay.h"
#include "maskd/telev.h"
#include "relay_range.h"

#define RELAY_HOST "127.0.0.1"
#define HOST_A "127.0.0.2"
#define HOST_B "127.0.0.3"
#define HOST_X "127.0.0.4"
#define RECV_WAIT_MS 2000
#define QUIET_MS 200

/*
 * The relay's port ranges: 1,000 ports from port_base, claimed in main()
 * (range_claim()) so that no other test's relay uses them while this
 * one runs, and below the kernel's ephemeral ports (32768 up), which
 * any socket of a test running beside this one may take. PORT(n) is the
 * n-th port of the block.
 */
#define PORT(n) ((uint16_t)(port_base + (n)))

static uint16_t port_base;

/* --- helpers ------------------------------------------------------- */

static struct sockaddr_in sin_make(const char *host, uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, host, &a.sin_addr), 1);
	return a;
}

/* A party's UDP socket on @host, port @port (0 = any). */
static int sock_open(const char *host, uint16_t port)
{
	struct sockaddr_in a = sin_make(host, port);
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct sockaddr_in sock_name(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return a;
}

/* An RTP socket on an even port and its RTCP socket on the next one. */
static void pair_open(const char *host, int fd[2])
{
	struct sockaddr_in a;
	int i;

	for (i = 0; i < 100; i++) {
		fd[0] = sock_open(host, 0);
		assert_true(fd[0] >= 0);
		a = sock_name(fd[0]);
		if (ntohs(a.sin_port) % 2 == 0 && ntohs(a.sin_port) < 65534) {
			fd[1] = sock_open(host, ntohs(a.sin_port) + 1);
			if (fd[1] >= 0)
				return;
		}
		close(fd[0]);
	}
	fail_msg("no free even/odd port pair on %s", host);
}

static void send_to(int fd, const char *host, uint16_t port,
		    const void *buf, size_t len)
{
	struct sockaddr_in a = sin_make(host, port);

	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&a,
				sizeof(a)), (ssize_t)len);
}

/* Receive one datagram within @ms, or return -1. */
static ssize_t recv_wait(int fd, void *buf, size_t len, int ms,
			 struct sockaddr_in *from)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	socklen_t alen = sizeof(*from);
	struct sockaddr_in dummy;

	if (!from)
		from = &dummy;
	if (poll(&p, 1, ms) != 1)
		return -1;
	return recvfrom(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)from,
			&alen);
}

/* Build an RTP packet: V=2, PT 0, @seq, @ts, SSRC, 160 bytes of payload
 * that depend on seq so a reordered or altered packet shows. */
static size_t rtp_make(uint8_t *p, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
	size_t i;

	p[0] = 0x80;
	p[1] = 0;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[4] = (uint8_t)(ts >> 24);
	p[5] = (uint8_t)(ts >> 16);
	p[6] = (uint8_t)(ts >> 8);
	p[7] = (uint8_t)ts;
	p[8] = (uint8_t)(ssrc >> 24);
	p[9] = (uint8_t)(ssrc >> 16);
	p[10] = (uint8_t)(ssrc >> 8);
	p[11] = (uint8_t)ssrc;
	for (i = 12; i < 172; i++)
		p[i] = (uint8_t)(seq * 7 + i);
	return 172;
}

static void cfg_make(struct config *cfg, uint16_t port_min,
		     uint16_t port_max)
{
	config_defaults(cfg);
	cfg->rtp.port_min = port_min;
	cfg->rtp.port_max = port_max;
	snprintf(cfg->rtp.advertise, sizeof(cfg->rtp.advertise), RELAY_HOST);
	cfg->rtp.workers = 2;
	cfg->rtp.timeout_s = 0;
	cfg->rtp.hold_timeout_s = 0;
}

static void set_remote(struct relay_call *c, enum relay_leg leg,
		       const char *host, uint16_t port, const char *rtcp_host,
		       uint16_t rtcp_port, unsigned flags)
{
	struct sockaddr_in rtp = sin_make(host, port), rtcp;

	if (rtcp_host)
		rtcp = sin_make(rtcp_host, rtcp_port);
	assert_int_equal(relay_call_set_remote(c, leg,
		(struct sockaddr *)&rtp,
		rtcp_host ? (struct sockaddr *)&rtcp : NULL, flags), 0);
}

/* @fd must receive exactly @buf from the relay's @port. */
static void expect_packet(int fd, const uint8_t *buf, size_t len,
			  uint16_t port)
{
	uint8_t got[2048];
	struct sockaddr_in from;
	ssize_t n;

	n = recv_wait(fd, got, sizeof(got), RECV_WAIT_MS, &from);
	if (n < 0)
		fail_msg("nothing arrived from relay port %u", port);
	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(got, buf, len);
	/* what the party sees comes from maskd, from the port facing it */
	assert_int_equal(from.sin_addr.s_addr, inet_addr(RELAY_HOST));
	assert_int_equal(ntohs(from.sin_port), port);
}

static void expect_nothing(int fd)
{
	uint8_t got[2048];

	assert_true(recv_wait(fd, got, sizeof(got), QUIET_MS, NULL) < 0);
}

static void expect_pool_whole(struct relay *r)
{
	struct relay_stats st;

	assert_int_equal(relay_sync(r), 0);
	relay_stats_get(r, &st);
	assert_int_equal(st.ports_free, st.ports_total);
	assert_int_equal(st.ports_in_use, 0);
	assert_int_equal(st.calls_live, 0);
}

/* --- tests ------------------------------------------------------------ */

/*
 * Two parties, RTP and RTCP both ways: byte-identical delivery from the
 * relay's own ports, and the CDR counters match what was sent.
 */
static void test_forward(void **state)
{
	struct relay_counters ctr;
	struct relay_stats st;
	struct relay_call *c;
	struct relay *r;
	struct config cfg;
	uint8_t pkt[256];
	uint16_t pa, pb, a_port, b_port;
	int a[2], b[2], i;
	size_t len, bytes_ab = 0, bytes_ba = 0;

	cfg_make(&cfg, PORT(0), PORT(99));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	assert_int_equal(relay_call_alloc(r, 1, &c), 0);
	pa = relay_call_port(c, RELAY_LEG_A);
	pb = relay_call_port(c, RELAY_LEG_B);
	assert_int_equal(pa % 2, 0);
	assert_int_equal(pb % 2, 0);
	assert_true(pa >= PORT(0) && pa < PORT(99));
	assert_true(pb >= PORT(0) && pb < PORT(99));
	assert_int_not_equal(pa, pb);

	pair_open(HOST_A, a);
	pair_open(HOST_B, b);
	a_port = ntohs(sock_name(a[0]).sin_port);
	b_port = ntohs(sock_name(b[0]).sin_port);
	/* A's RTCP implied (port + 1), B's given as a=rtcp would */
	set_remote(c, RELAY_LEG_A, HOST_A, a_port, NULL, 0, 0);
	set_remote(c, RELAY_LEG_B, HOST_B, b_port, HOST_B, b_port + 1, 0);
	relay_sync(r);

	for (i = 0; i < 50; i++) {
		len = rtp_make(pkt, (uint16_t)(1000 + i), 160u * i, 0xaaaa);
		send_to(a[0], RELAY_HOST, pa, pkt, len);
		expect_packet(b[0], pkt, len, pb);
		bytes_ab += len;

		len = rtp_make(pkt, (uint16_t)(60000 + i), 999u + 160u * i,
			       0xbbbb);
		send_to(b[0], RELAY_HOST, pb, pkt, len);
		expect_packet(a[0], pkt, len, pa);
		bytes_ba += len;
	}

	/* RTCP: odd port to odd port */
	memcpy(pkt, "\x80\xc8\x00\x06RTCP-sender-report-a", 24);
	send_to(a[1], RELAY_HOST, pa + 1, pkt, 24);
	expect_packet(b[1], pkt, 24, pb + 1);
	bytes_ab += 24;
	memcpy(pkt, "\x80\xc9\x00\x01RTCP-receiver-rep-b", 24);
	send_to(b[1], RELAY_HOST, pb + 1, pkt, 24);
	expect_packet(a[1], pkt, 24, pa + 1);
	bytes_ba += 24;

	/* nothing else arrives anywhere */
	expect_nothing(a[0]);
	expect_nothing(b[0]);

	relay_stats_get(r, &st);
	assert_int_equal(st.calls_live, 1);
	assert_int_equal(st.ports_in_use, 4);
	assert_int_equal(st.packets, 102);
	assert_int_equal(st.drops, 0);

	relay_sync(r);	/* the worker counts after it has sent */
	relay_call_free(c, &ctr);
	assert_int_equal(ctr.a_to_b.packets, 51);
	assert_int_equal(ctr.b_to_a.packets, 51);
	assert_int_equal(ctr.a_to_b.bytes, bytes_ab);
	assert_int_equal(ctr.b_to_a.bytes, bytes_ba);
	assert_int_equal(ctr.a_to_b.drops, 0);
	assert_int_equal(ctr.b_to_a.drops, 0);
	expect_pool_whole(r);

	for (i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	relay_stop(r);
}

/*
 * RTCP through the relay: the SDES CNAME a phone sends ("user@host")
 * arrives rewritten, same length, on the RTCP port and muxed on the RTP
 * port (RFC 5761); the report itself is untouched.
 */
static void test_rtcp_scrubbed(void **state)
{
	static const uint8_t sr_sdes[] =
		"\x81\xc8\x00\x0c"		/* SR, one report block */
		"\x0a\x0b\x0c\x0d"		/* SSRC */
		"\x83\xaa\x7e\x80\x00\x00\x00\x01"	/* NTP */
		"\x00\x00\x00\xa0\x00\x00\x00\x0a\x00\x00\x06\x40"
		"\x01\x02\x03\x04\x00\x00\x00\x00\x00\x00\x00\x05"
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
		"\x81\xca\x00\x07"		/* SDES, one chunk */
		"\x0a\x0b\x0c\x0d"
		"\x01\x12" "alice@192.0.2.10:5" /* CNAME, 18 bytes */
		"\x00\x00\x00\x00";
	size_t len = sizeof(sr_sdes) - 1;
	uint8_t got[2048];
	struct sockaddr_in from;
	struct relay_counters ctr;
	struct relay_call *c;
	struct relay *r;
	struct config cfg;
	uint16_t pa, pb;
	int a[2], b[2], i, k;
	ssize_t n;

	(void)state;
	assert_int_equal(len, 84);
	cfg_make(&cfg, PORT(900), PORT(999));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	assert_int_equal(relay_call_alloc(r, 1, &c), 0);
	pa = relay_call_port(c, RELAY_LEG_A);
	pb = relay_call_port(c, RELAY_LEG_B);
	pair_open(HOST_A, a);
	pair_open(HOST_B, b);
	set_remote(c, RELAY_LEG_A, HOST_A, ntohs(sock_name(a[0]).sin_port),
		   NULL, 0, 0);
	set_remote(c, RELAY_LEG_B, HOST_B, ntohs(sock_name(b[0]).sin_port),
		   NULL, 0, 0);
	relay_sync(r);

	/* k = 1: on the RTCP ports; k = 0: muxed on the RTP ports */
	for (k = 1; k >= 0; k--) {
		send_to(a[k], RELAY_HOST, (uint16_t)(pa + k), sr_sdes, len);
		n = recv_wait(b[k], got, sizeof(got), RECV_WAIT_MS, &from);
		assert_int_equal(n, (ssize_t)len);
		assert_int_equal(ntohs(from.sin_port), pb + k);
		/* the report, the SDES header, SSRC and item header: as sent */
		assert_memory_equal(got, sr_sdes, 62);
		assert_memory_equal(got + 62, "0a0b0c0d0a0b0c0d0a", 18);
		assert_memory_equal(got + 80, sr_sdes + 80, 4);
		for (i = 0; i + 5 <= n; i++)
			assert_false(memcmp(got + i, "192.0", 5) == 0);
	}

	relay_sync(r);
	relay_call_free(c, &ctr);
	expect_pool_whole(r);
	for (i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	relay_stop(r);
}

/*
 * Party A is behind NAT: its SDP names one port, its packets come from
 * another. B's media must reach A where A's packets come from; a stranger
 * who sends to A's relay port later is dropped and reaches no one.
 */
static void test_nat_latch(void **state)
{
	struct relay_counters ctr;
	struct relay_call *c;
	struct relay *r;
	struct config cfg;
	uint8_t pkt[256];
	uint16_t pa, pb;
	int sdp_fd, nat_fd, b, x;
	size_t len;

	cfg_make(&cfg, PORT(100), PORT(199));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	assert_int_equal(relay_call_alloc(r, 2, &c), 0);
	pa = relay_call_port(c, RELAY_LEG_A);
	pb = relay_call_port(c, RELAY_LEG_B);

	sdp_fd = sock_open(HOST_A, 0);	/* the private address in SDP */
	nat_fd = sock_open(HOST_A, 0);	/* where A's packets really leave */
	b = sock_open(HOST_B, 0);
	x = sock_open(HOST_X, 0);
	set_remote(c, RELAY_LEG_A, HOST_A, ntohs(sock_name(sdp_fd).sin_port),
		   NULL, 0, 0);
	set_remote(c, RELAY_LEG_B, HOST_B, ntohs(sock_name(b).sin_port),
		   NULL, 0, 0);
	relay_sync(r);

	/* A speaks first, from the NATed port: latched */
	len = rtp_make(pkt, 1, 0, 0xa);
	send_to(nat_fd, RELAY_HOST, pa, pkt, len);
	expect_packet(b, pkt, len, pb);

	/* B's answer goes to the latched port, not the SDP's */
	len = rtp_make(pkt, 2, 160, 0xb);
	send_to(b, RELAY_HOST, pb, pkt, len);
	expect_packet(nat_fd, pkt, len, pa);
	expect_nothing(sdp_fd);

	/* a stranger cannot inject into B nor steal A's media */
	len = rtp_make(pkt, 3, 320, 0xbad);
	send_to(x, RELAY_HOST, pa, pkt, len);
	expect_nothing(b);
	len = rtp_make(pkt, 4, 480, 0xb);
	send_to(b, RELAY_HOST, pb, pkt, len);
	expect_packet(nat_fd, pkt, len, pa);
	expect_nothing(x);

	relay_sync(r);	/* the worker counts after it has sent */
	relay_call_free(c, &ctr);
	assert_int_equal(ctr.a_to_b.packets, 1);
	assert_int_equal(ctr.a_to_b.drops, 1);
	assert_int_equal(ctr.b_to_a.packets, 2);
	expect_pool_whole(r);

	close(sdp_fd);
	close(nat_fd);
	close(b);
	close(x);
	relay_stop(r);
}

/* A latched source that falls silent may be replaced by the same host on
 * another port (a NAT rebinding), and the SDP address always wins. */
static void test_relatch(void **state)
{
	struct relay_call *c;
	struct relay *r;
	struct config cfg;
	uint8_t pkt[256];
	uint16_t pa, pb;
	int sdp_fd, nat1, nat2, b;
	size_t len;

	cfg_make(&cfg, PORT(200), PORT(299));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	assert_int_equal(relay_call_alloc(r, 3, &c), 0);
	pa = relay_call_port(c, RELAY_LEG_A);
	pb = relay_call_port(c, RELAY_LEG_B);

	sdp_fd = sock_open(HOST_A, 0);
	nat1 = sock_open(HOST_A, 0);
	nat2 = sock_open(HOST_A, 0);
	b = sock_open(HOST_B, 0);
	set_remote(c, RELAY_LEG_A, HOST_A, ntohs(sock_name(sdp_fd).sin_port),
		   NULL, 0, 0);
	set_remote(c, RELAY_LEG_B, HOST_B, ntohs(sock_name(b).sin_port),
		   NULL, 0, 0);
	relay_sync(r);

	len = rtp_make(pkt, 1, 0, 0xa);
	send_to(nat1, RELAY_HOST, pa, pkt, len);
	expect_packet(b, pkt, len, pb);

	/* another port of the same host, while nat1 is fresh: refused */
	len = rtp_make(pkt, 2, 160, 0xa);
	send_to(nat2, RELAY_HOST, pa, pkt, len);
	expect_nothing(b);

	/* after a silence longer than RELAY_RELATCH_MS: taken */
	usleep((RELAY_RELATCH_MS + 100) * 1000);
	len = rtp_make(pkt, 3, 320, 0xa);
	send_to(nat2, RELAY_HOST, pa, pkt, len);
	expect_packet(b, pkt, len, pb);
	len = rtp_make(pkt, 4, 480, 0xb);
	send_to(b, RELAY_HOST, pb, pkt, len);
	expect_packet(nat2, pkt, len, pa);

	/* the party's own SDP address re-latches at once */
	len = rtp_make(pkt, 5, 640, 0xa);
	send_to(sdp_fd, RELAY_HOST, pa, pkt, len);
	expect_packet(b, pkt, len, pb);
	len = rtp_make(pkt, 6, 800, 0xb);
	send_to(b, RELAY_HOST, pb, pkt, len);
	expect_packet(sdp_fd, pkt, len, pa);
	expect_nothing(nat2);

	relay_call_free(c, NULL);
	expect_pool_whole(r);
	close(sdp_fd);
	close(nat1);
	close(nat2);
	close(b);
	relay_stop(r);
}

/* strict_source: only the SDP's address and port are accepted. */
static void test_strict_source(void **state)
{
	struct relay_counters ctr;
	struct relay_call *c;
	struct relay *r;
	struct config cfg;
	uint8_t pkt[256];
	uint16_t pa, pb;
	int sdp_fd, nat_fd, b;
	size_t len;

	cfg_make(&cfg, PORT(300), PORT(399));
	cfg.rtp.strict_source = true;
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	assert_int_equal(relay_call_alloc(r, 4, &c), 0);
	pa = relay_call_port(c, RELAY_LEG_A);
	pb = relay_call_port(c, RELAY_LEG_B);

	sdp_fd = sock_open(HOST_A, 0);
	nat_fd = sock_open(HOST_A, 0);
	b = sock_open(HOST_B, 0);
	set_remote(c, RELAY_LEG_A, HOST_A, ntohs(sock_name(sdp_fd).sin_port),
		   NULL, 0, 0);
	set_remote(c, RELAY_LEG_B, HOST_B, ntohs(sock_name(b).sin_port),
		   NULL, 0, 0);
	relay_sync(r);

	len = rtp_make(pkt, 1, 0, 0xa);
	send_to(nat_fd, RELAY_HOST, pa, pkt, len);
	expect_nothing(b);

	/* B's media still goes to the SDP address, never the stranger */
	len = rtp_make(pkt, 2, 160, 0xb);
	send_to(b, RELAY_HOST, pb, pkt, len);
	expect_packet(sdp_fd, pkt, len, pa);
	expect_nothing(nat_fd);

	len = rtp_make(pkt, 3, 320, 0xa);
	send_to(sdp_fd, RELAY_HOST, pa, pkt, len);
	expect_packet(b, pkt, len, pb);

	relay_sync(r);	/* the worker counts after it has sent */
	relay_call_free(c, &ctr);
	assert_int_equal(ctr.a_to_b.packets, 1);
	assert_int_equal(ctr.a_to_b.drops, 1);
	assert_int_equal(ctr.b_to_a.packets, 1);
	expect_pool_whole(r);
	close(sdp_fd);
	close(nat_fd);
	close(b);
	relay_stop(r);
}

/*
 * Hold with c=0.0.0.0 stops media towards the holding party; resuming to
 * the same address restores it with the NAT latch kept. A re-INVITE to a
 * new address moves the media there.
 */
static void test_hold_resume(void **state)
{
	struct relay_call *c;
	struct relay *r;
	struct config cfg;
	uint8_t pkt[256];
	uint16_t pa, pb, a_sdp;
	int sdp_fd, nat_fd, moved, b;
	size_t len;

	cfg_make(&cfg, PORT(400), PORT(499));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	assert_int_equal(relay_call_alloc(r, 5, &c), 0);
	pa = relay_call_port(c, RELAY_LEG_A);
	pb = relay_call_port(c, RELAY_LEG_B);

	sdp_fd = sock_open(HOST_A, 0);
	nat_fd = sock_open(HOST_A, 0);
	moved = sock_open(HOST_A, 0);
	b = sock_open(HOST_B, 0);
	a_sdp = ntohs(sock_name(sdp_fd).sin_port);
	set_remote(c, RELAY_LEG_A, HOST_A, a_sdp, NULL, 0, 0);
	set_remote(c, RELAY_LEG_B, HOST_B, ntohs(sock_name(b).sin_port),
		   NULL, 0, 0);
	relay_sync(r);

	len = rtp_make(pkt, 1, 0, 0xa);
	send_to(nat_fd, RELAY_HOST, pa, pkt, len);
	expect_packet(b, pkt, len, pb);

	/* A holds with c=0.0.0.0 */
	set_remote(c, RELAY_LEG_A, "0.0.0.0", a_sdp, NULL, 0,
		   RELAY_REMOTE_HOLD);
	relay_sync(r);
	len = rtp_make(pkt, 2, 160, 0xb);
	send_to(b, RELAY_HOST, pb, pkt, len);
	expect_nothing(nat_fd);

	/* resume, same SDP: the latch on nat_fd still holds */
	set_remote(c, RELAY_LEG_A, HOST_A, a_sdp, NULL, 0, 0);
	relay_sync(r);
	len = rtp_make(pkt, 3, 320, 0xb);
	send_to(b, RELAY_HOST, pb, pkt, len);
	expect_packet(nat_fd, pkt, len, pa);

	/* re-INVITE to a new address: media goes there at once */
	set_remote(c, RELAY_LEG_A, HOST_A, ntohs(sock_name(moved).sin_port),
		   NULL, 0, 0);
	relay_sync(r);
	len = rtp_make(pkt, 4, 480, 0xb);
	send_to(b, RELAY_HOST, pb, pkt, len);
	expect_packet(moved, pkt, len, pa);
	expect_nothing(nat_fd);

	relay_call_free(c, NULL);
	expect_pool_whole(r);
	close(sdp_fd);
	close(nat_fd);
	close(moved);
	close(b);
	relay_stop(r);
}

/*
 * A range of 8 pairs on 2 workers holds 4 calls; the 5th is refused with
 * nothing held. A port taken by another program is skipped.
 */
static void test_exhausted(void **state)
{
	struct relay_call *c[5];
	struct relay_stats st;
	struct relay *r;
	struct config cfg;
	int squat, i, j;

	/* someone else holds PORT(506): its pair is skipped */
	squat = sock_open(RELAY_HOST, PORT(506));
	assert_true(squat >= 0);

	cfg_make(&cfg, PORT(500), PORT(515));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	relay_stats_get(r, &st);
	assert_int_equal(st.workers, 2);
	assert_int_equal(st.ports_total, 16);
	assert_int_equal(st.ports_free, 16);

	/* 7 bindable pairs: three calls, then one pair is left over */
	for (i = 0; i < 3; i++) {
		assert_int_equal(relay_call_alloc(r, 10 + i, &c[i]), 0);
		for (j = 0; j < 2; j++)
			assert_int_not_equal(relay_call_port(c[i], j), PORT(506));
	}
	assert_int_equal(relay_call_alloc(r, 13, &c[3]), ENOSPC);
	relay_stats_get(r, &st);
	assert_int_equal(st.calls_refused, 1);
	assert_true(st.bind_failures >= 1);
	assert_int_equal(st.calls_live, 3);
	assert_int_equal(st.ports_in_use, 12);

	/* the squatter leaves: the fourth call fits, once the pair's
	 * retry delay is over */
	close(squat);
	usleep((RELAY_BIND_RETRY_MS + 100) * 1000);
	assert_int_equal(relay_call_alloc(r, 13, &c[3]), 0);
	assert_int_equal(relay_call_alloc(r, 14, &c[4]), ENOSPC);
	relay_stats_get(r, &st);
	assert_int_equal(st.ports_free, 0);
	assert_int_equal(st.calls_refused, 2);

	for (i = 0; i < 4; i++)
		relay_call_free(c[i], NULL);
	expect_pool_whole(r);
	relay_stop(r);
}

/*
 * Thousands of calls allocated and freed, some with SDP, some with
 * packets, some left live across the next allocations: the pool is whole
 * afterwards.
 */
static void test_cycles(void **state)
{
	struct relay_call *live[16] = { 0 };
	struct relay_stats st;
	struct relay *r;
	struct config cfg;
	uint8_t pkt[256];
	size_t len;
	int a, b, i, slot, err;

	cfg_make(&cfg, PORT(600), PORT(699));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	a = sock_open(HOST_A, 0);
	b = sock_open(HOST_B, 0);
	len = rtp_make(pkt, 1, 0, 1);

	for (i = 0; i < 5000; i++) {
		slot = i % 16;
		if (live[slot])
			relay_call_free(live[slot], NULL);
		live[slot] = NULL;

		err = relay_call_alloc(r, (uint64_t)i, &live[slot]);
		if (err == ENOSPC) {
			/* frees are reclaimed by the workers a moment later;
			 * once they have caught up there is room again */
			relay_sync(r);
			err = relay_call_alloc(r, (uint64_t)i, &live[slot]);
		}
		assert_int_equal(err, 0);
		if (i % 3 == 0) {
			set_remote(live[slot], RELAY_LEG_A, HOST_A,
				   ntohs(sock_name(a).sin_port), NULL, 0, 0);
			set_remote(live[slot], RELAY_LEG_B, HOST_B,
				   ntohs(sock_name(b).sin_port), NULL, 0, 0);
		}
		if (i % 7 == 0)
			send_to(a, RELAY_HOST,
				relay_call_port(live[slot], RELAY_LEG_A), pkt,
				len);
		/* every few hundred, let the workers catch up */
		if (i % 500 == 499)
			relay_sync(r);
	}

	relay_stats_get(r, &st);
	assert_int_equal(st.calls_total, 5000);
	assert_int_equal(st.calls_live, 16);
	for (i = 0; i < 16; i++)
		relay_call_free(live[i], NULL);
	expect_pool_whole(r);
	close(a);
	close(b);
	relay_stop(r);
}

/* A relay stopped with calls still live frees them itself. */
static void test_stop_with_calls(void **state)
{
	struct relay_call *c;
	struct relay *r;
	struct config cfg;
	int i;

	cfg_make(&cfg, PORT(700), PORT(799));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(relay_call_alloc(r, (uint64_t)i, &c), 0);
	set_remote(c, RELAY_LEG_A, HOST_A, 4000, NULL, 0, 0);
	relay_stop(r);
}

/* --- timeouts --------------------------------------------------------- */

struct timeouts {
	pthread_mutex_t lock;
	uint64_t cookies[8];
	int n;
};

static void on_timeout(uint64_t cookie, void *arg)
{
	struct timeouts *t = arg;

	pthread_mutex_lock(&t->lock);
	if (t->n < 8)
		t->cookies[t->n] = cookie;
	t->n++;
	pthread_mutex_unlock(&t->lock);
}

static bool timed_out(struct timeouts *t, uint64_t cookie)
{
	bool found = false;
	int i;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->n && i < 8; i++)
		found |= t->cookies[i] == cookie;
	pthread_mutex_unlock(&t->lock);
	return found;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * timeout 1 s, hold_timeout 3 s. Call 1 is silent: reported after about
 * 1 s. Call 2 is on hold: not at 1.5 s, but by 3.5 s. Call 3 has media
 * every 200 ms: never. Call 4 never got its second SDP (ringing): never.
 */
static void test_timeout(void **state)
{
	struct timeouts t = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct relay_call *c[4];
	struct relay_stats st;
	struct relay *r;
	struct config cfg;
	uint8_t pkt[256];
	int64_t start, fired_ms = -1;
	int a, b, i;
	size_t len;

	cfg_make(&cfg, PORT(800), PORT(899));
	cfg.rtp.timeout_s = 1;
	cfg.rtp.hold_timeout_s = 3;
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, on_timeout, &t), 0);
	a = sock_open(HOST_A, 0);
	b = sock_open(HOST_B, 0);

	for (i = 0; i < 4; i++) {
		assert_int_equal(relay_call_alloc(r, 100 + i, &c[i]), 0);
		set_remote(c[i], RELAY_LEG_A, HOST_A,
			   ntohs(sock_name(a).sin_port), NULL, 0,
			   i == 1 ? RELAY_REMOTE_HOLD : 0);
		if (i != 3)
			set_remote(c[i], RELAY_LEG_B, HOST_B,
				   ntohs(sock_name(b).sin_port), NULL, 0, 0);
	}
	relay_sync(r);
	start = now_ms();

	len = rtp_make(pkt, 1, 0, 1);
	while (now_ms() - start < 4000) {
		send_to(a, RELAY_HOST, relay_call_port(c[2], RELAY_LEG_A), pkt,
			len);
		if (fired_ms < 0 && timed_out(&t, 100))
			fired_ms = now_ms() - start;
		if (now_ms() - start > 1500 && now_ms() - start < 1700)
			assert_false(timed_out(&t, 101));
		usleep(200 * 1000);
	}

	assert_true(fired_ms >= 900 && fired_ms <= 2500);
	assert_true(timed_out(&t, 101));
	assert_false(timed_out(&t, 102));
	assert_false(timed_out(&t, 103));
	pthread_mutex_lock(&t.lock);
	assert_int_equal(t.n, 2);	/* once each */
	pthread_mutex_unlock(&t.lock);
	relay_stats_get(r, &st);
	assert_int_equal(st.timeouts, 2);

	for (i = 0; i < 4; i++)
		relay_call_free(c[i], NULL);
	expect_pool_whole(r);
	close(a);
	close(b);
	relay_stop(r);
}

/* --- sinks and taps ---------------------------------------------------- */

/* Digits a telev tap reported (on the worker thread) and its detaches. */
struct dtmf {
	pthread_mutex_t lock;
	char digits[32];
	int n;
	int detached;
};

static void on_dtmf(char d, uint32_t ssrc, uint32_t ts, void *arg)
{
	struct dtmf *t = arg;

	(void)ssrc;
	(void)ts;
	pthread_mutex_lock(&t->lock);
	if (t->n < (int)sizeof(t->digits) - 1)
		t->digits[t->n++] = d;
	pthread_mutex_unlock(&t->lock);
}

static void on_dtmf_detach(struct telev *tv, void *arg)
{
	struct dtmf *t = arg;

	(void)tv;
	pthread_mutex_lock(&t->lock);
	t->detached++;
	pthread_mutex_unlock(&t->lock);
}

static void dtmf_expect(struct dtmf *t, const char *digits, int detached)
{
	pthread_mutex_lock(&t->lock);
	t->digits[t->n] = 0;
	assert_string_equal(t->digits, digits);
	assert_int_equal(t->detached, detached);
	pthread_mutex_unlock(&t->lock);
}

/* An RFC 4733 packet, PT 101. */
static size_t event_make(uint8_t *p, uint16_t seq, uint32_t ts,
			 uint32_t ssrc, uint8_t event, bool end)
{
	size_t len = rtp_make(p, seq, ts, ssrc);

	(void)len;
	p[1] = 101;
	p[12] = event;
	p[13] = (uint8_t)((end ? 0x80 : 0) | 10);
	p[14] = 0;
	p[15] = 160;
	return 16;
}

/*
 * A telev tap on leg A: party B still receives every packet party A
 * sends, byte-identical and from maskd's port - audio, every event
 * packet, the triple end and a duplicated event - while the tap reports
 * each key once. Party B's events (no tap on leg B) are not reported.
 * The tap removed, it is detached once and hears nothing more.
 */
static void test_tap_dtmf(void **state)
{
	struct dtmf d = { .lock = PTHREAD_MUTEX_INITIALIZER };
	static const uint8_t keys[] = { 1, 11, 1, 12 };	/* "1#1A" */
	struct relay_counters ctr;
	struct relay_call *c;
	struct telev *tv;
	struct relay *r;
	struct config cfg;
	uint8_t pkt[256];
	uint16_t pa, pb, seq = 1;
	uint32_t ts = 0;
	int a, b, k, i, sent = 0;
	size_t len;

	(void)state;
	cfg_make(&cfg, PORT(520), PORT(559));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	assert_int_equal(relay_call_alloc(r, 1, &c), 0);
	pa = relay_call_port(c, RELAY_LEG_A);
	pb = relay_call_port(c, RELAY_LEG_B);
	a = sock_open(HOST_A, 0);
	b = sock_open(HOST_B, 0);
	set_remote(c, RELAY_LEG_A, HOST_A, ntohs(sock_name(a).sin_port),
		   NULL, 0, 0);
	set_remote(c, RELAY_LEG_B, HOST_B, ntohs(sock_name(b).sin_port),
		   NULL, 0, 0);

	assert_int_equal(telev_alloc(&tv, 101, on_dtmf, &d), 0);
	assert_int_equal(relay_call_tap(c, RELAY_LEG_A,
			 telev_sink(tv, on_dtmf_detach, &d)), 0);
	relay_sync(r);

	for (k = 0; k < (int)sizeof(keys); k++) {
		/* a little audio, then the event: start, two refreshes,
		 * end three times; the second key's whole event twice */
		for (i = 0; i < 3; i++, ts += 160) {
			len = rtp_make(pkt, seq++, ts, 0xaaaa);
			send_to(a, RELAY_HOST, pa, pkt, len);
			expect_packet(b, pkt, len, pb);
			sent++;
		}
		for (i = 0; i < (k == 1 ? 12 : 6); i++) {
			len = event_make(pkt, seq++, ts, 0xaaaa, keys[k],
					 i % 6 >= 3);
			send_to(a, RELAY_HOST, pa, pkt, len);
			expect_packet(b, pkt, len, pb);
			sent++;
		}
		ts += 800;
	}

	/* the other way: relayed, not heard */
	len = event_make(pkt, 7, 1000, 0xbbbb, 5, true);
	send_to(b, RELAY_HOST, pb, pkt, len);
	expect_packet(a, pkt, len, pa);
	relay_sync(r);
	dtmf_expect(&d, "1#1A", 0);

	/* untapped: detached once, still relayed, no digit */
	assert_int_equal(relay_call_tap(c, RELAY_LEG_A, NULL), 0);
	relay_sync(r);
	dtmf_expect(&d, "1#1A", 1);
	len = event_make(pkt, seq++, ts, 0xaaaa, 9, true);
	send_to(a, RELAY_HOST, pa, pkt, len);
	expect_packet(b, pkt, len, pb);
	sent++;
	relay_sync(r);
	dtmf_expect(&d, "1#1A", 1);
	telev_free(tv);

	relay_call_free(c, &ctr);
	assert_int_equal(ctr.a_to_b.packets, (uint64_t)sent);
	assert_int_equal(ctr.a_to_b.drops, 0);
	assert_int_equal(ctr.b_to_a.packets, 1);
	expect_pool_whole(r);
	close(a);
	close(b);
	relay_stop(r);
}

/* A sink that counts and passes packets on into another sink: the chain
 * a recorder would make. Worker thread; read after relay_sync(). */
struct chain {
	struct relay_sink sink;
	struct relay_sink *next;
	int packets, rtcp, detached;
};

static void chain_write(struct relay_sink *s, const uint8_t *pkt, size_t len,
			bool is_rtcp, int64_t now)
{
	struct chain *ch = s->arg;

	ch->packets++;
	ch->rtcp += is_rtcp;
	ch->next->ops->write(ch->next, pkt, len, is_rtcp, now);
}

static void chain_detach(struct relay_sink *s)
{
	((struct chain *)s->arg)->detached++;
}

static const struct relay_sink_ops chain_ops = {
	.write = chain_write,
	.detach = chain_detach,
};

/*
 * Where leg A's packets go, changed while the call runs: a telev that
 * consumes them (party B hears nothing), the echo back to party A, none
 * (dropped, counted), a chain into leg B's output (RTCP still scrubbed),
 * and back to leg B. Sinks still attached when the call is freed are
 * detached then; sinks that cannot be attached are refused.
 */
static void test_sink_connect(void **state)
{
	static const uint8_t sdes[] =
		"\x81\xca\x00\x04" "\x0a\x0b\x0c\x0d"
		"\x01\x08" "a@10.1.2" "\x00\x00";
	struct dtmf d = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct chain ch = { .sink = { &chain_ops, &ch } };
	struct relay_counters ctr;
	struct relay_call *c, *other;
	struct telev *tv;
	struct relay *r;
	struct config cfg;
	uint8_t pkt[256], got[256];
	uint16_t pa, pb;
	int a[2], b[2], i;
	size_t len;

	(void)state;
	cfg_make(&cfg, PORT(560), PORT(599));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	assert_int_equal(relay_call_alloc(r, 1, &c), 0);
	assert_int_equal(relay_call_alloc(r, 2, &other), 0);
	pa = relay_call_port(c, RELAY_LEG_A);
	pb = relay_call_port(c, RELAY_LEG_B);
	pair_open(HOST_A, a);
	pair_open(HOST_B, b);
	set_remote(c, RELAY_LEG_A, HOST_A, ntohs(sock_name(a[0]).sin_port),
		   NULL, 0, 0);
	set_remote(c, RELAY_LEG_B, HOST_B, ntohs(sock_name(b[0]).sin_port),
		   NULL, 0, 0);

	/* refused: a leg output as a tap, another call's leg, bad legs */
	assert_int_equal(relay_call_tap(c, RELAY_LEG_A,
			 relay_call_sink(c, RELAY_LEG_B)), EINVAL);
	assert_int_equal(relay_call_connect(c, RELAY_LEG_A,
			 relay_call_sink(other, RELAY_LEG_B)), EINVAL);
	assert_int_equal(relay_call_connect(c, 2, NULL), EINVAL);
	assert_int_equal(relay_call_tap(NULL, RELAY_LEG_A, NULL), EINVAL);
	/* a leg index past RELAY_LEGS_MAX (2..5 are leg slots: relay.h) */
	assert_null(relay_call_sink(c, RELAY_LEGS_MAX));

	/* consumed by a DTMF collector: party B hears nothing */
	assert_int_equal(telev_alloc(&tv, 101, on_dtmf, &d), 0);
	assert_int_equal(relay_call_connect(c, RELAY_LEG_A,
			 telev_sink(tv, on_dtmf_detach, &d)), 0);
	relay_sync(r);
	for (i = 0; i < 3; i++) {
		len = event_make(pkt, (uint16_t)i, 320, 1, 4, true);
		send_to(a[0], RELAY_HOST, pa, pkt, len);
	}
	expect_nothing(b[0]);
	dtmf_expect(&d, "4", 0);

	/* echo: party A gets its own packet back from the port it sent to */
	assert_int_equal(relay_call_connect(c, RELAY_LEG_A,
			 relay_call_sink(c, RELAY_LEG_A)), 0);
	relay_sync(r);
	dtmf_expect(&d, "4", 1);
	len = rtp_make(pkt, 10, 1600, 1);
	send_to(a[0], RELAY_HOST, pa, pkt, len);
	expect_packet(a[0], pkt, len, pa);
	expect_nothing(b[0]);

	/* none: dropped */
	assert_int_equal(relay_call_connect(c, RELAY_LEG_A, NULL), 0);
	relay_sync(r);
	send_to(a[0], RELAY_HOST, pa, pkt, len);
	expect_nothing(a[0]);
	expect_nothing(b[0]);

	/* a chain into leg B's output: delivered, RTCP scrubbed */
	ch.next = relay_call_sink(c, RELAY_LEG_B);
	assert_int_equal(relay_call_connect(c, RELAY_LEG_A, &ch.sink), 0);
	relay_sync(r);
	send_to(a[0], RELAY_HOST, pa, pkt, len);
	expect_packet(b[0], pkt, len, pb);
	send_to(a[1], RELAY_HOST, pa + 1, sdes, sizeof(sdes) - 1);
	assert_int_equal(recv_wait(b[1], got, sizeof(got), RECV_WAIT_MS, NULL),
			 (ssize_t)sizeof(sdes) - 1);
	assert_memory_equal(got, sdes, 10);	/* header, SSRC, item head */
	assert_memory_not_equal(got + 10, sdes + 10, 8);	/* the CNAME */
	relay_sync(r);
	assert_int_equal(ch.packets, 2);
	assert_int_equal(ch.rtcp, 1);
	assert_int_equal(ch.detached, 0);

	/* back to the plain call; a tap left on when the call ends */
	assert_int_equal(relay_call_connect(c, RELAY_LEG_A,
			 relay_call_sink(c, RELAY_LEG_B)), 0);
	assert_int_equal(relay_call_tap(c, RELAY_LEG_B, &ch.sink), 0);
	relay_sync(r);
	assert_int_equal(ch.detached, 1);
	send_to(a[0], RELAY_HOST, pa, pkt, len);
	expect_packet(b[0], pkt, len, pb);

	relay_sync(r);	/* the worker counts after it has sent */
	relay_call_free(c, &ctr);
	relay_call_free(other, NULL);
	expect_pool_whole(r);
	assert_int_equal(ch.detached, 2);
	dtmf_expect(&d, "4", 1);
	/* delivered into a sink counts as relayed; the drop is counted */
	assert_int_equal(ctr.a_to_b.packets, 3 + 1 + 2 + 1);
	assert_int_equal(ctr.a_to_b.drops, 1);
	telev_free(tv);
	for (i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	relay_stop(r);
}

/* --- arguments -------------------------------------------------------- */

static void test_bad_args(void **state)
{
	struct sockaddr_in6 v6;
	struct relay_call *c;
	struct relay *r;
	struct config cfg;

	/* one pair: no room for a call */
	cfg_make(&cfg, PORT(900), PORT(901));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), EINVAL);

	/* an address that is not on this host */
	cfg_make(&cfg, PORT(900), PORT(999));
	snprintf(cfg.rtp.bind, sizeof(cfg.rtp.bind), "192.0.2.1");
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL),
			 EADDRNOTAVAIL);

	cfg_make(&cfg, PORT(900), PORT(999));
	assert_int_equal(relay_start(&r, &cfg.rtp, NULL, NULL, NULL), 0);
	assert_int_equal(relay_call_alloc(r, 1, &c), 0);
	memset(&v6, 0, sizeof(v6));
	v6.sin6_family = AF_INET6;
	v6.sin6_port = htons(4000);
	assert_int_equal(relay_call_set_remote(c, RELAY_LEG_A,
		(struct sockaddr *)&v6, NULL, 0), EAFNOSUPPORT);
	assert_int_equal(relay_call_set_remote(c, 7, NULL, NULL, 0), EINVAL);
	/* NULL: no address yet, fine */
	assert_int_equal(relay_call_set_remote(c, RELAY_LEG_B, NULL, NULL,
					       0), 0);
	relay_call_free(c, NULL);
	relay_call_free(NULL, NULL);
	expect_pool_whole(r);
	relay_stop(r);
	relay_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_rtcp_scrubbed),
		cmocka_unit_test(test_nat_latch),
		cmocka_unit_test(test_relatch),
		cmocka_unit_test(test_strict_source),
		cmocka_unit_test(test_hold_resume),
		cmocka_unit_test(test_exhausted),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_stop_with_calls),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_tap_dtmf),
		cmocka_unit_test(test_sink_connect),
		cmocka_unit_test(test_bad_args),
	};

	port_base = range_claim();
	if (!port_base) {
		fprintf(stderr, "test_relay: no free RTP port range\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
