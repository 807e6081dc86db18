/*
 * relay_driver.c - the real relay (src/media) driven line by line from
 * stdin, for tests that want real parties on real sockets without SIP
 * (tests/media/test_mix.py). This process plays the SIP thread: one
 * thread makes every relay_call_*() call, as maskd's SIP side does.
 *
 *   relay_driver PORT_MIN PORT_MAX [WORKERS]
 *
 * binds the relay to 127.0.0.1 and answers one line per command:
 *   alloc                    ok ID PORT_A PORT_B
 *   add ID                   ok LEG PORT
 *   remote ID LEG HOST PORT  ok            (RTCP on PORT + 1)
 *   codec ID LEG PT          ok
 *   mix ID MASK ON           ok            (ON 1 or 0)
 *   remove ID LEG            ok
 *   counters ID LEG          ok PACKETS BYTES DROPS
 *   sync                     ok            (relay_sync())
 *   free ID                  ok            (relay_call_free())
 *   pool                     ok FREE TOTAL (ports)
 *   mixstats                 ok CALLS PACKETS CONCEALED LATE (metrics)
 * or "err ERRNO" with the relay's errno; EBUSY (one change in flight)
 * is answered after a relay_sync() and one retry, as the SIP side would
 * retry from its next event. EOF or "quit" stops the relay.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maskd/config.h"
#include "maskd/relay.h"

#define CALLS_MAX 64

static struct relay *relay;
static struct relay_call *calls[CALLS_MAX];

static struct relay_call *call_get(const char *id)
{
	long i = strtol(id, NULL, 10);

	return i >= 0 && i < CALLS_MAX ? calls[i] : NULL;
}

static void reply(int err)
{
	if (err)
		printf("err %d\n", err);
	else
		printf("ok\n");
}

static int cmd_remote(struct relay_call *c, unsigned leg, const char *host,
		      unsigned port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return EINVAL;
	return relay_call_set_remote(c, (enum relay_leg)leg,
				     (struct sockaddr *)&a, NULL, 0);
}

static void run(char *line)
{
	char w[5][64];
	struct relay_call *c = NULL;
	struct relay_flow fl;
	struct relay_stats st;
	unsigned leg;
	int n, err, i;

	n = sscanf(line, "%63s %63s %63s %63s %63s", w[0], w[1], w[2], w[3],
		   w[4]);
	if (n <= 0)
		return;
	if (n > 1 && strcmp(w[0], "alloc")) {
		c = call_get(w[1]);
		if (!c) {
			reply(ENOENT);
			return;
		}
	}
	leg = n > 2 ? (unsigned)strtoul(w[2], NULL, 0) : 0;

	if (!strcmp(w[0], "alloc")) {
		for (i = 0; i < CALLS_MAX && calls[i]; i++)
			;
		err = i < CALLS_MAX ? relay_call_alloc(relay, (uint64_t)i,
						       &calls[i]) : ENOSPC;
		if (err)
			reply(err);
		else
			printf("ok %d %u %u\n", i,
			       relay_call_port(calls[i], RELAY_LEG_A),
			       relay_call_port(calls[i], RELAY_LEG_B));
	} else if (!strcmp(w[0], "add") && c) {
		err = relay_call_leg_add(c, &leg);
		if (err)
			reply(err);
		else
			printf("ok %u %u\n", leg,
			       relay_call_port(c, (enum relay_leg)leg));
	} else if (!strcmp(w[0], "remote") && n == 5) {
		reply(cmd_remote(c, leg, w[3], (unsigned)atoi(w[4])));
	} else if (!strcmp(w[0], "codec") && n == 4) {
		reply(relay_call_leg_codec(c, leg, (uint8_t)atoi(w[3])));
	} else if (!strcmp(w[0], "mix") && n == 4) {
		err = relay_call_mix(c, leg, atoi(w[3]) != 0);
		if (err == EBUSY) {
			relay_sync(relay);
			err = relay_call_mix(c, leg, atoi(w[3]) != 0);
		}
		reply(err);
	} else if (!strcmp(w[0], "remove") && n == 3) {
		reply(relay_call_leg_remove(c, leg));
	} else if (!strcmp(w[0], "counters") && n == 3) {
		err = relay_call_leg_counters(c, leg, &fl);
		if (err)
			reply(err);
		else
			printf("ok %llu %llu %llu\n",
			       (unsigned long long)fl.packets,
			       (unsigned long long)fl.bytes,
			       (unsigned long long)fl.drops);
	} else if (!strcmp(w[0], "free") && n == 2) {
		relay_call_free(c, NULL);
		calls[strtol(w[1], NULL, 10)] = NULL;
		reply(0);
	} else if (!strcmp(w[0], "sync")) {
		reply(relay_sync(relay));
	} else if (!strcmp(w[0], "pool")) {
		relay_sync(relay);
		relay_stats_get(relay, &st);
		printf("ok %llu %llu\n", (unsigned long long)st.ports_free,
		       (unsigned long long)st.ports_total);
	} else if (!strcmp(w[0], "mixstats")) {
		relay_sync(relay);
		relay_stats_get(relay, &st);
		printf("ok %llu %llu %llu %llu\n",
		       (unsigned long long)st.mix_calls,
		       (unsigned long long)st.mix_packets,
		       (unsigned long long)st.mix_concealed,
		       (unsigned long long)st.mix_late);
	} else {
		reply(EINVAL);
	}
}

int main(int argc, char **argv)
{
	static struct config cfg;
	char line[256];
	int err;

	if (argc < 3) {
		fprintf(stderr, "usage: relay_driver PORT_MIN PORT_MAX "
			"[WORKERS]\n");
		return 2;
	}
	config_defaults(&cfg);
	cfg.rtp.port_min = (uint16_t)atoi(argv[1]);
	cfg.rtp.port_max = (uint16_t)atoi(argv[2]);
	cfg.rtp.workers = argc > 3 ? (unsigned)atoi(argv[3]) : 2;
	cfg.rtp.timeout_s = 0;
	cfg.rtp.hold_timeout_s = 0;
	snprintf(cfg.rtp.advertise, sizeof(cfg.rtp.advertise), "127.0.0.1");

	err = relay_start(&relay, &cfg.rtp, NULL, NULL, NULL);
	if (err) {
		fprintf(stderr, "relay_driver: relay_start: %s\n",
			strerror(err));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");

	while (fgets(line, sizeof(line), stdin) && strncmp(line, "quit", 4))
		run(line);

	relay_stop(relay);
	return 0;
}
