/*
 * test_config.c - the shipped config, every key, and every kind of error
 * with its "file:line: key:" prefix, and config_print().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "maskd/config.h"

#ifndef MASKD_SOURCE_DIR
#error "MASKD_SOURCE_DIR must name the source tree (tests/CMakeLists.txt)"
#endif

/* The smallest valid file: one trunk and one token. */
#define MINIMAL \
	"[trunk.a]\nsources = 198.0.0.0/8\n[api]\ntokens = secret-token-1\n"

struct tmpconf {
	char path[64];
	char err[512];
	struct config cfg;
	int rc;
};

static void tmpconf_write(struct tmpconf *t, const char *text)
{
	size_t len = strlen(text);
	int fd;

	snprintf(t->path, sizeof(t->path), "/tmp/maskd_test_cfg_XXXXXX");
	fd = mkstemp(t->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* Write @text to a temporary file and config_load() it. */
static void load_text(struct tmpconf *t, const char *text)
{
	tmpconf_write(t, text);
	memset(t->err, 'X', sizeof(t->err));
	t->rc = config_load(t->path, &t->cfg, t->err, sizeof(t->err));
	unlink(t->path);
}

static void load_ok(struct tmpconf *t, const char *text)
{
	load_text(t, text);
	if (t->rc)
		fail_msg("config_load: %d: %s", t->rc, t->err);
	assert_string_equal(t->err, "");
}

/*
 * The file must fail with a message starting "PATH:@line: @prefix". The
 * config is left freed.
 */
static void expect_error(const char *text, int line, const char *prefix)
{
	struct tmpconf t;
	char want[256];

	load_text(&t, text);
	snprintf(want, sizeof(want), "%s:%d: %s", t.path, line, prefix);
	if (t.rc != EINVAL)
		fail_msg("rc %d (want EINVAL), err '%s'", t.rc, t.err);
	if (strncmp(t.err, want, strlen(want)))
		fail_msg("error '%s'\n  does not start with '%s'", t.err,
			 want);
	assert_null(t.cfg.trunks);
	assert_int_equal(t.cfg.n_trunks, 0);
	assert_null(t.cfg.api.tokens);
	assert_int_equal(t.cfg.api.n_tokens, 0);
	config_free(&t.cfg);
}

static void assert_cidr(const struct net_cidr *c, int family,
			const char *addr, unsigned prefix)
{
	uint8_t want[16] = { 0 };

	assert_int_equal(c->family, family);
	assert_int_equal(inet_pton(family, addr, want), 1);
	assert_memory_equal(c->addr, want, family == AF_INET ? 4 : 16);
	assert_int_equal(c->prefix, prefix);
}

/* Every field config_defaults() sets must equal what @cfg holds. */
static void assert_defaults(const struct config *cfg)
{
	struct config d;

	config_defaults(&d);
	assert_string_equal(cfg->sip.listen.host, d.sip.listen.host);
	assert_int_equal(cfg->sip.listen.port, d.sip.listen.port);
	assert_string_equal(cfg->sip.advertise, d.sip.advertise);
	assert_int_equal(cfg->sip.unknown_code, d.sip.unknown_code);
	assert_int_equal(cfg->sip.ended_code, d.sip.ended_code);
	assert_int_equal(cfg->sip.transaction_timeout_ms,
			 d.sip.transaction_timeout_ms);
	assert_int_equal(cfg->sip.session_expires_s, d.sip.session_expires_s);
	assert_int_equal(cfg->sip.min_se_s, d.sip.min_se_s);
	assert_int_equal(cfg->sip.n_pass_headers, d.sip.n_pass_headers);
	assert_string_equal(cfg->sip.tls_listen.host, d.sip.tls_listen.host);
	assert_int_equal(cfg->sip.tls_listen.port, d.sip.tls_listen.port);
	assert_string_equal(cfg->sip.tls_cert, d.sip.tls_cert);
	assert_string_equal(cfg->sip.tls_key, d.sip.tls_key);
	assert_string_equal(cfg->sip.tls_ca, d.sip.tls_ca);
	assert_int_equal(cfg->sip.tls_verify_name, d.sip.tls_verify_name);
	assert_string_equal(cfg->gateway.address.host, d.gateway.address.host);
	assert_int_equal(cfg->gateway.address.port, d.gateway.address.port);
	assert_string_equal(cfg->gateway.transport, d.gateway.transport);
	assert_string_equal(cfg->gateway.auth_user, d.gateway.auth_user);
	assert_string_equal(cfg->gateway.auth_password,
			    d.gateway.auth_password);
	assert_string_equal(cfg->gateway.auth_realm, d.gateway.auth_realm);
	assert_int_equal(cfg->rtp.port_min, d.rtp.port_min);
	assert_int_equal(cfg->rtp.port_max, d.rtp.port_max);
	assert_string_equal(cfg->rtp.advertise, d.rtp.advertise);
	assert_string_equal(cfg->rtp.bind, d.rtp.bind);
	assert_int_equal(cfg->rtp.workers, d.rtp.workers);
	assert_int_equal(cfg->rtp.timeout_s, d.rtp.timeout_s);
	assert_int_equal(cfg->rtp.hold_timeout_s, d.rtp.hold_timeout_s);
	assert_int_equal(cfg->rtp.strict_source, d.rtp.strict_source);
	assert_string_equal(cfg->store.path, d.store.path);
	assert_int_equal(cfg->store.map_size, d.store.map_size);
	assert_int_equal(cfg->store.retention_s, d.store.retention_s);
	assert_string_equal(cfg->api.listen.host, d.api.listen.host);
	assert_int_equal(cfg->api.listen.port, d.api.listen.port);
	assert_int_equal(cfg->api.max_body, d.api.max_body);
	assert_int_equal(cfg->api.request_timeout_s, d.api.request_timeout_s);
	assert_int_equal(cfg->api.max_connections, d.api.max_connections);
	assert_int_equal(cfg->flood.rate, d.flood.rate);
	assert_int_equal(cfg->flood.window_s, d.flood.window_s);
	assert_int_equal(cfg->flood.block_s, d.flood.block_s);
	assert_int_equal(cfg->flood.reply_503, d.flood.reply_503);
	assert_int_equal(cfg->flood.exempt_trunks, d.flood.exempt_trunks);
	assert_int_equal(cfg->flood.n_scanners, d.flood.n_scanners);
	for (size_t i = 0; i < d.flood.n_scanners; i++)
		assert_string_equal(cfg->flood.scanners[i],
				    d.flood.scanners[i]);
	assert_int_equal(cfg->session.default_ttl_s, d.session.default_ttl_s);
	assert_int_equal(cfg->session.max_ttl_s, d.session.max_ttl_s);
	assert_int_equal(cfg->session.call_time_limit_s,
			 d.session.call_time_limit_s);
	assert_int_equal(cfg->session.ring_timeout_s,
			 d.session.ring_timeout_s);
	assert_int_equal(cfg->log.level, d.log.level);
	assert_string_equal(cfg->log.file, d.log.file);
}

static void test_defaults(void **state)
{
	struct config d;

	config_defaults(&d);
	assert_string_equal(d.sip.listen.host, "127.0.0.1");
	assert_int_equal(d.sip.listen.port, 5060);
	assert_string_equal(d.sip.advertise, "");
	assert_int_equal(d.sip.unknown_code, 404);
	assert_int_equal(d.sip.ended_code, 404);
	assert_int_equal(d.sip.transaction_timeout_ms, 32000);
	assert_int_equal(d.sip.n_pass_headers, 0);
	assert_null(d.sip.pass_headers);
	assert_int_equal(d.sip.tls_listen.port, 0);
	assert_string_equal(d.sip.tls_listen.host, "");
	assert_string_equal(d.sip.tls_cert, "");
	assert_string_equal(d.sip.tls_key, "");
	assert_string_equal(d.sip.tls_ca, "");
	assert_true(d.sip.tls_verify_name);
	assert_string_equal(d.gateway.address.host, "127.0.0.1");
	assert_int_equal(d.gateway.address.port, 5090);
	assert_string_equal(d.gateway.transport, "udp");
	assert_string_equal(d.gateway.auth_user, "");
	assert_string_equal(d.gateway.auth_password, "");
	assert_string_equal(d.gateway.auth_realm, "");
	assert_int_equal(d.rtp.port_min, 30000);
	assert_int_equal(d.rtp.port_max, 40000);
	assert_string_equal(d.rtp.advertise, "127.0.0.1");
	assert_string_equal(d.rtp.bind, "");
	assert_int_equal(d.rtp.workers, 0);
	assert_int_equal(d.rtp.timeout_s, 60);
	assert_int_equal(d.rtp.hold_timeout_s, 3600);
	assert_false(d.rtp.strict_source);
	assert_string_equal(d.store.path, "var/maskd.lmdb");
	assert_int_equal(d.store.map_size, 4ULL << 30);
	assert_int_equal(d.store.retention_s, 7776000);
	assert_string_equal(d.api.listen.host, "127.0.0.1");
	assert_int_equal(d.api.listen.port, 8080);
	assert_int_equal(d.api.max_body, 65536);
	assert_int_equal(d.api.request_timeout_s, 10);
	assert_int_equal(d.api.max_connections, 1024);
	assert_int_equal(d.flood.rate, 1000);
	assert_int_equal(d.flood.window_s, 2);
	assert_int_equal(d.flood.block_s, 60);
	assert_false(d.flood.reply_503);
	assert_true(d.flood.exempt_trunks);
	assert_int_equal(d.flood.n_scanners, 8);
	assert_string_equal(d.flood.scanners[0], "friendly-scanner");
	assert_string_equal(d.flood.scanners[7], "SIVuS");
	assert_int_equal(d.session.default_ttl_s, 3600);
	assert_int_equal(d.session.max_ttl_s, 31536000);
	assert_int_equal(d.session.call_time_limit_s, 0);
	assert_int_equal(d.session.ring_timeout_s, 60);
	assert_int_equal(d.log.level, LOG_LVL_INFO);
	assert_string_equal(d.log.file, "");
	assert_int_equal(d.n_trunks, 0);
	assert_int_equal(d.api.n_tokens, 0);
}

static void test_shipped_conf(void **state)
{
	const char *path = MASKD_SOURCE_DIR "/conf/maskd.conf";
	char err[512] = "";
	struct config cfg;
	int rc;

	rc = config_load(path, &cfg, err, sizeof(err));
	if (rc)
		fail_msg("%s: %d: %s", path, rc, err);

	/* the shipped file documents the defaults: it must not differ */
	assert_defaults(&cfg);

	assert_int_equal(cfg.n_trunks, 1);
	assert_string_equal(cfg.trunks[0].name, "carrier1");
	assert_int_equal(cfg.trunks[0].n_sources, 1);
	assert_cidr(&cfg.trunks[0].sources[0], AF_INET, "127.0.0.0", 8);
	assert_false(cfg.trunks[0].trusted);
	assert_string_equal(cfg.trunks[0].country_code, "");
	assert_string_equal(cfg.trunks[0].national_prefix, "");

	assert_int_equal(cfg.api.n_tokens, 1);
	assert_string_equal(cfg.api.tokens[0], "change-me-please-0001");

	config_free(&cfg);
	config_free(&cfg);	/* idempotent */
	assert_null(cfg.trunks);
	assert_null(cfg.api.tokens);
}

static void test_minimal(void **state)
{
	struct tmpconf t;

	load_ok(&t, MINIMAL);
	assert_defaults(&t.cfg);
	assert_int_equal(t.cfg.n_trunks, 1);
	assert_string_equal(t.cfg.trunks[0].name, "a");
	assert_cidr(&t.cfg.trunks[0].sources[0], AF_INET, "198.0.0.0", 8);
	assert_string_equal(t.cfg.api.tokens[0], "secret-token-1");
	config_free(&t.cfg);
}

static void test_every_key(void **state)
{
	struct tmpconf t;
	const struct config_trunk *tr;

	load_ok(&t,
		"; a comment\n"
		"# another\n"
		"\n"
		"[sip]\n"
		"listen = [::1]:5070\n"
		"advertise = sip.example.net\n"
		"unknown_code = 480\n"
		"ended_code = 410\n"
		"transaction_timeout = 8000\n"
		"pass_headers = P-Early-Media, Accept-Language\n"
		"[trunk.carrier-1]   ; inline comment\n"
		"sources = 192.0.2.7/24 , 2001:db8::1/32,198.51.100.9\n"
		"trusted = yes\n"
		"country_code = 44\n"
		"national_prefix = 0\n"
		"[trunk.Other_2]\n"
		"sources: ::ffff:198.0.0.0/104\n"
		"trusted = off\n"
		"[gateway]\n"
		"address = gw.example.net:5080\n"
		"transport = tcp\n"
		"auth_user = maskd-trunk.1\n"
		"auth_password = \"s3cr=t \"x\\y:z\"\n"
		"auth_realm = sip.example.net\n"
		"[rtp]\n"
		"port_min = 1024\n"
		"port_max = 1025\n"
		"advertise = 2001:db8::10\n"
		"bind = 2001:db8::11\n"
		"workers = 3\n"
		"timeout = 1\n"
		"hold_timeout = 0\n"
		"strict_source = yes\n"
		"[store]\n"
		"path = \"/var/lib/maskd db\"\n"
		"map_size = 512M\n"
		"retention = 0\n"
		"[api]\n"
		"listen = 0.0.0.0:18080 ; all interfaces\n"
		"tokens = aaaaaaaa, b!#$%&'()*+-./<>?@[]^_`{|}~\n"
		"max_body = 1K\n"
		"[session]\n"
		"default_ttl = 60\n"
		"max_ttl = 60\n"
		"call_time_limit = 7200\n"
		"ring_timeout = 1\n"
		"[log]\n"
		"level = debug\n"
		"file = /var/log/maskd.log\n");

	assert_string_equal(t.cfg.sip.listen.host, "::1");
	assert_int_equal(t.cfg.sip.listen.port, 5070);
	assert_string_equal(t.cfg.sip.advertise, "sip.example.net");
	assert_int_equal(t.cfg.sip.unknown_code, 480);
	assert_int_equal(t.cfg.sip.ended_code, 410);
	assert_int_equal(t.cfg.sip.transaction_timeout_ms, 8000);
	assert_int_equal(t.cfg.sip.n_pass_headers, 2);
	assert_string_equal(t.cfg.sip.pass_headers[0], "P-Early-Media");
	assert_string_equal(t.cfg.sip.pass_headers[1], "Accept-Language");

	assert_int_equal(t.cfg.n_trunks, 2);
	tr = &t.cfg.trunks[0];
	assert_string_equal(tr->name, "carrier-1");
	assert_int_equal(tr->n_sources, 3);
	assert_cidr(&tr->sources[0], AF_INET, "192.0.2.0", 24);
	assert_cidr(&tr->sources[1], AF_INET6, "2001:db8::", 32);
	assert_cidr(&tr->sources[2], AF_INET, "198.51.100.9", 32);
	assert_true(tr->trusted);
	assert_string_equal(tr->country_code, "44");
	assert_string_equal(tr->national_prefix, "0");
	tr = &t.cfg.trunks[1];
	assert_string_equal(tr->name, "Other_2");
	assert_int_equal(tr->n_sources, 1);
	assert_cidr(&tr->sources[0], AF_INET6, "::ffff:198.0.0.0", 104);
	assert_false(tr->trusted);

	assert_string_equal(t.cfg.gateway.address.host, "gw.example.net");
	assert_int_equal(t.cfg.gateway.address.port, 5080);
	assert_string_equal(t.cfg.gateway.transport, "tcp");
	assert_string_equal(t.cfg.gateway.auth_user, "maskd-trunk.1");
	assert_string_equal(t.cfg.gateway.auth_password, "s3cr=t \"x\\y:z");
	assert_string_equal(t.cfg.gateway.auth_realm, "sip.example.net");
	assert_int_equal(t.cfg.rtp.port_min, 1024);
	assert_int_equal(t.cfg.rtp.port_max, 1025);
	assert_string_equal(t.cfg.rtp.advertise, "2001:db8::10");
	assert_string_equal(t.cfg.rtp.bind, "2001:db8::11");
	assert_int_equal(t.cfg.rtp.workers, 3);
	assert_int_equal(t.cfg.rtp.timeout_s, 1);
	assert_int_equal(t.cfg.rtp.hold_timeout_s, 0);
	assert_true(t.cfg.rtp.strict_source);
	assert_string_equal(t.cfg.store.path, "/var/lib/maskd db");
	assert_int_equal(t.cfg.store.map_size, 512ULL << 20);
	assert_int_equal(t.cfg.store.retention_s, 0);
	assert_string_equal(t.cfg.api.listen.host, "0.0.0.0");
	assert_int_equal(t.cfg.api.listen.port, 18080);
	assert_int_equal(t.cfg.api.n_tokens, 2);
	assert_string_equal(t.cfg.api.tokens[0], "aaaaaaaa");
	assert_string_equal(t.cfg.api.tokens[1],
			    "b!#$%&'()*+-./<>?@[]^_`{|}~");
	assert_int_equal(t.cfg.api.max_body, 1024);
	assert_int_equal(t.cfg.session.default_ttl_s, 60);
	assert_int_equal(t.cfg.session.max_ttl_s, 60);
	assert_int_equal(t.cfg.session.call_time_limit_s, 7200);
	assert_int_equal(t.cfg.session.ring_timeout_s, 1);
	assert_int_equal(t.cfg.log.level, LOG_LVL_DEBUG);
	assert_string_equal(t.cfg.log.file, "/var/log/maskd.log");
	config_free(&t.cfg);
}

static void test_sip_keys(void **state)
{
	expect_error("[sip]\nunknown_code = 200\n" MINIMAL, 2,
		     "sip.unknown_code: out of range 400..699");
	expect_error("[sip]\nended_code = 700\n" MINIMAL, 2,
		     "sip.ended_code: out of range 400..699");
	expect_error("[sip]\ntransaction_timeout = 100\n" MINIMAL, 2,
		     "sip.transaction_timeout: out of range 4000..64000");
	expect_error("[sip]\npass_headers = Accept-Language, Via\n"
		     MINIMAL, 2, "sip.pass_headers: Via may not pass");
	expect_error("[sip]\npass_headers = p-asserted-identity\n"
		     MINIMAL, 2, "sip.pass_headers: p-asserted-identity may");
	expect_error("[sip]\npass_headers = X-Carrier-Id\n" MINIMAL, 2,
		     "sip.pass_headers: X-Carrier-Id: X- headers never pass");
	expect_error("[sip]\npass_headers = a b\n" MINIMAL, 2,
		     "sip.pass_headers: 'a b' is not a header name");
	expect_error("[sip]\npass_headers = a,,b\n" MINIMAL, 2,
		     "sip.pass_headers: '' is not a header name");
	expect_error("[sip]\nadvertise = a b\n" MINIMAL, 2,
		     "sip.advertise: 'a b' is not an IP address or host name");
}

/* [sip] workers and their ports. */
static void test_sip_workers_keys(void **state)
{
	struct tmpconf t;

	(void)state;
	load_ok(&t, "[sip]\nworkers = auto\nworker_ports = 5062, 5064\n"
		MINIMAL);
	assert_string_equal(t.cfg.sip.workers, "auto");
	assert_int_equal(t.cfg.sip.n_worker_ports, 2);
	assert_string_equal(t.cfg.sip.worker_ports[1], "5064");
	config_free(&t.cfg);
	load_ok(&t, "[sip]\nworkers = 3\nworker_ports = 5062,5064,5066\n"
		"tls_listen = 127.0.0.1:5061\ntls_cert = c.pem\n"
		"tls_key = k.pem\nworker_tls_ports = 5063,5065\n" MINIMAL);
	assert_int_equal(t.cfg.sip.n_worker_tls_ports, 2);
	config_free(&t.cfg);

	expect_error("[sip]\nworkers = 0\n" MINIMAL, 2,
		     "sip.workers: '0' is not auto or 1 to 32");
	expect_error("[sip]\nworkers = 33\n" MINIMAL, 2,
		     "sip.workers: '33' is not auto or 1 to 32");
	expect_error("[sip]\nworkers = many\n" MINIMAL, 2,
		     "sip.workers: 'many' is not auto or 1 to 32");
	expect_error("[sip]\nworker_ports = 5062,70000\n" MINIMAL, 2,
		     "sip.worker_ports: '70000' is not a port");
	expect_error("[sip]\nworkers = 3\nworker_ports = 5062\n" MINIMAL,
		     3, "sip.worker_ports: 3 workers need 2 ports besides "
		     "sip.listen's, 1 given");
	expect_error("[sip]\nworkers = 2\nworker_ports = 5062\n"
		     "tls_listen = 127.0.0.1:5061\ntls_cert = c.pem\n"
		     "tls_key = k.pem\n" MINIMAL, 3,
		     "sip.worker_tls_ports: 2 workers need 1 TLS ports");
	expect_error("[sip]\nworkers = 2\nworker_ports = 5060\n" MINIMAL, 3,
		     "sip.worker_ports: port 5060 is used twice");
	expect_error("[sip]\nworker_ports = 5062,5062\n" MINIMAL, 2,
		     "sip.worker_ports: port 5062 is used twice");
}

/* SIP over TLS: the keys, and the pairs of keys that go together. */
static void test_sip_tls_keys(void **state)
{
	struct tmpconf t;

	load_ok(&t, "[sip]\nlisten = 127.0.0.1:5060\n"
		"tls_listen = [::1]:5061\n"
		"tls_cert = /etc/maskd/sip.crt\n"
		"tls_key = \"/etc/maskd/a key\"\n"
		"tls_ca = /etc/maskd/ca.pem\ntls_verify_name = no\n"
		"[gateway]\naddress = gw.example.net:5061\ntransport = tls\n"
		MINIMAL);
	assert_string_equal(t.cfg.sip.tls_listen.host, "::1");
	assert_int_equal(t.cfg.sip.tls_listen.port, 5061);
	assert_string_equal(t.cfg.sip.tls_cert, "/etc/maskd/sip.crt");
	assert_string_equal(t.cfg.sip.tls_key, "/etc/maskd/a key");
	assert_string_equal(t.cfg.sip.tls_ca, "/etc/maskd/ca.pem");
	assert_false(t.cfg.sip.tls_verify_name);
	assert_string_equal(t.cfg.gateway.transport, "tls");
	config_free(&t.cfg);

	/* inbound TLS alone: no CA needed; the same port on another host */
	load_ok(&t, "[sip]\nlisten = 127.0.0.1:5060\n"
		"tls_listen = 127.0.0.2:5060\ntls_cert = c.pem\n"
		"tls_key = k.pem\n" MINIMAL);
	assert_string_equal(t.cfg.sip.tls_listen.host, "127.0.0.2");
	assert_string_equal(t.cfg.sip.tls_ca, "");
	assert_string_equal(t.cfg.gateway.transport, "udp");
	config_free(&t.cfg);

	/* empty is off, as written in the shipped file */
	load_ok(&t, "[sip]\ntls_listen =\ntls_cert =\ntls_key =\n"
		"tls_ca =\n" MINIMAL);
	assert_int_equal(t.cfg.sip.tls_listen.port, 0);
	config_free(&t.cfg);

	expect_error("[sip]\ntls_verify_name = maybe\n" MINIMAL, 2,
		     "sip.tls_verify_name: ");
	expect_error("[sip]\ntls_listen = 127.0.0.1\n" MINIMAL, 2,
		     "sip.tls_listen: ");
	expect_error("[sip]\ntls_listen = 127.0.0.1:0\n" MINIMAL, 2,
		     "sip.tls_listen: ");
	expect_error("[sip]\ntls_listen = 127.0.0.1:5061\n"
		     "tls_cert = c.pem\n" MINIMAL, 3,
		     "sip.tls_key: required with sip.tls_listen");
	expect_error("[sip]\ntls_listen = 127.0.0.1:5061\n"
		     "tls_key = k.pem\n" MINIMAL, 3,
		     "sip.tls_cert: required with sip.tls_listen");
	expect_error("[sip]\ntls_cert = c.pem\ntls_key = k.pem\n" MINIMAL,
		     3, "sip.tls_listen: required with sip.tls_cert");
	expect_error("[sip]\ntls_ca = ca.pem\n" MINIMAL, 2,
		     "sip.tls_listen: required with sip.tls_ca");
	expect_error("[sip]\nlisten = 127.0.0.1:5061\n"
		     "tls_listen = 127.0.0.1:5061\ntls_cert = c.pem\n"
		     "tls_key = k.pem\n" MINIMAL, 5,
		     "sip.tls_listen: the same address as sip.listen");
	expect_error(MINIMAL "[gateway]\ntransport = tls\n", 6,
		     "gateway.transport: tls needs sip.tls_listen");
	expect_error("[sip]\ntls_listen = 127.0.0.1:5061\n"
		     "tls_cert = c.pem\ntls_key = k.pem\n"
		     MINIMAL "[gateway]\ntransport = tls\n", 10,
		     "gateway.transport: tls needs sip.tls_ca");
}

static void test_booleans(void **state)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	char text[256];
	struct tmpconf t;
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), MINIMAL "[trunk.b]\nsources = "
			 "::1\ntrusted = %s\n", yes[i]);
		load_ok(&t, text);
		assert_true(t.cfg.trunks[1].trusted);
		config_free(&t.cfg);

		snprintf(text, sizeof(text), MINIMAL "[trunk.b]\nsources = "
			 "::1\ntrusted = %s\n", no[i]);
		load_ok(&t, text);
		assert_false(t.cfg.trunks[1].trusted);
		config_free(&t.cfg);
	}

	expect_error(MINIMAL "[trunk.b]\nsources = ::1\ntrusted = maybe\n", 7,
		     "trunk.b.trusted: not a boolean");
	expect_error(MINIMAL "[trunk.b]\nsources = ::1\ntrusted = YES\n", 7,
		     "trunk.b.trusted: not a boolean");
}

static void test_size_suffixes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} ok[] = {
		{ "4G", 4ULL << 30 },
		{ "4g", 4ULL << 30 },
		{ "512M", 512ULL << 20 },
		{ "1024K", 1ULL << 20 },
		{ "1M", 1ULL << 20 },
		{ "1T", 1ULL << 40 },
		{ "1048576", 1048576 },
		{ "10995116277760", 10ULL << 40 },
	};
	static const char *const bad[] = {
		"4X", "G", "-1M", "+1M", "1.5G", "4 G", "4GB", "0x100000",
		"",
	};
	char text[256], what[64];
	struct tmpconf t;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL "[store]\nmap_size = %s\n",
			 ok[i].text);
		load_ok(&t, text);
		assert_int_equal(t.cfg.store.map_size, ok[i].bytes);
		config_free(&t.cfg);
	}

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL "[store]\nmap_size = %s\n",
			 bad[i]);
		expect_error(text, 6, "store.map_size: not a size");
	}

	/* below 1M, and overflowing 64 bits */
	snprintf(what, sizeof(what), "store.map_size: out of range");
	expect_error(MINIMAL "[store]\nmap_size = 1023K\n", 6, what);
	expect_error(MINIMAL "[store]\nmap_size = 1048575\n", 6, what);
	expect_error(MINIMAL "[store]\nmap_size = 0\n", 6, what);
	expect_error(MINIMAL "[store]\nmap_size = 16777216T\n", 6, what);
	expect_error(MINIMAL "[store]\nmap_size = 99999999999999999999\n", 6,
		     what);

	load_ok(&t, MINIMAL "max_body = 2M\n");
	assert_int_equal(t.cfg.api.max_body, 2 << 20);
	config_free(&t.cfg);
	expect_error(MINIMAL "max_body = 2G\n", 5,
		     "api.max_body: out of range");
	expect_error(MINIMAL "max_body = 0\n", 5, "api.max_body: out of range");

	/* retention: whole seconds, 0 = for ever, at most 2^32-1 */
	load_ok(&t, MINIMAL "[store]\nretention = 4294967295\n");
	assert_int_equal(t.cfg.store.retention_s, 4294967295U);
	config_free(&t.cfg);
	expect_error(MINIMAL "[store]\nretention = 4294967296\n", 6,
		     "store.retention: out of range 0..4294967295");
	expect_error(MINIMAL "[store]\nretention = 90d\n", 6,
		     "store.retention: not a number");
	expect_error(MINIMAL "[store]\nretention = -1\n", 6,
		     "store.retention: not a number");
}

static void test_unknown_key(void **state)
{
	expect_error(MINIMAL "[sip]\nlisten = 127.0.0.1:5060\nlisen = x\n", 7,
		     "sip.lisen: unknown key");
	/* keys are case-sensitive, and known only in their section */
	expect_error("[sip]\nListen = 127.0.0.1:5060\n", 2,
		     "sip.Listen: unknown key");
	expect_error("[trunk.a]\nsources = ::1\ntokens = abcdefgh\n", 3,
		     "trunk.a.tokens: unknown key");
	expect_error("listen = 127.0.0.1:5060\n[sip]\n", 1,
		     "listen: key outside any section");
}

static void test_unknown_section(void **state)
{
	expect_error(MINIMAL "\n[sipp]\nlisten = 127.0.0.1:5060\n", 6,
		     "sipp: unknown section");
	expect_error("[SIP]\n", 1, "SIP: unknown section");
	expect_error("[trunk]\nsources = ::1\n", 1, "trunk: needs a name");
	expect_error("[trunk.]\n", 1, "trunk.: bad trunk name");
	expect_error("[trunk.a b]\n", 1, "trunk.a b: bad trunk name");
	expect_error("[trunk.a.b]\n", 1, "trunk.a.b: bad trunk name");
	expect_error("[trunk.a0123456789012345678901234567890123456789"
		     "0123456789012345]\n", 1, "trunk.a01");
	expect_error(MINIMAL "[sip] extra\n", 5, "sip: text after ']'");
	expect_error(MINIMAL "[sip\n", 5, "[sip: missing ']'");
	expect_error(MINIMAL "[sip]\n[gateway]\n[sip]\n", 7,
		     "sip: duplicate section");
}

static void test_long_trunk_name(void **state)
{
	struct tmpconf t;
	char text[512], name[64];

	/* 63 characters is allowed, although inih cuts sections at 49 */
	memset(name, 'n', 63);
	name[63] = '\0';
	snprintf(text, sizeof(text), MINIMAL "[trunk.%s]\nsources = ::1\n",
		 name);
	load_ok(&t, text);
	assert_int_equal(t.cfg.n_trunks, 2);
	assert_string_equal(t.cfg.trunks[1].name, name);
	config_free(&t.cfg);

	snprintf(text, sizeof(text), MINIMAL "[trunk.%sn]\nsources = ::1\n",
		 name);
	expect_error(text, 5, "trunk.nnn");
}

static void test_bad_port(void **state)
{
	expect_error(MINIMAL "[sip]\nlisten = 127.0.0.1:70000\n", 6,
		     "sip.listen: bad port '70000' (1..65535)");
	expect_error(MINIMAL "[sip]\nlisten = 127.0.0.1:0\n", 6,
		     "sip.listen: bad port");
	expect_error(MINIMAL "[sip]\nlisten = 127.0.0.1:\n", 6,
		     "sip.listen: bad port");
	expect_error(MINIMAL "[sip]\nlisten = 127.0.0.1:50a\n", 6,
		     "sip.listen: bad port");
	expect_error(MINIMAL "[sip]\nlisten = 127.0.0.1\n", 6,
		     "sip.listen: '127.0.0.1' has no port");
	expect_error(MINIMAL "[api]\n", 5, "api: duplicate section");
	expect_error("[api]\ntokens = abcdefgh\nlisten = ::1:8080\n"
		     "[trunk.a]\nsources = ::1\n", 3,
		     "api.listen: IPv6 address needs brackets");
	expect_error(MINIMAL "[gateway]\naddress = [::1:5090\n", 6,
		     "gateway.address: '[::1:5090' is not [IPv6]:port");
	expect_error(MINIMAL "[gateway]\naddress = 300.1.1.1:5090\n", 6,
		     "gateway.address: '300.1.1.1' is not an IPv4 address");
	expect_error(MINIMAL "[gateway]\ntransport = sctp\n", 6,
		     "gateway.transport: 'sctp' is not udp, tcp or tls");
	expect_error(MINIMAL "[gateway]\ntransport = TLS\n", 6,
		     "gateway.transport: 'TLS' is not udp, tcp or tls");
}

static void test_gateway_auth(void **state)
{
	struct tmpconf t;
	char line[300];
	size_t i;

	/* credentials without a realm: any realm */
	load_ok(&t, MINIMAL "[gateway]\nauth_user = u\nauth_password = p w\n");
	assert_string_equal(t.cfg.gateway.auth_user, "u");
	assert_string_equal(t.cfg.gateway.auth_password, "p w");
	assert_string_equal(t.cfg.gateway.auth_realm, "");
	config_free(&t.cfg);
	/* the secret does not outlive the config */
	for (i = 0; i < sizeof(t.cfg.gateway.auth_password); i++)
		assert_int_equal(t.cfg.gateway.auth_password[i], 0);

	/* empty is "none" */
	load_ok(&t, MINIMAL "[gateway]\nauth_user =\nauth_password =\n"
		"auth_realm =\n");
	assert_defaults(&t.cfg);
	config_free(&t.cfg);

	/* only together */
	expect_error(MINIMAL "[gateway]\nauth_user = u\n", 6,
		     "gateway.auth_password: required with gateway.auth_user");
	expect_error(MINIMAL "[gateway]\nauth_user = u\nauth_password =\n",
		     7, "gateway.auth_password: required with "
		     "gateway.auth_user");
	expect_error(MINIMAL "[gateway]\nauth_password = p\n", 6,
		     "gateway.auth_user: required with gateway.auth_password");
	expect_error(MINIMAL "[gateway]\naddress = 127.0.0.1:5\n"
		     "auth_realm = r\n", 7,
		     "gateway.auth_user: required with gateway.auth_realm");

	/* what would break the quoted strings of an Authorization header */
	expect_error(MINIMAL "[gateway]\nauth_user = a\"b\nauth_password = p\n",
		     6, "gateway.auth_user: has a character that cannot be "
		     "sent");
	expect_error(MINIMAL "[gateway]\nauth_user = u\nauth_password = p\n"
		     "auth_realm = a\\b\n", 8,
		     "gateway.auth_realm: has a character that cannot be "
		     "sent");
	expect_error(MINIMAL "[gateway]\nauth_user = u\tv\nauth_password = p\n",
		     6, "gateway.auth_user: has a control character");

	/* 127 characters fit, 128 do not */
	snprintf(line, sizeof(line), MINIMAL "[gateway]\nauth_user = u\n"
		 "auth_password = %0127d\n", 7);
	load_ok(&t, line);
	assert_int_equal(strlen(t.cfg.gateway.auth_password), 127);
	config_free(&t.cfg);
	snprintf(line, sizeof(line), MINIMAL "[gateway]\nauth_user = u\n"
		 "auth_password = %0128d\n", 7);
	expect_error(line, 7, "gateway.auth_password: longer than 127 "
		     "characters");
}

/* No complaint about the password, or near it, quotes the password. */
static void test_password_not_in_message(void **state)
{
	static const char *const bad[] = {
		/* its own errors */
		MINIMAL "[gateway]\nauth_user = u\nauth_password = "
		"Xyzzy-pw\x01\n",
		MINIMAL "[gateway]\nauth_password = Xyzzy-pw\n",
		/* a later line's error */
		MINIMAL "[gateway]\nauth_user = u\nauth_password = Xyzzy-pw\n"
		"auth_password = Xyzzy-pw2\n",
		MINIMAL "[gateway]\nauth_user = u\nauth_password = Xyzzy-pw\n"
		"auth_secret = Xyzzy-pw\n",
	};
	struct tmpconf t;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		load_text(&t, bad[i]);
		assert_int_equal(t.rc, EINVAL);
		if (strstr(t.err, "Xyzzy"))
			fail_msg("case %zu: '%s'", i, t.err);
	}
}

static void test_missing_tokens(void **state)
{
	/* no [api] at all: line 0 */
	expect_error("[trunk.a]\nsources = ::1\n", 0, "api.tokens: required");
	/* [api] without tokens: the section's line */
	expect_error("[trunk.a]\nsources = ::1\n\n[api]\nmax_body = 100\n", 4,
		     "api.tokens: required");
	expect_error("[trunk.a]\nsources = ::1\n[api]\ntokens = short\n", 4,
		     "api.tokens: token 1 is shorter than 8 characters");
	expect_error("[trunk.a]\nsources = ::1\n[api]\n"
		     "tokens = abcdefgh,,ijklmnop\n", 4,
		     "api.tokens: token 2 is shorter");
	expect_error("[trunk.a]\nsources = ::1\n[api]\n"
		     "tokens = abcdefgh, ijkl mnop\n", 4,
		     "api.tokens: token 2 has a character");
	expect_error("[trunk.a]\nsources = ::1\n[api]\n"
		     "tokens = abcdefgh\xc3\xa9\n", 4,
		     "api.tokens: token 1 has a character");
}

static void test_token_not_in_message(void **state)
{
	struct tmpconf t;

	load_text(&t, "[trunk.a]\nsources = ::1\n[api]\n"
		  "tokens = topsecret-1, s3cr\n");
	assert_int_equal(t.rc, EINVAL);
	assert_null(strstr(t.err, "s3cr"));
	assert_null(strstr(t.err, "topsecret"));
}

static void test_missing_trunk(void **state)
{
	expect_error("[api]\ntokens = abcdefgh\n", 0,
		     "trunk: at least one [trunk.NAME] section is required");
	expect_error("", 0, "trunk: at least one");
	/* a trunk without sources: the trunk's section line */
	expect_error("[api]\ntokens = abcdefgh\n[trunk.a]\ntrusted = yes\n"
		     "[trunk.b]\nsources = ::1\n", 3,
		     "trunk.a.sources: required");
	expect_error("[api]\ntokens = abcdefgh\n[trunk.a]\nsources = ::1\n"
		     "[trunk.b]\n", 5, "trunk.b.sources: required");
}

static void test_bad_cidr(void **state)
{
	expect_error("[trunk.a]\nsources = 198.0.0.0/33\n", 2,
		     "trunk.a.sources: bad CIDR '198.0.0.0/33'");
	expect_error("[trunk.a]\nsources = 198.0.0.0/8, 300.0.0.1\n", 2,
		     "trunk.a.sources: bad CIDR '300.0.0.1'");
	expect_error("[trunk.a]\nsources = ::/129\n", 2,
		     "trunk.a.sources: bad CIDR '::/129'");
	expect_error("[trunk.a]\nsources = 198.0.0.0/8,\n", 2,
		     "trunk.a.sources: empty entry");
	expect_error("[trunk.a]\nsources =\n", 2,
		     "trunk.a.sources: empty entry");
	expect_error("[trunk.a]\nsources = carrier.example.com\n", 2,
		     "trunk.a.sources: bad CIDR");
	expect_error("[trunk.a]\nsources = ::1\ncountry_code = 0044\n", 3,
		     "trunk.a.country_code: not a country code");
	expect_error("[trunk.a]\nsources = ::1\nnational_prefix = 0x\n", 3,
		     "trunk.a.national_prefix: not a national prefix");
	/* too long is still "not a country code", not just "too long" */
	expect_error("[trunk.a]\nsources = ::1\ncountry_code = 12345678\n",
		     3, "trunk.a.country_code: not a country code");
	expect_error("[trunk.a]\nsources = ::1\nnational_prefix = 12345678\n",
		     3, "trunk.a.national_prefix: not a national prefix (up to "
		     "7 digits)");
}

static void test_duplicate_trunk(void **state)
{
	expect_error(MINIMAL "[trunk.b]\nsources = ::1\n\n[trunk.a]\n"
		     "sources = ::2\n", 8, "trunk.a: duplicate trunk name");
}

static void test_duplicate_key(void **state)
{
	expect_error(MINIMAL "[rtp]\nport_min = 30000\nport_min = 30002\n", 7,
		     "rtp.port_min: duplicate key");
	expect_error("[trunk.a]\nsources = ::1\nsources = ::2\n", 3,
		     "trunk.a.sources: duplicate key");
}

static void test_rtp_ports(void **state)
{
	expect_error(MINIMAL "[rtp]\nport_min = 30001\n", 6,
		     "rtp.port_min: must be even");
	expect_error(MINIMAL "[rtp]\nport_min = 1022\n", 6,
		     "rtp.port_min: out of range 1024..65535");
	expect_error(MINIMAL "[rtp]\nport_max = 65536\n", 6,
		     "rtp.port_max: out of range 1024..65535");
	expect_error(MINIMAL "[rtp]\nport_min = -2\n", 6,
		     "rtp.port_min: not a number");
	expect_error(MINIMAL "[rtp]\nport_min = 30000x\n", 6,
		     "rtp.port_min: not a number");
	expect_error(MINIMAL "[rtp]\nport_min = \n", 6,
		     "rtp.port_min: not a number");
	/* min not below max: blamed on whichever key the file sets */
	expect_error(MINIMAL "[rtp]\nport_min = 20000\nport_max = 20000\n", 7,
		     "rtp.port_max: must be above rtp.port_min (20000)");
	expect_error(MINIMAL "[rtp]\nport_min = 50000\n", 6,
		     "rtp.port_min: must be below rtp.port_max (40000)");
	expect_error(MINIMAL "[rtp]\nadvertise = localhost\n", 6,
		     "rtp.advertise: 'localhost' is not an IP address");
	expect_error(MINIMAL "[rtp]\nbind = localhost\n", 6,
		     "rtp.bind: 'localhost' is not an IP address");
	expect_error(MINIMAL "[rtp]\nworkers = 65\n", 6,
		     "rtp.workers: out of range 0..64");
	expect_error(MINIMAL "[rtp]\ntimeout = 86401\n", 6,
		     "rtp.timeout: out of range 0..86400");
	expect_error(MINIMAL "[rtp]\nhold_timeout = x\n", 6,
		     "rtp.hold_timeout: not a number");
	expect_error(MINIMAL "[rtp]\nstrict_source = maybe\n", 6,
		     "rtp.strict_source: not a boolean");
}

static void test_numbers(void **state)
{
	expect_error(MINIMAL "[session]\ndefault_ttl = 0\n", 6,
		     "session.default_ttl: out of range 1..4294967295");
	expect_error(MINIMAL "[session]\nmax_ttl = 4294967296\n", 6,
		     "session.max_ttl: out of range");
	expect_error(MINIMAL "[session]\nring_timeout = 1h\n", 6,
		     "session.ring_timeout: not a number");
	expect_error(MINIMAL "[session]\nmax_ttl = 100\ndefault_ttl = 101\n",
		     7, "session.default_ttl: out of range 1..100");
	expect_error(MINIMAL "[session]\nmax_ttl = 100\n", 6,
		     "session.max_ttl: below session.default_ttl (3600)");
	expect_error(MINIMAL "[log]\nlevel = verbose\n", 6,
		     "log.level: 'verbose' is not error, warn, info or debug");
	expect_error(MINIMAL "[store]\npath =\n", 6, "store.path: empty");
	expect_error(MINIMAL "[store]\npath = \"\"\n", 6, "store.path: empty");
}

static void test_flood_keys(void **state)
{
	char text[1024], list[512], what[640];
	struct tmpconf t;
	size_t i, n;

	load_ok(&t, MINIMAL "[flood]\nrate = 0\nwindow = 3600\nblock = 1\n"
		"action = 503\nexempt_trunks = yes\n"
		"scanners = Foo-Scan , bar baz,x\n");
	assert_int_equal(t.cfg.flood.rate, 0);
	assert_int_equal(t.cfg.flood.window_s, 3600);
	assert_int_equal(t.cfg.flood.block_s, 1);
	assert_true(t.cfg.flood.reply_503);
	assert_true(t.cfg.flood.exempt_trunks);
	assert_int_equal(t.cfg.flood.n_scanners, 3);
	assert_string_equal(t.cfg.flood.scanners[0], "Foo-Scan");
	assert_string_equal(t.cfg.flood.scanners[1], "bar baz");
	assert_string_equal(t.cfg.flood.scanners[2], "x");
	config_free(&t.cfg);

	load_ok(&t, MINIMAL "[flood]\nrate = 1000000\nwindow = 1\n"
		"block = 86400\naction = drop\nexempt_trunks = off\n"
		"scanners =\n");
	assert_int_equal(t.cfg.flood.rate, 1000000);
	assert_int_equal(t.cfg.flood.window_s, 1);
	assert_int_equal(t.cfg.flood.block_s, 86400);
	assert_false(t.cfg.flood.reply_503);
	assert_false(t.cfg.flood.exempt_trunks);
	assert_int_equal(t.cfg.flood.n_scanners, 0);	/* none: all pass */
	config_free(&t.cfg);

	/* the most entries, and the longest entry */
	n = 0;
	for (i = 0; i < CONFIG_SCANNERS_MAX; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%zu",
				      i ? "," : "", i);
	snprintf(text, sizeof(text), MINIMAL "[flood]\nscanners = %s\n",
		 list);
	load_ok(&t, text);
	assert_int_equal(t.cfg.flood.n_scanners, CONFIG_SCANNERS_MAX);
	assert_string_equal(t.cfg.flood.scanners[CONFIG_SCANNERS_MAX - 1],
			    "31");
	config_free(&t.cfg);
	memset(list, 'u', CONFIG_SCANNER_SIZE - 1);
	list[CONFIG_SCANNER_SIZE - 1] = '\0';
	snprintf(text, sizeof(text), MINIMAL "[flood]\nscanners = a,%s\n",
		 list);
	load_ok(&t, text);
	assert_string_equal(t.cfg.flood.scanners[1], list);
	config_free(&t.cfg);

	expect_error(MINIMAL "[flood]\nrate = 1000001\n", 6,
		     "flood.rate: out of range 0..1000000");
	expect_error(MINIMAL "[flood]\nrate = -1\n", 6,
		     "flood.rate: not a number");
	expect_error(MINIMAL "[flood]\nrate = 20/s\n", 6,
		     "flood.rate: not a number");
	expect_error(MINIMAL "[flood]\nrate =\n", 6,
		     "flood.rate: not a number");
	expect_error(MINIMAL "[flood]\nwindow = 0\n", 6,
		     "flood.window: out of range 1..3600");
	expect_error(MINIMAL "[flood]\nwindow = 3601\n", 6,
		     "flood.window: out of range 1..3600");
	expect_error(MINIMAL "[flood]\nblock = 0\n", 6,
		     "flood.block: out of range 1..86400");
	expect_error(MINIMAL "[flood]\nblock = 86401\n", 6,
		     "flood.block: out of range 1..86400");
	expect_error(MINIMAL "[flood]\nblock = 1m\n", 6,
		     "flood.block: not a number");
	expect_error(MINIMAL "[flood]\naction = reject\n", 6,
		     "flood.action: must be drop or 503");
	expect_error(MINIMAL "[flood]\naction = DROP\n", 6,
		     "flood.action: must be drop or 503");
	expect_error(MINIMAL "[flood]\naction =\n", 6,
		     "flood.action: must be drop or 503");
	expect_error(MINIMAL "[flood]\nexempt_trunks = maybe\n", 6,
		     "flood.exempt_trunks: not a boolean");
	expect_error(MINIMAL "[flood]\nscanners = a,,b\n", 6,
		     "flood.scanners: empty entry in the list");
	expect_error(MINIMAL "[flood]\nscanners = a, \n", 6,
		     "flood.scanners: empty entry in the list");
	snprintf(list, sizeof(list), "0");
	n = 1;
	for (i = 1; i <= CONFIG_SCANNERS_MAX; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, ",%zu", i);
	snprintf(text, sizeof(text), MINIMAL "[flood]\nscanners = %s\n",
		 list);
	snprintf(what, sizeof(what), "flood.scanners: more than %d entries",
		 CONFIG_SCANNERS_MAX);
	expect_error(text, 6, what);
	memset(list, 'v', CONFIG_SCANNER_SIZE);
	list[CONFIG_SCANNER_SIZE] = '\0';
	snprintf(text, sizeof(text), MINIMAL "[flood]\nscanners = a,%s\n",
		 list);
	snprintf(what, sizeof(what), "flood.scanners: '%s' longer than %d",
		 list, CONFIG_SCANNER_SIZE - 1);
	expect_error(text, 6, what);
	/* keys of [flood] are known in [flood] only */
	expect_error(MINIMAL "[sip]\nrate = 10\n", 6,
		     "sip.rate: unknown key");
}

/*
 * Trunks skip the per-source flood limit unless the file says otherwise:
 * a carrier SBC above 500 out-of-dialog requests/s must not be blocked
 * for a minute (its cps cap still answers 503).
 */
static void test_flood_exempt_default(void **state)
{
	struct tmpconf t;

	load_ok(&t, MINIMAL);
	assert_true(t.cfg.flood.exempt_trunks);
	config_free(&t.cfg);
	load_ok(&t, MINIMAL "[flood]\nrate = 10\n");
	assert_true(t.cfg.flood.exempt_trunks);
	config_free(&t.cfg);
	load_ok(&t, MINIMAL "[flood]\nexempt_trunks = no\n");
	assert_false(t.cfg.flood.exempt_trunks);
	config_free(&t.cfg);
}

/* The empty list is no tokens: required, blamed on the key's line. */
static void test_empty_tokens(void **state)
{
	expect_error("[trunk.a]\nsources = ::1\n[api]\nmax_body = 1\n"
		     "tokens =\n", 5, "api.tokens: required");
	expect_error("[trunk.a]\nsources = ::1\n[api]\ntokens = \"\"\n", 4,
		     "api.tokens: required");
}

/* A trunk's keys are its own: the same key in two trunks is no
 * duplicate, and each trunk starts from the defaults. */
static void test_trunk_keys_per_trunk(void **state)
{
	struct tmpconf t;

	load_ok(&t, MINIMAL "[trunk.b]\nsources = ::1\ncps = 5\n"
		"trusted = yes\n[trunk.c]\nsources = ::2\ncps = 6\n");
	assert_int_equal(t.cfg.n_trunks, 3);
	assert_int_equal(t.cfg.trunks[0].cps, 0);
	assert_false(t.cfg.trunks[0].trusted);
	assert_int_equal(t.cfg.trunks[1].cps, 5);
	assert_true(t.cfg.trunks[1].trusted);
	assert_int_equal(t.cfg.trunks[2].cps, 6);
	assert_false(t.cfg.trunks[2].trusted);
	config_free(&t.cfg);
}

/* config_print(): every section, defaults, and no secret. */
static void test_print(void **state)
{
	struct tmpconf t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	load_ok(&t, MINIMAL "[gateway]\nauth_user = u\n"
		"auth_password = Xyzzy-pw\n");
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(config_print(&t.cfg, f), 0);
	fclose(f);
	assert_null(strstr(buf, "Xyzzy"));
	assert_null(strstr(buf, "secret-token-1"));
	assert_non_null(strstr(buf, "\n[api]\nlisten = 127.0.0.1:8080\n"
			       "tokens = ***\n"));
	assert_non_null(strstr(buf, "auth_password = ***\n"));
	assert_non_null(strstr(buf, "[trunk.a]\nsources = 198.0.0.0/8\n"));
	assert_non_null(strstr(buf, "[flood]\nrate = 1000\n"));
	assert_non_null(strstr(buf, "exempt_trunks = yes\n"));
	assert_non_null(strstr(buf, "map_size = 4G\n"));
	assert_non_null(strstr(buf, "[log]\nlevel = info\nfile =\n"));
	free(buf);
	config_free(&t.cfg);
}

static void test_api_limits(void **state)
{
	struct tmpconf t;

	load_ok(&t, MINIMAL "request_timeout = 1\nmax_connections = 0\n");
	assert_int_equal(t.cfg.api.request_timeout_s, 1);
	assert_int_equal(t.cfg.api.max_connections, 0);	/* no cap */
	config_free(&t.cfg);
	load_ok(&t, MINIMAL "request_timeout = 3600\n"
		"max_connections = 1000000\n");
	assert_int_equal(t.cfg.api.request_timeout_s, 3600);
	assert_int_equal(t.cfg.api.max_connections, 1000000);
	config_free(&t.cfg);

	expect_error(MINIMAL "request_timeout = 0\n", 5,
		     "api.request_timeout: out of range 1..3600");
	expect_error(MINIMAL "request_timeout = 3601\n", 5,
		     "api.request_timeout: out of range 1..3600");
	expect_error(MINIMAL "request_timeout = 10s\n", 5,
		     "api.request_timeout: not a number");
	expect_error(MINIMAL "max_connections = 1000001\n", 5,
		     "api.max_connections: out of range 0..1000000");
	expect_error(MINIMAL "max_connections = -1\n", 5,
		     "api.max_connections: not a number");
}

static void test_line_too_long(void **state)
{
	char text[512], value[256];
	struct tmpconf t;
	size_t fill;

	/* "file = /" is 8 characters; 198 in all still loads */
	fill = 198 - 8;
	memset(value, 'x', fill);
	value[fill] = '\0';
	snprintf(text, sizeof(text), MINIMAL "[log]\nfile = /%s\n", value);
	load_ok(&t, text);
	assert_int_equal(strlen(t.cfg.log.file), 1 + fill);
	config_free(&t.cfg);

	/* CRLF line ends do not count */
	snprintf(text, sizeof(text), MINIMAL "[log]\r\nfile = /%s\r\n", value);
	load_ok(&t, text);
	assert_int_equal(strlen(t.cfg.log.file), 1 + fill);
	config_free(&t.cfg);

	/* 199 would be cut by inih */
	value[fill] = 'x';
	value[fill + 1] = '\0';
	snprintf(text, sizeof(text), MINIMAL "[log]\nfile = /%s\n", value);
	expect_error(text, 6, "line too long (max 198 characters)");

	/* comments too: inih would read the rest as a key line */
	memset(value, 'c', 250);
	value[250] = '\0';
	snprintf(text, sizeof(text), "; %s\n" MINIMAL, value);
	expect_error(text, 1, "line too long (max 198 characters)");
}

static void test_syntax(void **state)
{
	expect_error(MINIMAL "[sip]\nlisten\n", 6,
		     "syntax error");
	/* inih would glue an indented line to the previous value */
	expect_error(MINIMAL "[rtp]\nport_min = 30000\n  port_max = 40000\n",
		     7, "line starts with blanks");
	expect_error(MINIMAL "[sip]\nlisten = 127.0.0.1:5060\n\t; ok\n"
		     " x = 1\n", 8, "line starts with blanks");
	expect_error(MINIMAL "[sip]\n = 127.0.0.1:5060\n", 6,
		     "line starts with blanks");
	expect_error(MINIMAL "[sip]\n= 127.0.0.1:5060\n", 6,
		     "sip.: unknown key");
}

static void test_bom(void **state)
{
	struct tmpconf t;

	load_ok(&t, "\xEF\xBB\xBF" MINIMAL);
	assert_int_equal(t.cfg.n_trunks, 1);
	config_free(&t.cfg);
}

static void test_file_errors(void **state)
{
	struct config cfg;
	char err[256], want[256];
	char small[16];

	assert_int_equal(config_load("/nonexistent/maskd.conf", &cfg, err,
				     sizeof(err)), ENOENT);
	snprintf(want, sizeof(want), "/nonexistent/maskd.conf:0: file: "
		 "cannot open");
	assert_memory_equal(err, want, strlen(want));
	config_free(&cfg);

	/* a directory opens, but cannot be read */
	assert_int_equal(config_load("/tmp", &cfg, err, sizeof(err)), EISDIR);
	config_free(&cfg);

	/* a short error buffer is cut, not overrun; none at all is fine */
	assert_int_equal(config_load("/nonexistent/maskd.conf", &cfg, small,
				     sizeof(small)), ENOENT);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(config_load("/nonexistent/maskd.conf", &cfg, NULL, 0),
			 ENOENT);
	config_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_shipped_conf),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_sip_workers_keys),
		cmocka_unit_test(test_sip_keys),
		cmocka_unit_test(test_sip_tls_keys),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_long_trunk_name),
		cmocka_unit_test(test_bad_port),
		cmocka_unit_test(test_gateway_auth),
		cmocka_unit_test(test_password_not_in_message),
		cmocka_unit_test(test_missing_tokens),
		cmocka_unit_test(test_token_not_in_message),
		cmocka_unit_test(test_missing_trunk),
		cmocka_unit_test(test_bad_cidr),
		cmocka_unit_test(test_duplicate_trunk),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_rtp_ports),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_flood_keys),
		cmocka_unit_test(test_api_limits),
		cmocka_unit_test(test_flood_exempt_default),
		cmocka_unit_test(test_empty_tokens),
		cmocka_unit_test(test_trunk_keys_per_trunk),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_file_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
