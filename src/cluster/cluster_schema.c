/*
 * cluster_schema.c - the PostgreSQL schema and its migrations.
 *
 * The whole script is sent as one simple query, which PostgreSQL runs as
 * ONE implicit transaction: the first statement takes a transaction-level
 * advisory lock, so when two nodes start at once the second waits until
 * the first has committed, then finds every version applied (each step is
 * a DO block that runs only when schema_version lacks its number) and
 * does nothing. A failing step rolls the whole script back. The last
 * statement reports the version the database is at, so a node refuses a
 * database written by a newer maskd (cluster.c).
 *
 * Versions only ever get added at the end; a released step never
 * changes. What the tables mirror of the LMDB store (include/maskd/
 * store.h): sessions (the record), pairs (the pair index: one row per
 * party, unique while active), pool (with its active count), pins (the
 * PIN index, unique (vn, pin) while active), cdrs, events (the outbox),
 * and changes, the feed every node's LMDB cache replays (cluster_feed.c).
 */
#include "cluster_internal.h"

/* pg_advisory_xact_lock key: "maskd" in ASCII */
#define LOCK_MIGRATE "482058806116"

const char cluster_schema_sql[] =
"SELECT pg_advisory_xact_lock(" LOCK_MIGRATE ");\n"
"SET LOCAL client_min_messages = warning;\n"
"CREATE TABLE IF NOT EXISTS schema_version (\n"
"  version integer PRIMARY KEY,\n"
"  applied_at timestamptz NOT NULL DEFAULT now());\n"

/* ---- version 1: the tables, the allocation and end functions ---- */
"DO $v1$ BEGIN\n"
"IF EXISTS (SELECT 1 FROM schema_version WHERE version = 1) THEN\n"
"  RETURN;\n"
"END IF;\n"
"CREATE TABLE pool (\n"
"  vn text PRIMARY KEY,\n"
"  country text NOT NULL DEFAULT '',\n"
"  active integer NOT NULL DEFAULT 0 CHECK (active >= 0),\n"
"  added_at_ms bigint NOT NULL);\n"
"CREATE INDEX pool_use ON pool (active, vn);\n"
/* status: enum session_status (0 active, 1 expired, 2 closed) */
"CREATE TABLE sessions (\n"
"  id bytea PRIMARY KEY,\n"
"  party_a text NOT NULL,\n"
"  party_b text NOT NULL,\n"
"  vn text NOT NULL,\n"
"  status smallint NOT NULL,\n"
"  created_at_ms bigint NOT NULL,\n"
"  expires_at_ms bigint NOT NULL,\n"
"  ended_at_ms bigint NOT NULL DEFAULT 0,\n"
"  call_time_limit_s bigint NOT NULL DEFAULT 0,\n"
"  record boolean NOT NULL DEFAULT false,\n"
"  callback_url text,\n"
"  metadata text,\n"
"  pin_required boolean NOT NULL DEFAULT false,\n"
"  pin_retries smallint NOT NULL DEFAULT 0,\n"
"  pin_a text NOT NULL DEFAULT '',\n"
"  pin_b text NOT NULL DEFAULT '');\n"
"CREATE INDEX sessions_expiry ON sessions (expires_at_ms)\n"
"  WHERE status = 0;\n"
"CREATE INDEX sessions_vn ON sessions (vn, id);\n"
/* the pair index: both parties of every session; the unique index is
 * the backstop of allocation (one active session per (party, vn)) */
"CREATE TABLE pairs (\n"
"  party text NOT NULL,\n"
"  vn text NOT NULL,\n"
"  session_id bytea NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,\n"
"  active boolean NOT NULL,\n"
"  PRIMARY KEY (party, vn, session_id));\n"
"CREATE UNIQUE INDEX pairs_active ON pairs (party, vn) WHERE active;\n"
"CREATE INDEX pairs_session ON pairs (session_id);\n"
/* party: enum pin_party (0 a, 1 b) */
"CREATE TABLE pins (\n"
"  session_id bytea NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,\n"
"  party smallint NOT NULL,\n"
"  vn text NOT NULL,\n"
"  pin text NOT NULL,\n"
"  active boolean NOT NULL,\n"
"  PRIMARY KEY (session_id, party));\n"
"CREATE UNIQUE INDEX pins_active ON pins (vn, pin) WHERE active;\n"
/* struct cdr, enums as their numbers */
"CREATE TABLE cdrs (\n"
"  id bytea PRIMARY KEY,\n"
"  session_id bytea NOT NULL,\n"
"  a_to_b boolean NOT NULL,\n"
"  start_ms bigint NOT NULL,\n"
"  answer_ms bigint NOT NULL,\n"
"  end_ms bigint NOT NULL,\n"
"  final_code integer NOT NULL,\n"
"  hangup smallint NOT NULL,\n"
"  reason text NOT NULL,\n"
"  pkts_a_to_b bigint NOT NULL, pkts_b_to_a bigint NOT NULL,\n"
"  bytes_a_to_b bigint NOT NULL, bytes_b_to_a bigint NOT NULL,\n"
"  direction smallint NOT NULL DEFAULT 0,\n"
"  pin_status smallint NOT NULL DEFAULT 0,\n"
"  pin_attempts smallint NOT NULL DEFAULT 0,\n"
"  participants smallint NOT NULL DEFAULT 0,\n"
"  hook smallint NOT NULL DEFAULT 0,\n"
"  hook_latency_ms bigint NOT NULL DEFAULT 0,\n"
"  rec_state smallint NOT NULL DEFAULT 0,\n"
"  rec_format smallint NOT NULL DEFAULT 0,\n"
"  rec_duration_ms bigint NOT NULL DEFAULT 0,\n"
"  rec_bytes bigint NOT NULL DEFAULT 0,\n"
"  rec_sha256 bytea,\n"
"  rec_reason text NOT NULL DEFAULT '',\n"
"  node text NOT NULL DEFAULT '');\n"
"CREATE INDEX cdrs_session ON cdrs (session_id, id);\n"
/* struct event, the outbox */
"CREATE TABLE events (\n"
"  id bytea PRIMARY KEY,\n"
"  session_id bytea,\n"
"  sequence bigint NOT NULL DEFAULT 0,\n"
"  type text NOT NULL,\n"
"  status smallint NOT NULL DEFAULT 0,\n"
"  created_ms bigint NOT NULL,\n"
"  next_at_ms bigint NOT NULL,\n"
"  last_attempt_ms bigint NOT NULL DEFAULT 0,\n"
"  attempts integer NOT NULL DEFAULT 0,\n"
"  last_code integer NOT NULL DEFAULT 0,\n"
"  last_error text NOT NULL DEFAULT '',\n"
"  callback_url text,\n"
"  body text NOT NULL);\n"
"CREATE INDEX events_due ON events (next_at_ms) WHERE status = 0;\n"
"CREATE UNIQUE INDEX events_session_seq ON events (session_id, sequence)\n"
"  WHERE session_id IS NOT NULL;\n"
/* The feed. id is a bigserial, but ids are handed out at insert and
 * become visible at commit, which is not the same order: a reader that
 * only remembered the highest id seen would skip a row whose transaction
 * committed late. xid is the writing transaction's id: every transaction
 * below a snapshot's xmin has finished, so (xid, id) is a cursor that
 * never skips (cluster_feed.c). */
"CREATE TABLE changes (\n"
"  id bigserial PRIMARY KEY,\n"
"  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),\n"
"  kind text NOT NULL,\n"
"  session_id bytea,\n"
"  vn text,\n"
"  at_ms bigint NOT NULL);\n"
"CREATE INDEX changes_cursor ON changes (xid, id);\n"

/* maskd_session_end() - an active session ends: the record, its pairs
 * and PINs stop being active, its pool slot is freed, the feed told. */
"CREATE FUNCTION maskd_session_end(p_id bytea, p_status smallint,\n"
"    p_at bigint) RETURNS void LANGUAGE plpgsql AS $f$\n"
"DECLARE v_vn text;\n"
"BEGIN\n"
"  UPDATE sessions SET status = p_status, ended_at_ms = p_at\n"
"    WHERE id = p_id AND status = 0 RETURNING vn INTO v_vn;\n"
"  IF NOT FOUND THEN RETURN; END IF;\n"
"  UPDATE pairs SET active = false WHERE session_id = p_id;\n"
"  UPDATE pins SET active = false WHERE session_id = p_id;\n"
"  UPDATE pool SET active = active - 1 WHERE vn = v_vn AND active > 0;\n"
"  INSERT INTO changes (kind, session_id, vn, at_ms)\n"
"    VALUES ('session', p_id, v_vn, p_at);\n"
"END $f$;\n"

/* maskd_pin_random() - @n uniformly random digits from the server's
 * strong random source (gen_random_uuid), never random(): PINs are
 * secrets. Bytes >= 250 are drawn again so no digit is likelier. */
"CREATE FUNCTION maskd_pin_random(p_n integer) RETURNS text\n"
"    LANGUAGE plpgsql AS $f$\n"
"DECLARE s text := ''; b integer;\n"
"BEGIN\n"
"  WHILE length(s) < p_n LOOP\n"
"    b := get_byte(uuid_send(gen_random_uuid()), 0);\n"
"    IF b < 250 THEN s := s || (b % 10)::text; END IF;\n"
"  END LOOP;\n"
"  RETURN s;\n"
"END $f$;\n"

/* maskd_session_create() - store_session_create() in one transaction.
 * p_lock: the parties' advisory locks serialise every create that
 * shares a party (the only creates that can conflict), and the pool
 * pick skips rows other creates are updating (SKIP LOCKED) so unrelated
 * creates do not queue on the least-used number; a fallback pick waits
 * for them rather than answer ENOSPC while a number is free. Without
 * p_lock the caller runs it SERIALIZABLE and retries on 40001.
 * Returns err ('' = created, else the errno's name), the vn and PINs. */
"CREATE FUNCTION maskd_session_create(p_id bytea, p_a text, p_b text,\n"
"    p_vn text, p_now bigint, p_ttl bigint, p_ctl bigint,\n"
"    p_record boolean, p_cb text, p_meta text, p_pin_req boolean,\n"
"    p_pin_retries smallint, p_pin_a text, p_pin_b text,\n"
"    p_pin_gen boolean, p_pin_len integer, p_lock boolean,\n"
"    OUT err text, OUT vn text, OUT pin_a text, OUT pin_b text)\n"
"    LANGUAGE plpgsql AS $f$\n"
"DECLARE\n"
"  used text[];\n"
"  stale bytea;\n"
"  explicit boolean := p_pin_req AND NOT p_pin_gen;\n"
"  h1 bigint := hashtextextended(p_a, 0);\n"
"  h2 bigint := hashtextextended(p_b, 0);\n"
"  i integer;\n"
"BEGIN\n"
"  err := ''; pin_a := coalesce(p_pin_a, ''); pin_b := coalesce(p_pin_b, '');\n"
"  IF p_lock THEN\n"
	/* in hash order: two creates never wait on each other in a ring */
"    PERFORM pg_advisory_xact_lock(least(h1, h2));\n"
"    IF h1 <> h2 THEN PERFORM pg_advisory_xact_lock(greatest(h1, h2));\n"
"    END IF;\n"
"  END IF;\n"
	/* a session past expires_at never blocks a pair (as in LMDB) */
"  FOR stale IN SELECT s.id FROM pairs p JOIN sessions s\n"
"      ON s.id = p.session_id\n"
"      WHERE p.party IN (p_a, p_b) AND p.active\n"
"        AND s.expires_at_ms <= p_now LOOP\n"
"    PERFORM maskd_session_end(stale, 1::smallint, p_now);\n"
"  END LOOP;\n"
"  SELECT array_agg(p.vn) INTO used FROM pairs p\n"
"    WHERE p.party IN (p_a, p_b) AND p.active;\n"
"  used := coalesce(used, '{}');\n"
"  IF p_vn <> '' THEN\n"
"    IF NOT EXISTS (SELECT 1 FROM pool WHERE pool.vn = p_vn) THEN\n"
"      err := 'ENOENT'; RETURN;\n"
"    END IF;\n"
"    IF p_vn = ANY (used) THEN err := 'EEXIST'; RETURN; END IF;\n"
"    IF explicit AND EXISTS (SELECT 1 FROM pins WHERE pins.vn = p_vn\n"
"        AND pins.active AND pins.pin IN (p_pin_a, p_pin_b)) THEN\n"
"      err := 'ENOTUNIQ'; RETURN;\n"
"    END IF;\n"
"    vn := p_vn;\n"
"  ELSE\n"
"    IF p_lock THEN\n"
"      SELECT pool.vn INTO vn FROM pool WHERE pool.vn <> ALL (used)\n"
"        AND NOT (explicit AND EXISTS (SELECT 1 FROM pins\n"
"          WHERE pins.vn = pool.vn AND pins.active\n"
"            AND pins.pin IN (p_pin_a, p_pin_b)))\n"
"        ORDER BY pool.active, pool.vn LIMIT 1 FOR UPDATE SKIP LOCKED;\n"
"    END IF;\n"
"    IF vn IS NULL THEN\n"
"      SELECT pool.vn INTO vn FROM pool WHERE pool.vn <> ALL (used)\n"
"        AND NOT (explicit AND EXISTS (SELECT 1 FROM pins\n"
"          WHERE pins.vn = pool.vn AND pins.active\n"
"            AND pins.pin IN (p_pin_a, p_pin_b)))\n"
"        ORDER BY pool.active, pool.vn LIMIT 1;\n"
"    END IF;\n"
"    IF vn IS NULL THEN\n"
"      IF explicit AND EXISTS (SELECT 1 FROM pool\n"
"          WHERE pool.vn <> ALL (used)) THEN\n"
"        err := 'ENOTUNIQ';\n"
"      ELSE\n"
"        err := 'ENOSPC';\n"
"      END IF;\n"
"      RETURN;\n"
"    END IF;\n"
"  END IF;\n"
"  IF p_pin_gen THEN\n"
	/* a taken PIN is drawn again, never a reason to skip the vn */
"    FOR i IN 1..64 LOOP\n"
"      pin_a := maskd_pin_random(p_pin_len);\n"
"      pin_b := maskd_pin_random(p_pin_len);\n"
"      EXIT WHEN pin_a <> pin_b AND NOT EXISTS (SELECT 1 FROM pins\n"
"        WHERE pins.vn = maskd_session_create.vn AND pins.active\n"
"          AND pins.pin IN (pin_a, pin_b));\n"
"      IF i = 64 THEN err := 'ENOTUNIQ'; RETURN; END IF;\n"
"    END LOOP;\n"
"  END IF;\n"
"  UPDATE pool SET active = active + 1 WHERE pool.vn = maskd_session_create.vn;\n"
"  INSERT INTO sessions (id, party_a, party_b, vn, status, created_at_ms,\n"
"      expires_at_ms, call_time_limit_s, record, callback_url, metadata,\n"
"      pin_required, pin_retries, pin_a, pin_b)\n"
"    VALUES (p_id, p_a, p_b, vn, 0, p_now, p_now + p_ttl, p_ctl,\n"
"      p_record, p_cb, p_meta, p_pin_req, p_pin_retries, pin_a, pin_b);\n"
"  INSERT INTO pairs (party, vn, session_id, active)\n"
"    VALUES (p_a, vn, p_id, true), (p_b, vn, p_id, true);\n"
"  IF p_pin_req AND pin_a <> '' THEN\n"
"    INSERT INTO pins (session_id, party, vn, pin, active)\n"
"      VALUES (p_id, 0, vn, pin_a, true), (p_id, 1, vn, pin_b, true);\n"
"  END IF;\n"
"  INSERT INTO changes (kind, session_id, vn, at_ms)\n"
"    VALUES ('session', p_id, vn, p_now);\n"
"END $f$;\n"

/* maskd_session_create_many() - a batch of creates in ONE transaction,
 * one commit (one WAL flush) for all of them: what the LMDB writer's
 * group commit is to LMDB. Every party's advisory lock is taken first,
 * in hash order, so two batches never wait on each other in a ring;
 * each create then runs as maskd_session_create() (its locks are
 * already held: advisory locks are re-entrant) in a subtransaction, so
 * one that trips a unique index ('RETRY': run it again) costs only
 * itself. Returns one row per create: its index (1-based), err, vn,
 * PINs. (The loop runs on j: a FOR loop declares its own variable,
 * which would hide the OUT column k.) */
"CREATE FUNCTION maskd_session_create_many(p_id bytea[], p_a text[],\n"
"    p_b text[], p_vn text[], p_now bigint[], p_ttl bigint[],\n"
"    p_ctl bigint[], p_record boolean[], p_cb text[], p_meta text[],\n"
"    p_pin_req boolean[], p_pin_retries smallint[], p_pin_a text[],\n"
"    p_pin_b text[], p_pin_gen boolean[], p_pin_len integer[])\n"
"    RETURNS TABLE (k integer, err text, vn text, pin_a text,\n"
"      pin_b text) LANGUAGE plpgsql AS $f$\n"
"DECLARE h bigint; j integer;\n"
"BEGIN\n"
"  FOR h IN SELECT DISTINCT hashtextextended(t, 0) AS x\n"
"      FROM unnest(p_a || p_b) t ORDER BY x LOOP\n"
"    PERFORM pg_advisory_xact_lock(h);\n"
"  END LOOP;\n"
"  FOR j IN 1 .. coalesce(array_length(p_id, 1), 0) LOOP\n"
"    k := j;\n"
"    BEGIN\n"
"      SELECT c.err, c.vn, c.pin_a, c.pin_b INTO err, vn, pin_a, pin_b\n"
"        FROM maskd_session_create(p_id[k], p_a[k], p_b[k], p_vn[k],\n"
"          p_now[k], p_ttl[k], p_ctl[k], p_record[k], p_cb[k],\n"
"          p_meta[k],\n"
"          p_pin_req[k], p_pin_retries[k], p_pin_a[k], p_pin_b[k],\n"
"          p_pin_gen[k], p_pin_len[k], true) c;\n"
"    EXCEPTION WHEN unique_violation THEN\n"
"      err := 'RETRY'; vn := ''; pin_a := ''; pin_b := '';\n"
"    END;\n"
"    RETURN NEXT;\n"
"  END LOOP;\n"
"END $f$;\n"

/* maskd_session_close() - store_session_close(): '' closed, 'ENOENT',
 * 'EALREADY' (ended, or past expires_at: then it is expired now). */
"CREATE FUNCTION maskd_session_close(p_id bytea, p_now bigint,\n"
"    OUT err text) LANGUAGE plpgsql AS $f$\n"
"DECLARE s sessions%ROWTYPE;\n"
"BEGIN\n"
"  err := '';\n"
"  SELECT * INTO s FROM sessions WHERE id = p_id FOR UPDATE;\n"
"  IF NOT FOUND THEN err := 'ENOENT'; RETURN; END IF;\n"
"  IF s.status <> 0 THEN err := 'EALREADY'; RETURN; END IF;\n"
"  IF s.expires_at_ms <= p_now THEN\n"
"    PERFORM maskd_session_end(p_id, 1::smallint, s.expires_at_ms);\n"
"    err := 'EALREADY'; RETURN;\n"
"  END IF;\n"
"  PERFORM maskd_session_end(p_id, 2::smallint, p_now);\n"
"END $f$;\n"

/* maskd_expire_due() - store_expire_due(): sessions past expires_at
 * become expired, at most p_max, oldest first. SKIP LOCKED: every node
 * runs it, none waits for another's sweep. */
"CREATE FUNCTION maskd_expire_due(p_now bigint, p_max integer)\n"
"    RETURNS integer LANGUAGE plpgsql AS $f$\n"
"DECLARE r record; n integer := 0;\n"
"BEGIN\n"
"  FOR r IN SELECT id, expires_at_ms FROM sessions\n"
"      WHERE status = 0 AND expires_at_ms <= p_now\n"
"      ORDER BY expires_at_ms LIMIT p_max FOR UPDATE SKIP LOCKED LOOP\n"
"    PERFORM maskd_session_end(r.id, 1::smallint, r.expires_at_ms);\n"
"    n := n + 1;\n"
"  END LOOP;\n"
"  RETURN n;\n"
"END $f$;\n"

/* maskd_pool_add() - store_pool_add(): '' or 'EEXIST'. */
"CREATE FUNCTION maskd_pool_add(p_vn text, p_country text, p_now bigint,\n"
"    OUT err text) LANGUAGE plpgsql AS $f$\n"
"BEGIN\n"
"  err := '';\n"
"  INSERT INTO pool (vn, country, added_at_ms)\n"
"    VALUES (p_vn, p_country, p_now) ON CONFLICT DO NOTHING;\n"
"  IF NOT FOUND THEN err := 'EEXIST'; RETURN; END IF;\n"
"  INSERT INTO changes (kind, vn, at_ms) VALUES ('pool', p_vn, p_now);\n"
"END $f$;\n"
"INSERT INTO schema_version (version) VALUES (1);\n"
"END $v1$;\n"

/* ---- version 2: exactly-once expiry, the nodes' exports ---- */
"DO $v2$ BEGIN\n"
"IF EXISTS (SELECT 1 FROM schema_version WHERE version = 2) THEN\n"
"  RETURN;\n"
"END IF;\n"
/* who expired a session, and whether that node has written its
 * session.expired event yet: exactly one node per expiry does */
"ALTER TABLE sessions ADD COLUMN expired_by text,\n"
"  ADD COLUMN expiry_noted boolean NOT NULL DEFAULT true;\n"
"CREATE INDEX sessions_unnoted ON sessions (expired_by)\n"
"  WHERE NOT expiry_noted;\n"
/* events come from every node, each numbering a session's events on
 * its own: (session, sequence) is unique per node only */
"DROP INDEX events_session_seq;\n"
"ALTER TABLE events ADD COLUMN node text NOT NULL DEFAULT '',\n"
"  ADD COLUMN done smallint NOT NULL DEFAULT 0;\n"
"CREATE INDEX events_session ON events (session_id, created_ms);\n"
"CREATE INDEX cdrs_id_session ON cdrs (id) INCLUDE (session_id);\n"

/* maskd_session_end() as in version 1, and an expiry is marked as the
 * node's whose transaction did it (the connection's maskd.node): that
 * node, and only it, reports it (maskd_expire_due2()) */
"CREATE OR REPLACE FUNCTION maskd_session_end(p_id bytea,\n"
"    p_status smallint, p_at bigint) RETURNS void LANGUAGE plpgsql AS $f$\n"
"DECLARE v_vn text;\n"
"BEGIN\n"
"  UPDATE sessions SET status = p_status, ended_at_ms = p_at,\n"
"      expired_by = CASE WHEN p_status = 1 THEN\n"
"        nullif(current_setting('maskd.node', true), '') END,\n"
"      expiry_noted = p_status <> 1 OR\n"
"        coalesce(current_setting('maskd.node', true), '') = ''\n"
"    WHERE id = p_id AND status = 0 RETURNING vn INTO v_vn;\n"
"  IF NOT FOUND THEN RETURN; END IF;\n"
"  UPDATE pairs SET active = false WHERE session_id = p_id;\n"
"  UPDATE pins SET active = false WHERE session_id = p_id;\n"
"  UPDATE pool SET active = active - 1 WHERE vn = v_vn AND active > 0;\n"
"  INSERT INTO changes (kind, session_id, vn, at_ms)\n"
"    VALUES ('session', p_id, v_vn, p_at);\n"
"END $f$;\n"

/* maskd_expire_due2() - maskd_expire_due(), then every session this
 * node expired and has not reported yet (now, or before a crash) */
"CREATE FUNCTION maskd_expire_due2(p_now bigint, p_max integer)\n"
"    RETURNS SETOF sessions LANGUAGE plpgsql AS $f$\n"
"BEGIN\n"
"  PERFORM maskd_expire_due(p_now, p_max);\n"
"  RETURN QUERY SELECT * FROM sessions\n"
"    WHERE NOT expiry_noted\n"
"      AND expired_by = current_setting('maskd.node', true)\n"
"    ORDER BY ended_at_ms LIMIT p_max;\n"
"END $f$;\n"

/* maskd_expiry_noted() - the node has written these expiries' events */
"CREATE FUNCTION maskd_expiry_noted(p_ids bytea[]) RETURNS void\n"
"    LANGUAGE sql AS $f$\n"
"  UPDATE sessions SET expiry_noted = true WHERE id = ANY (p_ids)\n"
"    AND expired_by = current_setting('maskd.node', true);\n"
"$f$;\n"
"INSERT INTO schema_version (version) VALUES (2);\n"
"END $v2$;\n"

/* ---- version 3: one call per session across nodes ---- */
"DO $v3$ BEGIN\n"
"IF EXISTS (SELECT 1 FROM schema_version WHERE version = 3) THEN\n"
"  RETURN;\n"
"END IF;\n"
/* the session's live call: which node, which call, until when (renewed
 * while the call lasts; a dead node's lapse) */
"CREATE TABLE call_claims (\n"
"  session_id bytea PRIMARY KEY,\n"
"  node text NOT NULL,\n"
"  call_id bytea NOT NULL,\n"
"  lease_until_ms bigint NOT NULL);\n"
/* maskd_claim() - the session's call is @p_call on this node, unless a
 * live call of another node holds it: true, or false (busy elsewhere).
 * This node's own older claim is taken over: the node's SIP thread
 * allows one call per session, so that one has ended (its release was
 * lost). */
"CREATE FUNCTION maskd_claim(p_session bytea, p_call bytea, p_now bigint,\n"
"    p_lease bigint) RETURNS boolean LANGUAGE plpgsql AS $f$\n"
"DECLARE me text := current_setting('maskd.node', true);\n"
"BEGIN\n"
"  INSERT INTO call_claims AS c VALUES (p_session, me, p_call,\n"
"      p_now + p_lease)\n"
"    ON CONFLICT (session_id) DO UPDATE SET node = EXCLUDED.node,\n"
"      call_id = EXCLUDED.call_id, lease_until_ms = EXCLUDED.lease_until_ms\n"
"    WHERE c.lease_until_ms <= p_now OR c.node = EXCLUDED.node;\n"
"  RETURN FOUND;\n"
"END $f$;\n"
"INSERT INTO schema_version (version) VALUES (3);\n"
"END $v3$;\n"

/* ---- version 4: a dead node's claims lapse at once ---- */
"DO $v4$ BEGIN\n"
"IF EXISTS (SELECT 1 FROM schema_version WHERE version = 4) THEN\n"
"  RETURN;\n"
"END IF;\n"
/* Every connection of a live node holds a shared session-level advisory
 * lock on (NODE_LOCK, hashtext(node)) (cluster_expire_on_up()); a node
 * killed loses its connections, and PostgreSQL the locks, at once. A
 * claim of a node that holds none is not live, whatever its lease. */
"CREATE FUNCTION maskd_node_alive(p_node text) RETURNS boolean\n"
"    LANGUAGE sql STABLE AS $f$\n"
"  SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'\n"
"    AND l.granted AND l.objsubid = 2\n"
"    AND l.database = (SELECT oid FROM pg_database\n"
"      WHERE datname = current_database())\n"
"    AND l.classid = " NODE_LOCK "::oid\n"
"    AND l.objid::bigint = (hashtext(p_node)::bigint & 4294967295));\n"
"$f$;\n"
"CREATE OR REPLACE FUNCTION maskd_claim(p_session bytea, p_call bytea,\n"
"    p_now bigint, p_lease bigint) RETURNS boolean\n"
"    LANGUAGE plpgsql AS $f$\n"
"DECLARE me text := current_setting('maskd.node', true);\n"
"BEGIN\n"
"  INSERT INTO call_claims AS c VALUES (p_session, me, p_call,\n"
"      p_now + p_lease)\n"
"    ON CONFLICT (session_id) DO UPDATE SET node = EXCLUDED.node,\n"
"      call_id = EXCLUDED.call_id, lease_until_ms = EXCLUDED.lease_until_ms\n"
"    WHERE c.lease_until_ms <= p_now OR c.node = EXCLUDED.node\n"
"      OR NOT maskd_node_alive(c.node);\n"
"  RETURN FOUND;\n"
"END $f$;\n"
"INSERT INTO schema_version (version) VALUES (4);\n"
"END $v4$;\n"

/* ---- version 5: creates at speed ---- */
"DO $v5$ BEGIN\n"
"IF EXISTS (SELECT 1 FROM schema_version WHERE version = 5) THEN\n"
"  RETURN;\n"
"END IF;\n"
/* maskd_session_create() as in version 1, but the parties' active pairs
 * are read once, by pairs_active, each with its session's expiry by
 * primary key (a scalar subquery: never flattened into a join). Version
 * 1 joined pairs to sessions in a query of its own before reading the
 * pairs again, and the generic plan PL/pgSQL switches to after five
 * runs hash-joined a scan of every session: ~1 ms a create at 10,000
 * sessions, growing with the table (bench_cluster.py,
 * pg_stat_statements). enable_seqscan = off: the plan a function's
 * query keeps is made when it first runs, on a new database with empty
 * tables, where a sequential scan looks as cheap as an index; every
 * query here has its index. */
"CREATE OR REPLACE FUNCTION maskd_session_create(p_id bytea, p_a text,\n"
"    p_b text, p_vn text, p_now bigint, p_ttl bigint, p_ctl bigint,\n"
"    p_record boolean, p_cb text, p_meta text, p_pin_req boolean,\n"
"    p_pin_retries smallint, p_pin_a text, p_pin_b text,\n"
"    p_pin_gen boolean, p_pin_len integer, p_lock boolean,\n"
"    OUT err text, OUT vn text, OUT pin_a text, OUT pin_b text)\n"
"    LANGUAGE plpgsql SET enable_seqscan = off AS $f$\n"
"DECLARE\n"
"  used text[] := '{}';\n"
"  r record;\n"
"  explicit boolean := p_pin_req AND NOT p_pin_gen;\n"
"  h1 bigint := hashtextextended(p_a, 0);\n"
"  h2 bigint := hashtextextended(p_b, 0);\n"
"  i integer;\n"
"BEGIN\n"
"  err := ''; pin_a := coalesce(p_pin_a, ''); pin_b := coalesce(p_pin_b, '');\n"
"  IF p_lock THEN\n"
"    PERFORM pg_advisory_xact_lock(least(h1, h2));\n"
"    IF h1 <> h2 THEN PERFORM pg_advisory_xact_lock(greatest(h1, h2));\n"
"    END IF;\n"
"  END IF;\n"
	/* a session past expires_at never blocks a pair (as in LMDB): it
	 * ends here; the others' numbers are taken */
"  FOR r IN SELECT p.vn AS vn, p.session_id AS sid,\n"
"      (SELECT s.expires_at_ms FROM sessions s\n"
"        WHERE s.id = p.session_id) AS exp\n"
"      FROM pairs p WHERE p.party IN (p_a, p_b) AND p.active LOOP\n"
"    IF r.exp <= p_now THEN\n"
"      PERFORM maskd_session_end(r.sid, 1::smallint, p_now);\n"
"    ELSE\n"
"      used := used || r.vn;\n"
"    END IF;\n"
"  END LOOP;\n"
"  IF p_vn <> '' THEN\n"
"    IF NOT EXISTS (SELECT 1 FROM pool WHERE pool.vn = p_vn) THEN\n"
"      err := 'ENOENT'; RETURN;\n"
"    END IF;\n"
"    IF p_vn = ANY (used) THEN err := 'EEXIST'; RETURN; END IF;\n"
"    IF explicit AND EXISTS (SELECT 1 FROM pins WHERE pins.vn = p_vn\n"
"        AND pins.active AND pins.pin IN (p_pin_a, p_pin_b)) THEN\n"
"      err := 'ENOTUNIQ'; RETURN;\n"
"    END IF;\n"
"    vn := p_vn;\n"
"  ELSE\n"
"    IF p_lock THEN\n"
"      SELECT pool.vn INTO vn FROM pool WHERE pool.vn <> ALL (used)\n"
"        AND NOT (explicit AND EXISTS (SELECT 1 FROM pins\n"
"          WHERE pins.vn = pool.vn AND pins.active\n"
"            AND pins.pin IN (p_pin_a, p_pin_b)))\n"
"        ORDER BY pool.active, pool.vn LIMIT 1 FOR UPDATE SKIP LOCKED;\n"
"    END IF;\n"
"    IF vn IS NULL THEN\n"
"      SELECT pool.vn INTO vn FROM pool WHERE pool.vn <> ALL (used)\n"
"        AND NOT (explicit AND EXISTS (SELECT 1 FROM pins\n"
"          WHERE pins.vn = pool.vn AND pins.active\n"
"            AND pins.pin IN (p_pin_a, p_pin_b)))\n"
"        ORDER BY pool.active, pool.vn LIMIT 1;\n"
"    END IF;\n"
"    IF vn IS NULL THEN\n"
"      IF explicit AND EXISTS (SELECT 1 FROM pool\n"
"          WHERE pool.vn <> ALL (used)) THEN\n"
"        err := 'ENOTUNIQ';\n"
"      ELSE\n"
"        err := 'ENOSPC';\n"
"      END IF;\n"
"      RETURN;\n"
"    END IF;\n"
"  END IF;\n"
"  IF p_pin_gen THEN\n"
"    FOR i IN 1..64 LOOP\n"
"      pin_a := maskd_pin_random(p_pin_len);\n"
"      pin_b := maskd_pin_random(p_pin_len);\n"
"      EXIT WHEN pin_a <> pin_b AND NOT EXISTS (SELECT 1 FROM pins\n"
"        WHERE pins.vn = maskd_session_create.vn AND pins.active\n"
"          AND pins.pin IN (pin_a, pin_b));\n"
"      IF i = 64 THEN err := 'ENOTUNIQ'; RETURN; END IF;\n"
"    END LOOP;\n"
"  END IF;\n"
"  UPDATE pool SET active = active + 1 WHERE pool.vn = maskd_session_create.vn;\n"
"  INSERT INTO sessions (id, party_a, party_b, vn, status, created_at_ms,\n"
"      expires_at_ms, call_time_limit_s, record, callback_url, metadata,\n"
"      pin_required, pin_retries, pin_a, pin_b)\n"
"    VALUES (p_id, p_a, p_b, vn, 0, p_now, p_now + p_ttl, p_ctl,\n"
"      p_record, p_cb, p_meta, p_pin_req, p_pin_retries, pin_a, pin_b);\n"
"  INSERT INTO pairs (party, vn, session_id, active)\n"
"    VALUES (p_a, vn, p_id, true), (p_b, vn, p_id, true);\n"
"  IF p_pin_req AND pin_a <> '' THEN\n"
"    INSERT INTO pins (session_id, party, vn, pin, active)\n"
"      VALUES (p_id, 0, vn, pin_a, true), (p_id, 1, vn, pin_b, true);\n"
"  END IF;\n"
"  INSERT INTO changes (kind, session_id, vn, at_ms)\n"
"    VALUES ('session', p_id, vn, p_now);\n"
"END $f$;\n"

/* Fewer index entries per create. The pair table's key becomes
 * (session_id, party), which maskd_session_end() looks rows up by, so
 * pairs_session goes; lookups by (party, vn) use pairs_active. The
 * foreign keys go: a session row is never deleted, and each checked
 * pairs or pins row cost an index probe and a row lock (WAL) more. */
"ALTER TABLE pairs DROP CONSTRAINT IF EXISTS pairs_session_id_fkey;\n"
"ALTER TABLE pins DROP CONSTRAINT IF EXISTS pins_session_id_fkey;\n"
"ALTER TABLE pairs DROP CONSTRAINT IF EXISTS pairs_pkey;\n"
"ALTER TABLE pairs ADD PRIMARY KEY (session_id, party);\n"
"DROP INDEX IF EXISTS pairs_session;\n"

/* maskd_session_create_many() - the batch set-wise. A create with no
 * number asked and no PIN (the common one) is allocated in memory: the
 * batch reads its parties' active pairs once and the least-used unlocked
 * numbers once (FOR UPDATE SKIP LOCKED, a few more than it needs),
 * picks for each create in order the least-used one neither party holds
 * (the window is kept sorted as picks raise counts), and writes all of
 * them with one statement per table. Version 1 ran ~10 statements and a
 * subtransaction per create, about 0.5 ms of PostgreSQL CPU each.
 * Every other create goes through maskd_session_create() afterwards,
 * seeing the batch's writes, as before: one asking a number or a PIN,
 * one whose party holds a session past expires_at (it is ended there),
 * and one the window cannot answer exactly (nothing eligible in it, or
 * the pick would rank past its last row, where a row outside may rank
 * lower); that path keeps every answer (ENOSPC, EEXIST, ...) as it
 * was. The parties' advisory locks are taken first, as in version 1. */
"CREATE OR REPLACE FUNCTION maskd_session_create_many(p_id bytea[],\n"
"    p_a text[], p_b text[], p_vn text[], p_now bigint[], p_ttl bigint[],\n"
"    p_ctl bigint[], p_record boolean[], p_cb text[], p_meta text[],\n"
"    p_pin_req boolean[], p_pin_retries smallint[], p_pin_a text[],\n"
"    p_pin_b text[], p_pin_gen boolean[], p_pin_len integer[])\n"
"    RETURNS TABLE (k integer, err text, vn text, pin_a text,\n"
"      pin_b text) LANGUAGE plpgsql SET enable_seqscan = off AS $f$\n"
"DECLARE\n"
"  n integer := coalesce(array_length(p_id, 1), 0);\n"
"  j integer; q integer; nf integer := 0;\n"
"  slow boolean[] := array_fill(false, ARRAY[n]);\n"
"  r_err text[] := array_fill(''::text, ARRAY[n]);\n"
"  r_vn text[] := array_fill(''::text, ARRAY[n]);\n"
"  r_pa text[] := array_fill(''::text, ARRAY[n]);\n"
"  r_pb text[] := array_fill(''::text, ARRAY[n]);\n"
"  fast integer[] := '{}';\n"
	/* the parties' active pairs: party, number, session's expiry */
"  pp text[]; pv text[]; pe bigint[];\n"
	/* the window: numbers by (count, number), counts as picked */
"  cv text[]; ca integer[]; m integer; want integer;\n"
"  lim_a integer; lim_v text; wfull boolean;\n"
"  used text[]; stale boolean; pick integer; xa integer; xv text;\n"
"  lo integer; hi integer; mid integer;\n"
"  e1 text; v1 text; a1 text; b1 text;\n"
"BEGIN\n"
	/* in hash order, as version 1, but one statement, not one each */
"  PERFORM pg_advisory_xact_lock(w.hx) FROM (SELECT DISTINCT\n"
"      hashtextextended(t, 0) AS hx FROM unnest(p_a || p_b) t\n"
"      ORDER BY 1) w;\n"
"  FOR j IN 1 .. n LOOP\n"
"    slow[j] := coalesce(p_vn[j], '') <> '' OR p_pin_req[j] OR p_pin_gen[j];\n"
"    IF NOT slow[j] THEN nf := nf + 1; END IF;\n"
"  END LOOP;\n"
	/* a pool only a few times the batch: each create alone, locking
	 * only the number it takes (a window would lock most of the pool,
	 * and closes and other nodes' creates would queue on it) */
"  want := nf + 2;\n"
"  IF nf > 0 THEN\n"
"    SELECT count(*) INTO m FROM (SELECT 1 FROM pool LIMIT want * 4) w;\n"
"    IF m < want * 4 THEN\n"
"      slow := array_fill(true, ARRAY[n]); nf := 0;\n"
"    END IF;\n"
"  END IF;\n"
"  IF nf > 0 THEN\n"
"    SELECT coalesce(array_agg(p.party), '{}'), coalesce(array_agg(p.vn), '{}'),\n"
"        coalesce(array_agg((SELECT s.expires_at_ms FROM sessions s\n"
"          WHERE s.id = p.session_id)), '{}')\n"
"      INTO pp, pv, pe FROM pairs p\n"
"      WHERE p.party = ANY (p_a || p_b) AND p.active;\n"
"    SELECT coalesce(array_agg(w.vn ORDER BY w.active, w.vn), '{}'),\n"
"        coalesce(array_agg(w.active ORDER BY w.active, w.vn), '{}'),\n"
"        count(*)\n"
"      INTO cv, ca, m FROM (SELECT pool.vn, pool.active FROM pool\n"
"        ORDER BY pool.active, pool.vn LIMIT want\n"
"        FOR UPDATE SKIP LOCKED) w;\n"
"    wfull := m >= want;\n"
"    IF m > 0 THEN lim_a := ca[m]; lim_v := cv[m]; END IF;\n"
"    FOR j IN 1 .. n LOOP\n"
"      CONTINUE WHEN slow[j];\n"
"      used := '{}'; stale := false; pick := 0;\n"
"      FOREACH q IN ARRAY array_positions(pp, p_a[j])\n"
"          || array_positions(pp, p_b[j]) LOOP\n"
"        IF pe[q] <= p_now[j] THEN stale := true; EXIT; END IF;\n"
"        used := used || pv[q];\n"
"      END LOOP;\n"
"      IF NOT stale THEN\n"
"        FOR q IN 1 .. m LOOP\n"
"          IF cv[q] <> ALL (used) THEN pick := q; EXIT; END IF;\n"
"        END LOOP;\n"
"      END IF;\n"
"      IF pick > 0 AND wfull AND (ca[pick] > lim_a OR\n"
"          (ca[pick] = lim_a AND cv[pick] > lim_v)) THEN\n"
"        pick := 0;\n"
"      END IF;\n"
"      IF pick = 0 THEN slow[j] := true; CONTINUE; END IF;\n"
"      xa := ca[pick] + 1; xv := cv[pick];\n"
"      r_vn[j] := xv;\n"
"      r_pa[j] := coalesce(p_pin_a[j], ''); r_pb[j] := coalesce(p_pin_b[j], '');\n"
"      fast := fast || j;\n"
"      pp := pp || p_a[j] || p_b[j];\n"
"      pv := pv || xv || xv;\n"
"      pe := pe || (p_now[j] + p_ttl[j]) || (p_now[j] + p_ttl[j]);\n"
	/* its count went up: move it past those now ranking lower (the
	 * rows after it are in order: a binary search, then one move by
	 * slices; a step at a time cost ~40 us a create) */
"      lo := pick; hi := m;\n"
"      WHILE lo < hi LOOP\n"
"        mid := (lo + hi + 1) / 2;\n"
"        IF ca[mid] < xa OR (ca[mid] = xa AND cv[mid] < xv) THEN\n"
"          lo := mid;\n"
"        ELSE\n"
"          hi := mid - 1;\n"
"        END IF;\n"
"      END LOOP;\n"
"      IF lo > pick THEN\n"
"        cv := cv[1:pick - 1] || cv[pick + 1:lo] || xv || cv[lo + 1:m];\n"
"        ca := ca[1:pick - 1] || ca[pick + 1:lo] || xa || ca[lo + 1:m];\n"
"      ELSE\n"
"        ca[pick] := xa;\n"
"      END IF;\n"
"    END LOOP;\n"
"  END IF;\n"
"  IF array_length(fast, 1) > 0 THEN\n"
"    UPDATE pool SET active = pool.active + u.c\n"
"      FROM (SELECT r_vn[t.ix] AS v, count(*)::integer AS c\n"
"        FROM unnest(fast) t(ix) GROUP BY 1) u\n"
"      WHERE pool.vn = u.v;\n"
"    INSERT INTO sessions (id, party_a, party_b, vn, status,\n"
"        created_at_ms, expires_at_ms, call_time_limit_s, record,\n"
"        callback_url, metadata, pin_required, pin_retries, pin_a, pin_b)\n"
"      SELECT p_id[t.ix], p_a[t.ix], p_b[t.ix], r_vn[t.ix], 0,\n"
"        p_now[t.ix], p_now[t.ix] + p_ttl[t.ix], p_ctl[t.ix],\n"
"        p_record[t.ix], p_cb[t.ix], p_meta[t.ix], p_pin_req[t.ix],\n"
"        p_pin_retries[t.ix], r_pa[t.ix], r_pb[t.ix]\n"
"      FROM unnest(fast) t(ix);\n"
"    INSERT INTO pairs (party, vn, session_id, active)\n"
"      SELECT x.party, r_vn[t.ix], p_id[t.ix], true\n"
"      FROM unnest(fast) t(ix),\n"
"        LATERAL (VALUES (p_a[t.ix]), (p_b[t.ix])) x(party);\n"
"    INSERT INTO changes (kind, session_id, vn, at_ms)\n"
"      SELECT 'session', p_id[t.ix], r_vn[t.ix], p_now[t.ix]\n"
"      FROM unnest(fast) WITH ORDINALITY t(ix, o) ORDER BY t.o;\n"
"  END IF;\n"
"  FOR j IN 1 .. n LOOP\n"
"    CONTINUE WHEN NOT slow[j];\n"
"    BEGIN\n"
"      SELECT c.err, c.vn, c.pin_a, c.pin_b INTO e1, v1, a1, b1\n"
"        FROM maskd_session_create(p_id[j], p_a[j], p_b[j], p_vn[j],\n"
"          p_now[j], p_ttl[j], p_ctl[j], p_record[j], p_cb[j], p_meta[j],\n"
"          p_pin_req[j], p_pin_retries[j], p_pin_a[j], p_pin_b[j],\n"
"          p_pin_gen[j], p_pin_len[j], true) c;\n"
"    EXCEPTION WHEN unique_violation THEN\n"
"      e1 := 'RETRY'; v1 := ''; a1 := ''; b1 := '';\n"
"    END;\n"
"    r_err[j] := e1; r_vn[j] := v1; r_pa[j] := a1; r_pb[j] := b1;\n"
"  END LOOP;\n"
"  FOR j IN 1 .. n LOOP\n"
"    k := j; err := r_err[j]; vn := r_vn[j];\n"
"    pin_a := r_pa[j]; pin_b := r_pb[j];\n"
"    RETURN NEXT;\n"
"  END LOOP;\n"
"END $f$;\n"
"INSERT INTO schema_version (version) VALUES (5);\n"
"END $v5$;\n"

/* ---- version 6: fewer index entries a create ---- */
"DO $v6$ BEGIN\n"
"IF EXISTS (SELECT 1 FROM schema_version WHERE version = 6) THEN\n"
"  RETURN;\n"
"END IF;\n"
/* Indexes nothing reads, each an index insert (and its WAL) per create:
 * sessions by vn (no query asks for a number's sessions: a number's
 * use is pool.active) and changes by id alone (the feed reads by (xid,
 * id), changes_cursor; the bigserial keeps ids unique). */
"DROP INDEX IF EXISTS sessions_vn;\n"
"ALTER TABLE changes DROP CONSTRAINT IF EXISTS changes_pkey;\n"
"INSERT INTO schema_version (version) VALUES (6);\n"
"END $v6$;\n"

#include "cluster_schema_v7.inc"
#include "cluster_schema_v8.inc"

"SELECT max(version) FROM schema_version;\n";
