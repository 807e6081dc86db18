/*
 * config_table.c - every key of maskd.conf, one row each.
 *
 * A row says where the key lives (section, offsetof into the section's
 * struct), what it is (type, range, unit), its default as written in the
 * file, its help text (the comment above it in conf/maskd.conf, generated
 * by config_template()), and, for the few keys that need it, a check of
 * the value (valid) or across keys once the file is read (check): those
 * are in config_check.c.
 *
 * Adding a key: its field in include/maskd/config.h, a row here, then
 * scripts/gen-conf.sh to regenerate conf/maskd.conf.
 */
#include <stddef.h>

#include "config_internal.h"

/* --- the table --------------------------------------------------------- */

const struct cfg_section cfg_sections[CS_N] = {
	[CS_SIP] = { .name = "sip", .off = offsetof(struct config, sip) },
	[CS_TRUNK] = {
		.name = "trunk", .repeated = true, .example = "carrier1",
		.help = "One [trunk.NAME] section per inbound trunk (at least "
		"one is required). NAME: 1 to 63 of A-Z a-z 0-9 _ -; names "
		"must be unique.",
	},
	[CS_FLOOD] = {
		.name = "flood", .off = offsetof(struct config, flood),
		.help = "Flood control, pike-style: each source address may "
		"send `rate' out-of-dialog requests (new INVITEs, OPTIONS, "
		"anything nta cannot match to a dialog or transaction) per "
		"`window'; one above that is shut out for `block' seconds, "
		"however quiet it becomes. In-dialog requests and "
		"retransmissions are not counted. Checked before anything "
		"else; trunk sources only with exempt_trunks = no.",
	},
	[CS_GATEWAY] = { .name = "gateway",
			 .off = offsetof(struct config, gateway) },
	[CS_RTP] = { .name = "rtp", .off = offsetof(struct config, rtp) },
	[CS_MEDIA] = { .name = "media", .off = offsetof(struct config, media) },
	[CS_RECORDING] = {
		.name = "recording", .off = offsetof(struct config, recording),
		.help = "Call recording: every answered call of a session with "
		"record = true, one stereo file per call (party A left, party "
		"B right), named by the call's id (README, \"Recording\").",
	},
	[CS_STORE] = { .name = "store", .off = offsetof(struct config, store) },
	[CS_API] = { .name = "api", .off = offsetof(struct config, api) },
	[CS_SESSION] = { .name = "session",
			 .off = offsetof(struct config, session) },
	[CS_EVENTS] = { .name = "events",
			.off = offsetof(struct config, events),
			.help = "Events out: signed webhooks (Standard Webhooks) "
			"from a durable outbox (README, \"Events\")." },
	[CS_CONFERENCE] = {
		.name = "conference",
		.off = offsetof(struct config, conference),
		.help = "Calls the API adds participants to (POST "
		"/v1/calls/{id}/participants; README, \"3-way calls\")." },
	[CS_HOOKS] = { .name = "hooks", .off = offsetof(struct config, hooks),
			.help = "The call-routing hook: a signed POST asks a "
			"platform where a call goes (README, \"Call-routing "
			"hook\"). Signed with [events] secrets." },
	[CS_LOG] = { .name = "log", .off = offsetof(struct config, log) },
	[CS_CLUSTER] = { .name = "cluster",
			 .off = offsetof(struct config, cluster),
			 .help = "Several nodes sharing sessions through "
			 "PostgreSQL (README, \"Cluster\"). Empty store = "
			 "single-node: LMDB alone." },
};

#define KEY(s, st, k, f, t) \
	.sec = (s), .name = (k), .type = (t), .off = offsetof(st, f), \
	.size = sizeof(((st *)0)->f)
#define SIP(k, f, t)	 KEY(CS_SIP, struct config_sip, k, f, t)
#define TRUNK(k, f, t)	 KEY(CS_TRUNK, struct config_trunk, k, f, t)
#define FLOOD(k, f, t)	 KEY(CS_FLOOD, struct config_flood, k, f, t)
#define GATEWAY(k, f, t) KEY(CS_GATEWAY, struct config_gateway, k, f, t)
#define RTP(k, f, t)	 KEY(CS_RTP, struct config_rtp, k, f, t)
#define MEDIA(k, f, t)	 KEY(CS_MEDIA, struct config_media, k, f, t)
#define REC(k, f, t)	 KEY(CS_RECORDING, struct config_recording, k, f, t)
#define STORE(k, f, t)	 KEY(CS_STORE, struct config_store, k, f, t)
#define API(k, f, t)	 KEY(CS_API, struct config_api, k, f, t)
#define SESSION(k, f, t) KEY(CS_SESSION, struct config_session, k, f, t)
#define EVENTS(k, f, t)	 KEY(CS_EVENTS, struct config_events, k, f, t)
#define CONF(k, f, t)	 KEY(CS_CONFERENCE, struct config_conference, k, f, t)
#define HOOKS(k, f, t)	 KEY(CS_HOOKS, struct config_hooks, k, f, t)
#define LOG(k, f, t)	 KEY(CS_LOG, struct config_log, k, f, t)
#define CLUSTER(k, f, t) KEY(CS_CLUSTER, struct config_cluster, k, f, t)

static const struct cfg_enum cfg_log_levels[] = {
	{ "error", LOG_LVL_ERROR }, { "warn", LOG_LVL_WARN },
	{ "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG }, { NULL, 0 },
};

static const struct cfg_enum cfg_sip_actions[] = {
	{ "reject", CONFIG_ACTION_REJECT },
	{ "announce", CONFIG_ACTION_ANNOUNCE }, { NULL, 0 },
};

static const struct cfg_enum cfg_rec_formats[] = {
	{ "wav", 0 }, { "mp3", 1 }, { NULL, 0 },
};

static const struct cfg_enum cfg_hook_routes[] = {
	{ "unrouted", CONFIG_HOOK_UNROUTED },
	{ "always", CONFIG_HOOK_ALWAYS }, { NULL, 0 },
};

static const struct cfg_enum cfg_hook_errors[] = {
	{ "reject", CONFIG_HOOK_ERR_REJECT },
	{ "allow", CONFIG_HOOK_ERR_ALLOW }, { NULL, 0 },
};

static const struct cfg_enum cfg_cluster_allocs[] = {
	{ "lock", 0 }, { "serializable", 1 }, { NULL, 0 },
};

static const struct cfg_enum cfg_flood_actions[] = {
	{ "drop", 0 }, { "503", 1 }, { NULL, 0 },
};

const struct cfg_row cfg_rows[] = {
	/* [sip] */
	{ SIP("listen", listen, CT_ADDR), .def = "127.0.0.1:5060",
	  .help = "Address the SIP side listens on, UDP and TCP: host:port "
	  "or [v6]:port." },
	{ SIP("advertise", advertise, CT_STRING), .def = "",
	  .valid = cfg_valid_host,
	  .help = "Host (IP address or name) maskd writes in its own From, "
	  "P-Asserted-Identity and Contact URIs, e.g. the public address "
	  "when listening on a private one. Empty = the host of listen." },
	{ SIP("unknown_code", unknown_code, CT_UINT), .min = 400, .max = 699,
	  .def = "404", .help = "Final response to an INVITE whose (caller, "
	  "virtual number) pair has no session." },
	{ SIP("ended_code", ended_code, CT_UINT), .min = 400, .max = 699,
	  .def = "404", .help = "Final response when the pair's session has "
	  "expired or been closed." },
	{ SIP("unknown_action", unknown_action, CT_ENUM),
	  .names = cfg_sip_actions, .def = "reject",
	  .what = "must be reject or announce",
	  .help = "What a caller whose pair has no session gets: reject "
	  "(unknown_code at once) or announce (maskd answers the media "
	  "itself and plays the 'unknown' prompt as early media, then "
	  "sends unknown_code; nobody is billed). An offer with neither "
	  "PCMU nor PCMA gets 488." },
	{ SIP("ended_action", ended_action, CT_ENUM),
	  .names = cfg_sip_actions, .def = "reject",
	  .what = "must be reject or announce",
	  .help = "The same for a pair whose session has ended: reject "
	  "(ended_code) or announce (the 'expired' prompt, then "
	  "ended_code)." },
	{ SIP("announce_answer", announce_answer, CT_BOOL), .def = "no",
	  .help = "Announcements answer the call (200) and end it with a BYE "
	  "after the prompt, instead of playing it as early media in a 183 "
	  "before the final response: for carriers that drop early media. "
	  "The call is then answered (and may be billed)." },
	{ SIP("pin_timeout", pin_timeout_ms, CT_UINT), .min = 1000,
	  .max = 120000, .unit = "milliseconds", .def = "10000",
	  .help = "A caller asked for a PIN (a virtual number with PIN "
	  "sessions, a caller who is neither party) who types nothing for "
	  "this long after the prompt or the last digit hears 'goodbye' "
	  "and is hung up." },
	{ SIP("transaction_timeout", transaction_timeout_ms, CT_UINT),
	  .min = 4000, .max = 64000, .unit = "milliseconds", .def = "32000",
	  .help = "SIP's 64*T1 (RFC 3261: 32000): how long a transaction "
	  "waits for a final response, and how long a completed UDP "
	  "transaction lingers to absorb retransmissions. Memory grows with "
	  "calls/s times this value; lower it on busy trunks. Not for the "
	  "INVITE sent to the gateway: Debian's sofia-sip 1.12.11 keeps that "
	  "one 32 s after its final response whatever is set here (its "
	  "Timer D is hard-coded), so size memory for calls/s x 32 s of "
	  "them." },
	{ SIP("overload_lag_ms", overload_lag_ms, CT_UINT), .max = 10000,
	  .unit = "milliseconds", .def = "60",
	  .help = "Overload control: how late the SIP thread may run (its "
	  "timer's lateness or the age of the oldest datagram waiting on "
	  "the SIP UDP socket, smoothed) before new out-of-dialog INVITEs "
	  "are refused with 503 and a random Retry-After of 1-5 s, in "
	  "proportion to the excess, before any lookup. Requests of "
	  "existing calls, ACK, CANCEL and responses are always served. "
	  "Keep it well under T1 (500 ms) so that accepted calls are not "
	  "retransmitted; 0 turns overload control off." },
	{ SIP("udp_buffer", udp_buffer, CT_SIZE), .min = 65536,
	  .max = 256ULL << 20, .def = "4M",
	  .help = "Receive and send buffer of the SIP UDP socket. A burst "
	  "of responses larger than the buffer is dropped by the kernel and "
	  "comes back as retransmissions and failed calls (seen above "
	  "~1,200 calls/s with the kernel's default 208 KiB). The kernel "
	  "caps it at net.core.rmem_max / wmem_max: raise those too (maskd "
	  "warns if they cap)." },
	/* RFC 4028 asks 90 s at least; 2 s is allowed so tests see
	 * refreshes */
	{ SIP("session_expires", session_expires_s, CT_UINT), .min = 2,
	  .max = 86400, .unit = "seconds", .def = "1800",
	  .help = "RFC 4028 session timer offered to the callee "
	  "(Session-Expires); each leg negotiates its own, and the refresher "
	  "(maskd or the party) keeps it alive. Production: 90 or more "
	  "(RFC 4028); lower values exist for tests." },
	{ SIP("min_se", min_se_s, CT_UINT), .min = 2, .max = 86400,
	  .unit = "seconds", .def = "90",
	  .help = "Smallest session interval maskd accepts on either leg "
	  "(Min-SE; shorter ones get 422). Production: 90 or more." },
	{ SIP("pass_headers", pass_headers, CT_STRLIST),
	  .off_n = offsetof(struct config_sip, n_pass_headers), .def = "",
	  .valid = cfg_valid_pass_header,
	  .help = "Extra header names copied from one leg to the other, "
	  "comma-separated (case-insensitive). Headers that carry identity, "
	  "addresses or routing (Via, Contact, P-Asserted-Identity, "
	  "Diversion, X-*, ...) are refused. Empty: only SDP, Content-Type "
	  "and Accept cross." },
	{ SIP("cps", cps, CT_UINT), .max = 1000000, .unit = "INVITEs/s",
	  .def = "0",
	  .help = "New INVITEs per second accepted in all, from every trunk "
	  "together; above it they get 503 with Retry-After (bursts of up "
	  "to one second's worth pass). 0 = no cap." },
	{ SIP("tls_listen", tls_listen, CT_ADDR), .flags = CFG_EMPTY_OK,
	  .def = "", .check = cfg_check_sip_tls,
	  .help = "SIP over TLS (TLS 1.2 or later only), on its own TCP "
	  "port: host:port or [v6]:port, not listen's. Inbound trunks may "
	  "connect to it; the gateway is reached from it when [gateway] "
	  "transport = tls. Over TLS maskd's Contact and Via say "
	  "sip:...;transport=tls (not sips:, which Kamailio and FreeSWITCH "
	  "do not use on TLS trunks), and every request of a dialog that "
	  "began over TLS leaves over TLS, whatever transport the party's "
	  "Contact or Record-Route names. Clients are not asked for a "
	  "certificate: inbound trunks are still recognised by their "
	  "sources. sofia-sip cannot be given a least TLS version, so while "
	  "TLS is on maskd makes TLS 1.2 the least version of the whole "
	  "process (OpenSSL's system_default MinProtocol; the system's other "
	  "ssl_conf settings are kept). sofia-sip 1.12.11 never frees a TLS "
	  "connection's OpenSSL state (about 25 KB each): let only the "
	  "trunks reach this port (README, \"SIP over TLS\"). Empty = no "
	  "TLS." },
	{ SIP("tls_cert", tls_cert, CT_STRING), .def = "",
	  .help = "The certificate maskd presents (PEM; a chain, leaf "
	  "first); required with tls_listen. Checked at start-up: a file "
	  "that cannot be read or parsed, or a key that does not match the "
	  "certificate, stops maskd. sofia-sip reads it from a directory: "
	  "maskd copies it and the key into a private one (mode 0700, under "
	  "$TMPDIR or /tmp) and removes it as soon as the TLS transport has "
	  "read it, at start-up." },
	{ SIP("tls_key", tls_key, CT_STRING), .def = "",
	  .help = "The private key of tls_cert (PEM, unencrypted); required "
	  "with tls_listen." },
	{ SIP("tls_ca", tls_ca, CT_STRING), .def = "",
	  .help = "CA certificates (PEM) a TLS gateway's certificate must "
	  "chain to; the certificate must also name [gateway] address's "
	  "host, in a DNS subjectAltName or its common name (sofia-sip "
	  "1.12.11 reads no IP subjectAltNames: a gateway reached by IP "
	  "needs that IP as common name). Required with [gateway] transport "
	  "= tls. Empty: in-dialog requests to a TLS caller are encrypted "
	  "but not verified." },
	{ SIP("tls_verify_name", tls_verify_name, CT_BOOL), .def = "yes",
	  .help = "yes: a TLS peer maskd connects to (the gateway; a TLS "
	  "caller's first hop, for in-dialog requests when no connection of "
	  "its own is open) must name the host maskd connects to, as above. "
	  "no: any certificate that chains to tls_ca is accepted: for a "
	  "private trunk CA, or a carrier whose Record-Route names an "
	  "address its certificate does not." },
	{ SIP("workers", workers, CT_STRING), .def = "1",
	  .valid = cfg_valid_sip_workers, .check = cfg_check_sip_workers,
	  .help = "SIP threads, each with its own transports, transactions "
	  "and calls: 1 to 32, or auto (one per core, as many as "
	  "worker_ports allows). Worker 0 listens on listen (and "
	  "tls_listen), worker i on the i-th of worker_ports (and "
	  "worker_tls_ports), on listen's host. A dialog stays on the worker "
	  "whose port it began on: its Contact and Via name that port. "
	  "Carriers are meant to reach them through one front "
	  "(conf/kamailio-front.cfg, scripts/front.sh) that spreads new calls "
	  "by Call-ID. One call per session, the flood table and the cps "
	  "caps hold across workers; /metrics adds the workers up "
	  "(maskd_sip_worker_calls_total per worker)." },
	{ SIP("worker_ports", worker_ports, CT_STRLIST),
	  .off_n = offsetof(struct config_sip, n_worker_ports), .def = "",
	  .valid = cfg_valid_port,
	  .help = "UDP and TCP ports of SIP workers 1, 2, ... (listen's host), "
	  "comma-separated; needed for workers above 1." },
	{ SIP("worker_tls_ports", worker_tls_ports, CT_STRLIST),
	  .off_n = offsetof(struct config_sip, n_worker_tls_ports), .def = "",
	  .valid = cfg_valid_port,
	  .help = "TLS ports of SIP workers 1, 2, ... (tls_listen's host), "
	  "comma-separated; needed for workers above 1 with tls_listen." },

	/* [trunk.NAME] */
	{ TRUNK("sources", sources, CT_CIDRS),
	  .off_n = offsetof(struct config_trunk, n_sources),
	  .flags = CFG_REQUIRED, .example = "127.0.0.0/8",
	  .help = "CIDRs allowed to send INVITEs, comma-separated, IPv4 or "
	  "IPv6; a bare address is a /32 or /128." },
	{ TRUNK("trusted", trusted, CT_BOOL), .def = "no",
	  .help = "yes: take the caller from P-Asserted-Identity instead of "
	  "From." },
	{ TRUNK("country_code", country_code, CT_STRING), .def = "",
	  .valid = cfg_valid_country_code,
	  .help = "Digits prepended to national numbers from this trunk to "
	  "make them E.164 (1 to 3 digits, e.g. 1 or 44). Empty: numbers "
	  "arrive as E.164." },
	{ TRUNK("national_prefix", national_prefix, CT_STRING), .def = "",
	  .valid = cfg_valid_national_prefix,
	  .help = "Digits stripped from national numbers before "
	  "country_code is prepended (e.g. 0)." },
	{ TRUNK("cps", cps, CT_UINT), .max = 1000000, .unit = "INVITEs/s",
	  .def = "0",
	  .help = "New INVITEs per second accepted from this trunk (503 "
	  "with Retry-After above it), on top of [sip] cps. 0 = no cap." },

	/* [flood] */
	{ FLOOD("rate", rate, CT_UINT), .max = 1000000,
	  .unit = "requests per window", .def = "1000",
	  .help = "Requests per window per source address; 0 = no limit. "
	  "The default (500/s) is above what one carrier SBC sends at a few "
	  "hundred calls/s; lower it where no trunk is that busy." },
	{ FLOOD("window", window_s, CT_UINT), .min = 1, .max = 3600,
	  .unit = "seconds", .def = "2", .help = "The window of rate." },
	{ FLOOD("block", block_s, CT_UINT), .min = 1, .max = 86400,
	  .unit = "seconds", .def = "60",
	  .help = "How long an offender stays blocked." },
	{ FLOOD("action", reply_503, CT_ENUM), .names = cfg_flood_actions,
	  .def = "drop", .what = "must be drop or 503",
	  .help = "What a blocked source gets: drop (silence) or 503 (with "
	  "Retry-After = block, sent statelessly)." },
	/*
	 * Trunks are exempt by default: a carrier SBC above 500
	 * out-of-dialog requests/s is busy, not hostile, and blocking it
	 * for 60 s drops every call of that carrier. Trunks stay bounded by
	 * their cps caps, which answer 503 with Retry-After instead.
	 */
	{ FLOOD("exempt_trunks", exempt_trunks, CT_BOOL), .def = "yes",
	  .help = "yes: trunk sources are never limited here: a carrier SBC "
	  "above rate (500 out-of-dialog requests/s by default) is busy, not "
	  "hostile, and blocking it for `block' seconds would drop all of "
	  "its calls; trunks stay bounded by their cps caps (503 with "
	  "Retry-After). no: a carrier flooding is still a flood." },
	{ FLOOD("scanners", scanners, CT_WORDS),
	  .off_n = offsetof(struct config_flood, n_scanners),
	  .max = CONFIG_SCANNERS_MAX,
	  .def = "friendly-scanner,sipcli,sipvicious,sipsak,VaxSIPUserAgent,"
	  "sundayddr,iWar,SIVuS",
	  .help = "User-Agent substrings (case-insensitive, comma-separated, "
	  "at most 32 of at most 31 characters) whose requests are dropped "
	  "silently and counted. Empty = none." },

	/* [gateway] */
	{ GATEWAY("address", address, CT_ADDR), .def = "127.0.0.1:5090",
	  .help = "Where outbound legs go: host:port or [v6]:port." },
	{ GATEWAY("transport", transport, CT_STRING), .def = "udp",
	  .valid = cfg_valid_transport,
	  .help = "udp, tcp or tls. tls needs [sip] tls_listen and tls_ca: "
	  "a gateway whose certificate does not verify (see [sip] tls_ca) "
	  "is refused, and the call fails at once (503 to the caller, a CDR "
	  "with reason failure, the reason in the log as a warning)." },
	{ GATEWAY("auth_user", auth_user, CT_STRING), .def = "",
	  .valid = cfg_valid_auth_quoted, .check = cfg_check_gateway_auth,
	  .help = "Digest credentials (RFC 3261 section 22, MD5 with or "
	  "without qop=auth) for a gateway that answers maskd's INVITE with "
	  "401 or 407: maskd sends the INVITE once more with them (same "
	  "Call-ID and From tag, CSeq + 1); the caller hears only 100 Trying "
	  "meanwhile. A second challenge, or one maskd has no credentials "
	  "for, fails the call with 403 to the caller and CDR reason "
	  "\"auth_failed\" or \"auth_required\". Once authenticated, maskd's "
	  "later requests to the gateway in that call (ACK, BYE, re-INVITE, "
	  "UPDATE, ...) carry the credentials too. auth_user and "
	  "auth_password go together; both empty = no credentials." },
	{ GATEWAY("auth_password", auth_password, CT_STRING), .def = "",
	  .flags = CFG_SECRET, .valid = cfg_valid_auth_secret,
	  .help = "The password of auth_user. It is never logged; a \";\" "
	  "after a blank starts a comment, so a password cannot hold \" ;\"." },
	{ GATEWAY("auth_realm", auth_realm, CT_STRING), .def = "",
	  .valid = cfg_valid_auth_quoted,
	  .help = "Answer only challenges of this realm (as the gateway "
	  "writes it, without quotes); empty = any realm the gateway "
	  "names." },

	/* [rtp] */
	{ RTP("port_min", port_min, CT_UINT), .min = 1024, .max = 65535,
	  .def = "30000", .valid = cfg_valid_even,
	  .help = "UDP port range for media relay: RTP on even ports, RTCP "
	  "on the odd port above. port_min must be even and below "
	  "port_max." },
	{ RTP("port_max", port_max, CT_UINT), .min = 1024, .max = 65535,
	  .def = "40000", .check = cfg_check_rtp_ports,
	  .help = "The top of the range." },
	{ RTP("advertise", advertise, CT_STRING), .def = "127.0.0.1",
	  .valid = cfg_valid_ip,
	  .help = "IP address written into SDP (c= and o= lines)." },
	{ RTP("bind", bind, CT_STRING), .def = "", .valid = cfg_valid_ip_or_empty,
	  .help = "IP address the media sockets are bound to, when it "
	  "differs from advertise (maskd behind 1:1 NAT). Empty = "
	  "advertise." },
	{ RTP("workers", workers, CT_UINT), .max = 64, .unit = "threads",
	  .def = "0",
	  .help = "Media relay threads, each with its own share of the port "
	  "range. 0 = one per CPU core." },
	{ RTP("timeout", timeout_s, CT_UINT), .max = 86400,
	  .unit = "seconds", .def = "60",
	  .help = "Time without a packet from either party (once both have "
	  "answered with SDP) before both legs get a BYE (CDR reason "
	  "rtp_timeout). 0 = never." },
	{ RTP("hold_timeout", hold_timeout_s, CT_UINT), .max = 86400,
	  .unit = "seconds", .def = "3600",
	  .help = "The same while either party holds the call (sendonly, "
	  "recvonly, inactive or c=0.0.0.0). 0 = never." },
	{ RTP("strict_source", strict_source, CT_BOOL), .def = "no",
	  .help = "yes: accept media only from the address and port in each "
	  "party's SDP. no: latch onto where a party's packets come from "
	  "(parties behind NAT)." },
	{ RTP("preopen", preopen, CT_BOOL), .def = "no",
	  .help = "Relay sockets are opened once and kept: a pair's the "
	  "first time a call takes it, or with yes every pair of the range "
	  "at start (a busy host pays no warm-up, and a port another "
	  "program holds is reported at once). Keep no where several "
	  "maskds share a port range on one host (tests): each would hold "
	  "the whole range." },
	{ RTP("realtime_priority", realtime_priority, CT_UINT), .max = 49,
	  .def = "10",
	  .help = "Real-time priority (SCHED_RR, 1-49) of the media relay "
	  "workers alone, so played and relayed packets keep their 20 ms "
	  "pace on a busy host (rtpengine's --scheduling/--priority); the "
	  "SIP and control threads stay at normal priority. Below 50, under "
	  "the kernel's interrupt threads; SCHED_RR and the kernel's RT "
	  "throttling (kernel.sched_rt_runtime_us) keep a runaway worker "
	  "from locking the host. Needs CAP_SYS_NICE (or LimitRTPRIO=): "
	  "without it one warning, and normal priority. 0 = normal "
	  "priority (maskd_relay_workers_realtime says what ran)." },

	/* [media] */
	{ MEDIA("prompts", prompts, CT_STRING), .def = "",
	  .help = "Directory of the announcements maskd plays, one WAV file "
	  "(8 kHz, mono, 16-bit PCM) per prompt: unknown, expired, "
	  "enter_pin, wrong_pin, goodbye, connecting, recorded (.wav). All "
	  "are loaded at start-up; a missing or different one stops it, "
	  "naming the file. Empty = the English set built with maskd: "
	  "prompts/ beside the binary in the build tree (build/prompts), "
	  "else ../share/maskd/prompts from it (/usr/share/maskd/prompts "
	  "when installed in /usr)." },

	/* [recording] */
	{ REC("dir", dir, CT_STRING), .def = "var/recordings",
	  .valid = cfg_valid_nonempty,
	  .help = "Directory of the recordings (relative to the working "
	  "directory), made 0750 at start-up if missing; files are "
	  "<call id>.wav or .mp3, mode 0640. An unwritable directory fails "
	  "each recording (recording.failed), never the call." },
	{ REC("format", format, CT_ENUM), .def = "wav",
	  .names = cfg_rec_formats, .what = "must be wav or mp3",
	  .help = "wav: 16-bit PCM, 8 kHz (16 kHz for G.722), stereo. mp3: "
	  "the same as MPEG Layer III, when libsndfile can write it "
	  "(checked at start-up)." },
	{ REC("announce", announce, CT_BOOL), .def = "no",
	  .help = "yes: play the 'recorded' prompt to both parties when a "
	  "recorded call is answered." },
	{ REC("retention", retention_s, CT_UINT), .max = UINT32_MAX,
	  .unit = "seconds", .def = "7776000",
	  .help = "How long a recording is kept before the sweeper deletes "
	  "it (the call record then shows no recording); 0 = for ever. "
	  "7776000 = 90 days." },

	/* [store] */
	{ STORE("path", path, CT_STRING), .def = "var/maskd.lmdb",
	  .valid = cfg_valid_nonempty,
	  .help = "LMDB directory (relative to the working directory)." },
	{ STORE("map_size", map_size, CT_SIZE), .min = 1ULL << 20,
	  .max = UINT64_MAX, .def = "4G",
	  .help = "Largest size the database may grow to." },
	{ STORE("retention", retention_s, CT_UINT), .max = UINT32_MAX,
	  .unit = "seconds", .def = "7776000",
	  .help = "How long an ended session (expired or closed) is kept, "
	  "with its call records and its (party, VN) history, before the "
	  "sweeper deletes it; 0 = keep for ever (the store then only "
	  "grows). 7776000 = 90 days. In cluster mode PostgreSQL keeps the "
	  "same, counted from the later of the session's end and its "
	  "expiry." },
	{ STORE("sessionless_calls_max", sessionless_calls_max, CT_UINT),
	  .max = 10000000, .unit = "records", .def = "100000",
	  .help = "Most call records kept of calls maskd answered without a "
	  "session (a failed PIN prompt, an announced unknown number; GET "
	  "/v1/calls/{id}). Anyone who can send an INVITE can make them, so "
	  "beyond this the oldest are deleted (counted in "
	  "maskd_store_sessionless_cdrs_dropped_total); they also go by "
	  "retention. 0 = none kept." },

	/* [api] */
	{ API("listen", listen, CT_ADDR), .def = "127.0.0.1:8080",
	  .help = "Address of the REST API: host:port or [v6]:port." },
	{ API("tokens", tokens, CT_STRLIST),
	  .off_n = offsetof(struct config_api, n_tokens),
	  .flags = CFG_REQUIRED | CFG_SECRET, .valid = cfg_valid_token,
	  .example = "change-me-please-0001",
	  .help = "Bearer tokens accepted in \"Authorization: Bearer "
	  "TOKEN\", comma-separated; each at least 8 printable ASCII "
	  "characters, no blanks or commas. CHANGE THIS before listening on "
	  "anything but loopback." },
	{ API("max_body", max_body, CT_SIZE), .min = 1, .max = 1ULL << 30,
	  .def = "65536",
	  .help = "Largest request body; larger ones get 413." },
	{ API("tls_cert", tls_cert, CT_STRING), .def = "",
	  .check = cfg_check_api_tls,
	  .help = "TLS for the API: a PEM certificate (chain); with "
	  "tls_key, both or neither. Empty = plain HTTP (keep the listener "
	  "on loopback then). TLS 1.2+ only." },
	{ API("tls_key", tls_key, CT_STRING), .def = "",
	  .help = "The private key of tls_cert (PEM)." },
	{ API("rate_limit", rate_limit, CT_UINT), .max = 1000000,
	  .unit = "requests/s", .def = "0",
	  .help = "Requests per second allowed per bearer token; above it, "
	  "429 with Retry-After. 0 = no limit." },
	{ API("rate_burst", rate_burst, CT_UINT), .max = 1000000,
	  .unit = "requests", .def = "0",
	  .help = "Burst allowance per token; 0 = same as rate_limit." },
	{ API("request_timeout", request_timeout_s, CT_UINT), .min = 1,
	  .max = 3600, .unit = "seconds", .def = "10",
	  .help = "Time a client has for one whole request (TLS handshake, "
	  "request line, headers, body), counted from when it connects and "
	  "again from each reply on a kept-alive connection; then it is "
	  "disconnected. This is what stops a client that trickles its "
	  "headers a byte at a time (slowloris), which the idle timeout "
	  "alone would let stay; it also closes idle kept-alive "
	  "connections." },
	{ API("max_connections", max_connections, CT_UINT), .max = 1000000,
	  .unit = "connections", .def = "1024",
	  .help = "Client connections open at once; at the cap maskd stops "
	  "accepting (new clients wait in the listen backlog) until one "
	  "closes. 0 = no cap." },

	/* [session] */
	{ SESSION("default_ttl", default_ttl_s, CT_UINT), .min = 1,
	  .max = UINT32_MAX, .unit = "seconds", .def = "3600",
	  .check = cfg_check_session_ttl,
	  .help = "TTL of a session created without \"ttl\"; at most "
	  "max_ttl." },
	{ SESSION("max_ttl", max_ttl_s, CT_UINT), .min = 1, .max = UINT32_MAX,
	  .unit = "seconds", .def = "31536000",
	  .help = "Largest TTL a client may ask for (31536000 = 365 "
	  "days)." },
	{ SESSION("call_time_limit", call_time_limit_s, CT_UINT),
	  .max = UINT32_MAX, .unit = "seconds", .def = "0",
	  .help = "Longest call; both legs get a BYE when it is reached. "
	  "0 = no limit." },
	{ SESSION("ring_timeout", ring_timeout_s, CT_UINT), .min = 1,
	  .max = 86400, .unit = "seconds", .def = "60",
	  .help = "How long the called party may ring before the caller "
	  "gets 480." },
	{ SESSION("geo_area_digits", geo_area_digits, CT_UINT), .min = 1,
	  .max = 6, .def = "3",
	  .help = "geo_match \"area\": how many leading national digits "
	  "(after the calling code) a virtual number shares with the "
	  "party; 3 = the NANP area code." },

	/* [events] */
	{ EVENTS("url", url, CT_STRING), .def = "", .valid = cfg_valid_event_url,
	  .check = cfg_check_events,
	  .help = "Where every event goes (http or https; https verifies the "
	  "certificate), including call.unrouted; a session's callback_url "
	  "also gets that session's events. Empty = none." },
	{ EVENTS("secrets", secrets, CT_STRLIST),
	  .off_n = offsetof(struct config_events, n_secrets), .def = "",
	  .flags = CFG_SECRET, .valid = cfg_valid_event_secret,
	  .help = "Signing secrets, whsec_<base64>, comma-separated: every "
	  "delivery is signed with each (webhook-signature lists one v1 "
	  "entry per secret, for key rotation). Required with url; without "
	  "one, no session may have a callback_url." },
	{ EVENTS("timeout", timeout_s, CT_UINT), .min = 1, .max = 300,
	  .unit = "seconds", .def = "15",
	  .help = "One delivery attempt, connection included." },
	{ EVENTS("retry_schedule", retry_schedule, CT_STRING),
	  .def = "0,5,300,1800,7200,18000,36000,36000",
	  .valid = cfg_valid_retry_schedule,
	  .help = "Seconds before each attempt, comma-separated: the first "
	  "is the first attempt's delay, each next one the wait after a "
	  "failure (with up to 10% jitter); after the last the event is "
	  "given up (failed). The default is the Standard Webhooks "
	  "schedule: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h." },
	{ EVENTS("max_pending", max_pending, CT_UINT), .min = 1,
	  .max = UINT32_MAX, .unit = "events", .def = "1000000",
	  .help = "Pending events kept at most; beyond it the oldest are "
	  "dropped (failed, counted, logged), never a call." },
	{ EVENTS("retention", retention_s, CT_UINT), .min = 1,
	  .max = UINT32_MAX, .unit = "seconds", .def = "604800",
	  .help = "How long delivered events stay listed before they are "
	  "purged (604800 = 7 days). In cluster mode PostgreSQL's copies of "
	  "events go this long after they were written." },
	{ EVENTS("disable_after", disable_after_s, CT_UINT), .min = 1,
	  .max = UINT32_MAX, .unit = "seconds", .def = "432000",
	  .help = "An endpoint whose deliveries failed for this long without "
	  "one success is disabled until re-enabled (PATCH /v1/webhooks); "
	  "410 Gone disables at once (432000 = 5 days)." },
	{ EVENTS("concurrency", concurrency, CT_UINT), .min = 1, .max = 1000,
	  .unit = "requests", .def = "16",
	  .help = "Deliveries in flight at once per endpoint." },
	{ EVENTS("allow", allow, CT_CIDRS),
	  .off_n = offsetof(struct config_events, n_allow), .def = "",
	  .help = "CIDRs a webhook URL may resolve to although they are "
	  "loopback, private, link-local or multicast (refused otherwise, "
	  "at the API and again after DNS resolution at delivery), "
	  "comma-separated. Empty = none." },

	/* [conference] */
	{ CONF("max_participants", max_participants, CT_UINT), .min = 3,
	  .max = 6, .unit = "people", .def = "5",
	  .help = "Most people on one call, the two parties included: a "
	  "POST .../participants beyond it gets 409 too_many_participants. "
	  "Each participant takes one more relay port pair." },
	/* [hooks] */
	{ HOOKS("route_url", route_url, CT_STRING), .def = "",
	  .valid = cfg_valid_event_url, .check = cfg_check_hooks,
	  .help = "Where the call-routing hook is asked (http or https, "
	  "refused like a webhook URL when it resolves to a private "
	  "address outside [events] allow). Empty = no hook." },
	{ HOOKS("route", route, CT_ENUM), .names = cfg_hook_routes,
	  .def = "unrouted",
	  .help = "unrouted: only a call whose (caller, VN) matches no "
	  "active session asks the hook; always: every call to a VN does "
	  "(the hook may then allow or deny routed calls too)." },
	{ HOOKS("timeout_ms", timeout_ms, CT_UINT), .min = 50, .max = 30000,
	  .unit = "milliseconds", .def = "2000",
	  .help = "How long the hook may take, connection included; the "
	  "caller has 100 Trying meanwhile. Slower is an error." },
	{ HOOKS("on_error", on_error, CT_ENUM), .names = cfg_hook_errors,
	  .def = "reject",
	  .help = "When the hook is slow, down, answers non-2xx, garbage or "
	  "more than 64 KiB: reject (an unrouted call is refused as without "
	  "a hook, unknown_code/unknown_action; a routed one gets 503) or "
	  "allow (routed as the session says; unrouted: refused as "
	  "without a hook)." },

	/* [log] */
	{ LOG("level", level, CT_ENUM), .names = cfg_log_levels,
	  .def = "info",
	  .help = "Only debug prints phone numbers unmasked." },
	{ LOG("file", file, CT_STRING), .def = "",
	  .help = "Log file, opened for appending and reopened on SIGHUP "
	  "(logrotate). Empty = stderr." },

	/* [cluster] */
	{ CLUSTER("store", store, CT_STRING), .def = "", .flags = CFG_SECRET,
	  .help = "PostgreSQL holding the cluster's sessions: a "
	  "postgresql:// URI or a libpq key=value string. Empty = "
	  "single-node (the default). The environment variable "
	  "MASKD_CLUSTER_DSN, then store_file, take precedence; the "
	  "password is never logged." },
	{ CLUSTER("store_file", store_file, CT_STRING), .def = "",
	  .help = "A file whose first line is the DSN (keeps the password "
	  "out of this file). Empty = none." },
	{ CLUSTER("connections", connections, CT_UINT), .min = 1, .max = 64,
	  .unit = "connections", .def = "4",
	  .help = "Connections to PostgreSQL for session operations (the "
	  "cache feed has one more). A connection runs one transaction at "
	  "a time." },
	{ CLUSTER("allocation", allocation, CT_ENUM),
	  .names = cfg_cluster_allocs, .def = "lock",
	  .help = "How creates on several nodes stay race-free: lock "
	  "(advisory locks on both parties, FOR UPDATE SKIP LOCKED on the "
	  "pool) or serializable (SERIALIZABLE transactions, retried)." },
	{ CLUSTER("node", node, CT_STRING), .def = "",
	  .help = "This node's name in PostgreSQL: its call records and "
	  "events carry it, and a session it expired is reported by it "
	  "alone. Unique per node and the same across its restarts. "
	  "Empty = the host name." },
	{ CLUSTER("query_timeout_ms", query_timeout_ms, CT_UINT),
	  .min = 0, .max = 600000, .unit = "milliseconds", .def = "5000",
	  .help = "A PostgreSQL query not answered in this time drops its "
	  "connection (which reconnects with backoff): the operation "
	  "fails (API 503) instead of waiting on a server gone silent; a "
	  "call's cache miss waits this long at most. 0 = no limit." },
};

const size_t cfg_n_rows = sizeof(cfg_rows) / sizeof(cfg_rows[0]);
