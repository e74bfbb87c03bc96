/**
 * The PostgreSQL event store's schema. Installed idempotently at start (under an advisory lock so several
 * processes starting together don't race).
 *
 * Ordering: every append batch locks the single row of nf_log_head and takes the next positions from it.
 * The next batch can lock that row only after this one has committed and become visible, so events become
 * visible in position order. A reader that reads "position > my checkpoint" therefore never skips an event
 * that commits later with a lower position (the classic sequence-based race), and a rolled-back or crashed
 * transaction leaves no hole to wait for: its positions are simply reused by the next batch.
 * Concurrent appends still scale because one process groups them into a single transaction (one fsync), and
 * each stream keeps its own optimistic-concurrency check inside it.
 */
export const EVENT_STORE_SCHEMA_LOCK = 7_240_001;

export const eventStoreSchemaSql = /* sql */ `
CREATE TABLE IF NOT EXISTS nf_events (
  position     bigint       PRIMARY KEY,
  event_id     uuid         NOT NULL UNIQUE,
  stream_id    text         NOT NULL,
  revision     bigint       NOT NULL,
  type         text         NOT NULL,
  version      integer      NOT NULL,
  data         jsonb        NOT NULL,
  metadata     jsonb        NOT NULL,
  tenant_id    text,
  recorded_at  timestamptz  NOT NULL DEFAULT now(),
  CONSTRAINT nf_events_stream_revision UNIQUE (stream_id, revision)
);

CREATE TABLE IF NOT EXISTS nf_log_head (
  id        smallint PRIMARY KEY CHECK (id = 1),
  position  bigint   NOT NULL
);
INSERT INTO nf_log_head (id, position) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

-- Appends a batch of appends in one transaction. Each append (stream, expected revision, events) is checked on
-- its own; a failed check skips that append only, unless it belongs to an atomic group (p_groups > 0: appends
-- that must all be stored or none, e.g. a unique-email claim and the contact that holds it), in which case the
-- whole group is skipped. Expected revision codes: >= 0 exact, -1 no stream, -2 any, -3 stream exists.
-- Set-based on purpose: indexing variable-width arrays (text[], jsonb[]) element by element is O(n) per access,
-- so the loop below touches only fixed-width arrays and the events go in with one INSERT ... SELECT unnest().
DROP FUNCTION IF EXISTS nf_append_batch(text[], bigint[], integer[], text[], uuid[], text[], integer[], jsonb[], jsonb[]);
DROP FUNCTION IF EXISTS nf_append_batch(text[], bigint[], integer[], integer[], integer[], text[], text[], uuid[], text[], integer[], jsonb[], jsonb[]);
-- Data and metadata come as ONE text each, JSON documents separated by U+001E (as for nf_append_bulk below):
-- as jsonb[] the driver escaped every quote of every document and the server unescaped them again (pg's
-- escapeElement was 2 % of the workflow runner's process). Earlier versions (the jsonb[] one of 2026-12-06
-- and before; the text one without keys, 13 parameters, of the 2026-12-06 sessions; the one without
-- predecessors, 16 parameters, of the sessions before 2026-12-07; the one without speculative appends, 17
-- parameters, of the 2026-12-07 sessions) are left in place, not dropped: processes of the previous release
-- still call them during a rolling update. Callers pass all 18 parameters, which picks this one.
-- p_predecessors (per append, NULL for none): with an exact expected revision, the id the event at that
-- revision must have, whether stored or written by an earlier append of this batch; another one there fails
-- the append as 'wrong_expected_revision' (StreamAppend.predecessorId: the hash chain's link to an append
-- that was still under way when it linked).
-- p_speculative (per append, NULL for none): the append was sent beside the transaction that writes what it
-- builds on, which may take the log head after this one. With an exact expected revision above the stream's
-- revision (its predecessor not stored yet) it fails as 'not_yet', its group with it, and the caller sends it
-- again once that transaction is over; without the flag the same append fails as 'wrong_expected_revision'.
-- Personal-data keys made for the events of an append (p_key_*) go in with it, in this transaction: the
-- append waits for no key statement of its own, and an append left out leaves no key behind. An append
-- whose key's person has a key already fails as 'key_exists' (its group with it); a key that a concurrent
-- transaction stored after that check aborts the whole batch (unique_violation on personal_data_keys_pkey),
-- which the caller retries append by append. personal_data_keys is the read models' table (the migrations
-- create it): only appends that carry keys touch it.
CREATE OR REPLACE FUNCTION nf_append_batch(
  p_streams        text[],     -- per append
  p_expected       bigint[],   -- per append
  p_counts         integer[],  -- per append
  p_groups         integer[],  -- per append: 0 alone, else the id of its all-or-nothing group
  p_event_append   integer[],  -- per event: 1-based index of its append
  p_event_seq      integer[],  -- per event: 1-based index inside its append
  p_event_streams  text[],     -- per event
  p_event_tenants  text[],     -- per event
  p_ids            uuid[],
  p_types          text[],
  p_versions       integer[],
  p_data           text,       -- per event, JSON documents separated by U+001E
  p_metadata       text,       -- per event, JSON documents separated by U+001E
  p_key_append     integer[],  -- per key: 1-based index of its append
  p_key_subjects   text[],     -- per key
  p_key_sealed     text[],     -- per key
  p_predecessors   uuid[],     -- per append (NULL: none)
  p_speculative    boolean[]   -- per append (NULL: none)
) RETURNS TABLE (o_outcome text, o_revision bigint, o_position bigint)
LANGUAGE plpgsql
SET lock_timeout = '10s'
-- PL/pgSQL caches its plans per connection. Planned while the table was small (a fresh store), the lookups
-- below would keep a sequential scan as the table grows and every append would get slower. The lookups
-- are always a handful of keys against a unique index, so the index is always right.
SET enable_seqscan = off
AS $fn$
DECLARE
  v_n              integer := coalesce(array_length(p_streams, 1), 0);
  v_head           bigint;
  v_start          bigint;
  v_current        bigint[];   -- stream revision before the batch, per append
  v_current_id     uuid[];     -- the id of the stream's last event before the batch, per append
  v_previous       integer[];  -- previous append to the same stream in this batch (0: none)
  v_checks         boolean := p_predecessors IS NOT NULL;  -- callers send NULL when no append names one
  v_speculating    boolean := p_speculative IS NOT NULL;   -- and when none is speculative
  v_not_yet        boolean;
  v_last_id        uuid[];     -- the id of each append's last event (only with predecessors to check)
  v_tip_id         uuid[];     -- the id of the stream's last event after each append, as decided
  v_duplicate      boolean[] := array_fill(false, ARRAY[v_n]);
  v_key_exists     boolean[] := array_fill(false, ARRAY[v_n]);
  v_keys           integer := coalesce(array_length(p_key_subjects, 1), 0);
  v_stored_keys    integer;
  v_ok             boolean[];
  v_after          bigint[];
  v_base_revision  bigint[];
  v_base_position  bigint[];
  -- Appends skipped because another member of their atomic group failed, and why the member failed.
  v_excluded       boolean[] := array_fill(false, ARRAY[v_n]);
  v_failure        text[]    := array_fill(NULL::text, ARRAY[v_n]);
  v_failed_at      bigint[]  := array_fill(0::bigint, ARRAY[v_n]);
  v_restart        boolean;
  v_stale_link     boolean;
  v_revision       bigint;
  v_expected       bigint;
  v_i              integer;
  v_j              integer;
BEGIN
  SELECT h.position INTO v_start FROM nf_log_head h WHERE h.id = 1 FOR UPDATE;

  SELECT array_agg(coalesce(s.revision, -1) ORDER BY a.ord), array_agg(coalesce(a.prev, 0) ORDER BY a.ord)
    INTO v_current, v_previous
  FROM (
    SELECT t.stream, t.ord, lag(t.ord::integer) OVER (PARTITION BY t.stream ORDER BY t.ord) AS prev
    FROM unnest(p_streams) WITH ORDINALITY AS t(stream, ord)
  ) a
  LEFT JOIN LATERAL (
    SELECT e.revision FROM nf_events e WHERE e.stream_id = a.stream ORDER BY e.revision DESC LIMIT 1
  ) s ON true;

  IF v_checks THEN
    SELECT array_agg(s.event_id ORDER BY t.ord) INTO v_current_id
    FROM unnest(p_streams) WITH ORDINALITY AS t(stream, ord)
    LEFT JOIN LATERAL (
      SELECT e.event_id FROM nf_events e WHERE e.stream_id = t.stream ORDER BY e.revision DESC LIMIT 1
    ) s ON true;
    v_last_id := array_fill(NULL::uuid, ARRAY[v_n]);
    FOR v_j IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
      v_last_id[p_event_append[v_j]] := p_ids[v_j];
    END LOOP;
  END IF;

  FOR v_i IN
    SELECT DISTINCT u.a FROM unnest(p_ids, p_event_append) AS u(id, a) JOIN nf_events e ON e.event_id = u.id
  LOOP
    v_duplicate[v_i] := true;
  END LOOP;

  IF v_keys > 0 THEN
    FOR v_i IN
      SELECT DISTINCT u.a FROM unnest(p_key_append, p_key_subjects) AS u(a, subject) JOIN personal_data_keys k ON k.subject_id = u.subject
    LOOP
      v_key_exists[v_i] := true;
    END LOOP;
  END IF;

  -- Decide which appends go in. When a member of an atomic group fails, the group is excluded and the
  -- decision starts over (later appends to the same streams must not build on what the group would have
  -- written). Each round excludes one more group, so this ends; with no groups it runs once.
  LOOP
    v_head := v_start;
    v_restart := false;
    v_ok := array_fill(false, ARRAY[v_n]);
    v_after := array_fill(0::bigint, ARRAY[v_n]);
    v_base_revision := array_fill(0::bigint, ARRAY[v_n]);
    v_base_position := array_fill(0::bigint, ARRAY[v_n]);
    v_tip_id := array_fill(NULL::uuid, ARRAY[v_n]);
    FOR v_i IN 1 .. v_n LOOP
      v_revision := CASE WHEN v_previous[v_i] > 0 THEN v_after[v_previous[v_i]] ELSE v_current[v_i] END;
      v_expected := p_expected[v_i];
      v_after[v_i] := v_revision;
      IF v_checks THEN
        v_tip_id[v_i] := CASE WHEN v_previous[v_i] > 0 THEN v_tip_id[v_previous[v_i]] ELSE v_current_id[v_i] END;
      END IF;
      CONTINUE WHEN v_excluded[v_i];
      -- The event at the expected revision is not the one the append names (see p_predecessors).
      v_stale_link := v_checks AND v_expected >= 0 AND p_predecessors[v_i] IS NOT NULL
                      AND v_tip_id[v_i] IS DISTINCT FROM p_predecessors[v_i];
      -- What it builds on is not stored yet, and may be in a transaction waiting for this one (p_speculative).
      v_not_yet := v_speculating AND p_speculative[v_i] AND v_expected >= 0 AND v_revision < v_expected;
      IF v_duplicate[v_i]
         OR v_key_exists[v_i]
         OR (v_expected = -1 AND v_revision <> -1)
         OR (v_expected = -3 AND v_revision = -1)
         OR (v_expected >= 0 AND v_expected <> v_revision)
         OR v_stale_link THEN
        v_failure[v_i] := CASE
          WHEN v_duplicate[v_i] THEN 'duplicate_event_id'
          WHEN v_not_yet THEN 'not_yet'
          WHEN (v_expected = -1 AND v_revision <> -1) OR (v_expected = -3 AND v_revision = -1)
               OR (v_expected >= 0 AND v_expected <> v_revision) OR v_stale_link THEN 'wrong_expected_revision'
          ELSE 'key_exists' END;
        v_failed_at[v_i] := v_revision;
        IF p_groups[v_i] > 0 THEN
          FOR v_j IN 1 .. v_n LOOP
            IF p_groups[v_j] = p_groups[v_i] THEN v_excluded[v_j] := true; END IF;
          END LOOP;
          v_restart := true;
          EXIT;
        END IF;
        CONTINUE;
      END IF;
      v_ok[v_i] := true;
      IF v_checks THEN v_tip_id[v_i] := v_last_id[v_i]; END IF;
      v_base_revision[v_i] := v_revision;
      v_base_position[v_i] := v_head;
      v_head := v_head + p_counts[v_i];
      v_after[v_i] := v_revision + p_counts[v_i];
    END LOOP;
    EXIT WHEN NOT v_restart;
  END LOOP;

  INSERT INTO nf_events (position, event_id, stream_id, revision, type, version, data, metadata, tenant_id)
  SELECT v_base_position[u.a] + u.k, u.id, u.stream, v_base_revision[u.a] + u.k, u.type, u.version, u.data::jsonb,
         u.metadata::jsonb, u.tenant
  FROM unnest(p_event_append, p_event_seq, p_event_streams, p_event_tenants, p_ids, p_types, p_versions,
              string_to_array(p_data, E'\\x1e'), string_to_array(p_metadata, E'\\x1e'))
       AS u(a, k, stream, tenant, id, type, version, data, metadata)
  WHERE v_ok[u.a];

  IF v_keys > 0 THEN
    INSERT INTO personal_data_keys (subject_id, sealed_key)
    SELECT u.subject, u.sealed FROM unnest(p_key_append, p_key_subjects, p_key_sealed) AS u(a, subject, sealed)
    WHERE v_ok[u.a]
    ON CONFLICT (subject_id) DO NOTHING;
    GET DIAGNOSTICS v_stored_keys = ROW_COUNT;
    IF v_stored_keys < (SELECT count(*) FROM unnest(p_key_append) AS u(a) WHERE v_ok[u.a]) THEN
      RAISE EXCEPTION 'a personal-data key sent with an append exists already'
        USING ERRCODE = 'unique_violation', CONSTRAINT = 'personal_data_keys_pkey';
    END IF;
  END IF;

  UPDATE nf_log_head SET position = v_head WHERE id = 1;
  -- Delivered when this transaction commits, to every process listening: their subscribers' wake-up.
  IF v_head > v_start THEN
    PERFORM pg_notify('nf_events_appended', v_head::text);
  END IF;

  -- Outcomes: ok; the member's own failure; 'aborted' for a group member that was fine but whose group failed.
  RETURN QUERY
    SELECT CASE WHEN v_ok[g.i] THEN 'ok' WHEN v_failure[g.i] IS NOT NULL THEN v_failure[g.i] ELSE 'aborted' END,
           CASE WHEN v_ok[g.i] THEN v_after[g.i] WHEN v_failure[g.i] IS NOT NULL THEN v_failed_at[g.i] ELSE v_after[g.i] END,
           CASE WHEN v_ok[g.i] THEN v_base_position[g.i] + p_counts[g.i] END
    FROM generate_series(1, v_n) AS g(i)
    ORDER BY g.i;
END
$fn$;

-- Bulk appends (imports): many appends, each to a different stream, in one transaction. Same ordering
-- mechanism as nf_append_batch (the head row lock, positions taken from it, the NOTIFY), but every step is a
-- set operation, so a chunk of thousands of streams costs a few statements, not a loop per append. Events come
-- as one array per column, except data and metadata: each is ONE text of JSON documents separated by U+001E,
-- split and parsed per event (jsonb[] made the driver escape every element; one big jsonb array was parsed
-- whole and then cut up again; one JSON document of whole events, json_to_recordset, doubled the server's
-- time). An event's stream is its append's, its tenant is in its metadata. Event ids are
-- not looked up beforehand (thousands of index probes that find nothing): the insert runs, and only if it hits a known
-- id are the appends holding one found and left out.
DROP FUNCTION IF EXISTS nf_append_bulk(text[], bigint[], integer[], json);
DROP FUNCTION IF EXISTS nf_append_bulk(text[], bigint[], integer[], integer[], integer[], text[], text[], uuid[], text[], integer[], jsonb[], jsonb[]);
DROP FUNCTION IF EXISTS nf_append_bulk(text[], bigint[], integer[], integer[], integer[], text[], text[], uuid[], text[], integer[], jsonb, jsonb);
DROP FUNCTION IF EXISTS nf_append_bulk(text[], bigint[], integer[], integer[], integer[], text[], text[], uuid[], text[], integer[], text, text);
CREATE OR REPLACE FUNCTION nf_append_bulk(
  p_streams   text[],     -- per append, each stream at most once
  p_expected  bigint[],   -- per append, codes as in nf_append_batch
  p_counts    integer[],  -- per append
  p_event_append   integer[],  -- per event: 1-based index of its append
  p_event_seq      integer[],  -- per event: 0-based index inside its append
  p_ids            uuid[],
  p_types          text[],
  p_versions       integer[],
  p_data           text,       -- per event, JSON documents separated by U+001E
  p_metadata       text        -- per event, JSON documents separated by U+001E
) RETURNS TABLE (o_outcome text, o_revision bigint, o_position bigint)
LANGUAGE plpgsql
SET lock_timeout = '10s'
SET enable_seqscan = off
AS $fn$
DECLARE
  v_n          integer := coalesce(array_length(p_streams, 1), 0);
  v_start      bigint;
  v_head       bigint;
  v_current    bigint[];   -- stream revision before the bulk, per append
  v_ok         boolean[];
  v_base       bigint[];   -- position before the append's first event, per append
  v_duplicate  boolean[] := array_fill(false, ARRAY[v_n]);
  v_found      boolean[];
  v_guessed    boolean := true;   -- streams of appends expecting none not looked up
  v_lookup     boolean := true;
BEGIN
  SELECT h.position INTO v_start FROM nf_log_head h WHERE h.id = 1 FOR UPDATE;

  LOOP
    IF v_lookup THEN
      -- Read after the lock, in a statement of its own (a snapshot that includes the previous holder's events).
      -- At first an append expecting no stream is not looked up (an import's thousands of new streams: probes
      -- that find nothing): its first event takes revision 0, which the (stream, revision) key refuses if the
      -- stream exists after all; then every stream is looked up and the insert runs again.
      SELECT array_agg(coalesce(s.revision, -1) ORDER BY a.ord) INTO v_current
      FROM unnest(p_streams, p_expected) WITH ORDINALITY AS a(stream, expected, ord)
      LEFT JOIN LATERAL (
        SELECT e.revision FROM nf_events e
        WHERE NOT (v_guessed AND a.expected = -1) AND e.stream_id = a.stream
        ORDER BY e.revision DESC LIMIT 1
      ) s ON true;
      v_lookup := false;
    END IF;
    -- Which appends go in, and where: stored appends take consecutive positions in input order.
    SELECT array_agg(w.ok ORDER BY w.ord), array_agg(w.base ORDER BY w.ord) INTO v_ok, v_base
    FROM (
      SELECT d.ord, d.ok, v_start + sum(d.taken) OVER (ORDER BY d.ord) - d.taken AS base
      FROM (
        SELECT x.ord, c.ok, CASE WHEN c.ok THEN x.cnt ELSE 0 END AS taken
        FROM unnest(p_expected, p_counts) WITH ORDINALITY AS x(expected, cnt, ord)
        CROSS JOIN LATERAL (
          SELECT NOT v_duplicate[x.ord] AND CASE x.expected
                   WHEN -2 THEN true
                   WHEN -1 THEN v_current[x.ord] = -1
                   WHEN -3 THEN v_current[x.ord] >= 0
                   ELSE x.expected = v_current[x.ord]
                 END AS ok
        ) c
      ) d
    ) w;
    BEGIN
      INSERT INTO nf_events (position, event_id, stream_id, revision, type, version, data, metadata, tenant_id)
      SELECT v_base[u.a] + u.k + 1, u.id, s.stream, v_current[u.a] + u.k + 1, u.type, u.version, u.data, u.metadata,
             u.metadata ->> 'tenantId'
      FROM (
        SELECT r.a, r.k, r.id, r.type, r.version, r.data::jsonb AS data, r.metadata::jsonb AS metadata
        FROM ROWS FROM (unnest(p_event_append), unnest(p_event_seq), unnest(p_ids), unnest(p_types), unnest(p_versions),
                        string_to_table(p_data, E'\\x1e'), string_to_table(p_metadata, E'\\x1e'))
             AS r(a, k, id, type, version, data, metadata)
        WHERE v_ok[r.a]
        OFFSET 0
      ) u
      JOIN unnest(p_streams) WITH ORDINALITY AS s(stream, ord) ON s.ord = u.a;
      EXIT;
    EXCEPTION WHEN unique_violation THEN
      IF v_guessed THEN
        -- Perhaps a stream expected not to exist: look every stream up, then go again.
        v_guessed := false;
        v_lookup := true;
        CONTINUE;
      END IF;
      -- A known event id (a retried import), or one used twice in this bulk: leave out every append holding
      -- one (for an id used twice, the later append) and insert again. Found nothing new: not ours, re-raise.
      SELECT array_agg(v_duplicate[g.i] OR coalesce(f.found, false) ORDER BY g.i) INTO v_found
      FROM generate_series(1, v_n) AS g(i)
      LEFT JOIN (
        SELECT DISTINCT u.a, true AS found
        FROM (
          SELECT r.a, r.i, row_number() OVER (PARTITION BY r.i ORDER BY r.a, r.k) AS nth
          FROM unnest(p_event_append, p_event_seq, p_ids) AS r(a, k, i)
        ) u
        WHERE u.nth > 1 OR EXISTS (SELECT 1 FROM nf_events e WHERE e.event_id = u.i)
      ) f ON f.a = g.i;
      IF v_found = v_duplicate THEN
        RAISE;
      END IF;
      v_duplicate := v_found;
    END;
  END LOOP;

  v_head := v_start + coalesce((SELECT sum(c.cnt) FROM unnest(p_counts, v_ok) AS c(cnt, ok) WHERE c.ok), 0);
  UPDATE nf_log_head SET position = v_head WHERE id = 1;
  IF v_head > v_start THEN
    PERFORM pg_notify('nf_events_appended', v_head::text);
  END IF;

  RETURN QUERY
    SELECT CASE WHEN v_ok[g.i] THEN 'ok' WHEN v_duplicate[g.i] THEN 'duplicate_event_id' ELSE 'wrong_expected_revision' END,
           CASE WHEN v_ok[g.i] THEN v_current[g.i] + p_counts[g.i] ELSE v_current[g.i] END,
           CASE WHEN v_ok[g.i] THEN v_base[g.i] + p_counts[g.i] END
    FROM generate_series(1, v_n) AS g(i)
    ORDER BY g.i;
END
$fn$;
`;
