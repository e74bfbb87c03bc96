import { Migration } from '@mikro-orm/migrations';

/**
 * AI embeddings (issue 22; the VectorIndex port, command-api/ai/ports.ts, infra/ai/vector-index.ts):
 * - ai_embeddings: per organization, kind ('contact', 'email') and item, the minimal text to embed (personal
 *   data: the embeddings projection deletes the row on erasure) and its hash, written by the projection; the
 *   embedder fills in the vector (`embedding`, Float32 little-endian), the model that made it and the hash of
 *   the text it was made from (`embedded_hash`: current when equal to `text_hash`).
 *   `changed_seq` is set by trigger on every insert and update (the projection need not set it) to the id of
 *   the writing transaction (pg_current_xact_id(): 64 bits, assigned in increasing order). A plain sequence
 *   would not do for the scan engine's cache: a transaction can commit after another that took a higher
 *   number, and a reader that moved its mark past the higher one would never see the lower. With transaction
 *   ids, a reader remembers the oldest transaction still running when it read (pg_snapshot_xmin) and next
 *   time reads every row changed from there on: nothing committed since can be below it.
 * - ai_embedding_removals: rows deleted (AFTER DELETE trigger), so that the scan engine's cache drops them;
 *   entries older than an hour are pruned by the same trigger, now and then.
 * - ai_embedding_cache_resets: a cache whose mark is below `below` may have missed removals (pruned, or a
 *   TRUNCATE, which fires no delete trigger) and loads the tenant again. Insert-only (no row contention).
 * - Where the pgvector extension is available (a server with it installed, and the embedded PGlite): the
 *   extension and `embedding_v vector` (any dimension), written beside `embedding`, for exact search with the
 *   cosine-distance operator `<=>` (no approximate index: results must equal the scan engine's). Elsewhere
 *   the migration leaves them out and the scan engine serves.
 */
export class Migration20261206000010 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE ai_embeddings (
        organization_id uuid   NOT NULL,
        kind            text   NOT NULL,
        item_id         uuid   NOT NULL,
        text            text   NOT NULL,
        text_hash       text   NOT NULL,
        embedded_hash   text,
        model           text,
        embedding       bytea,
        changed_seq     bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
        PRIMARY KEY (organization_id, kind, item_id)
      );
      -- What the embedder still has to do, oldest change first.
      CREATE INDEX ai_embeddings_pending ON ai_embeddings (changed_seq) WHERE embedded_hash IS DISTINCT FROM text_hash;
      -- What changed in a tenant since a cache last read it.
      CREATE INDEX ai_embeddings_changes ON ai_embeddings (organization_id, kind, changed_seq, item_id);

      CREATE TABLE ai_embedding_removals (
        organization_id uuid        NOT NULL,
        kind            text        NOT NULL,
        item_id         uuid        NOT NULL,
        removed_seq     bigint      NOT NULL,
        removed_at      timestamptz NOT NULL DEFAULT clock_timestamp()
      );
      CREATE INDEX ai_embedding_removals_since ON ai_embedding_removals (organization_id, kind, removed_seq);
      CREATE INDEX ai_embedding_removals_age ON ai_embedding_removals (removed_at);

      CREATE TABLE ai_embedding_cache_resets (
        below bigint PRIMARY KEY
      );

      CREATE FUNCTION ai_embeddings_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        NEW.changed_seq := pg_current_xact_id()::text::bigint;
        RETURN NEW;
      END
      $fn$;
      CREATE TRIGGER ai_embeddings_changed BEFORE INSERT OR UPDATE ON ai_embeddings
        FOR EACH ROW EXECUTE FUNCTION ai_embeddings_changed();

      CREATE FUNCTION ai_embeddings_removed() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE
        v_below bigint;
      BEGIN
        INSERT INTO ai_embedding_removals (organization_id, kind, item_id, removed_seq)
          SELECT organization_id, kind, item_id, pg_current_xact_id()::text::bigint FROM gone;
        -- Pruning: when entries are over two hours old, those over one hour go (so about once an hour), by
        -- one transaction at a time; a cache that has not looked since then reloads its tenant.
        IF EXISTS (SELECT 1 FROM ai_embedding_removals WHERE removed_at < clock_timestamp() - interval '2 hours')
           AND pg_try_advisory_xact_lock(7240022) THEN
          WITH pruned AS (
            DELETE FROM ai_embedding_removals WHERE removed_at < clock_timestamp() - interval '1 hour' RETURNING removed_seq
          )
          SELECT max(removed_seq) + 1 INTO v_below FROM pruned;
          IF v_below IS NOT NULL THEN
            INSERT INTO ai_embedding_cache_resets (below) VALUES (v_below) ON CONFLICT DO NOTHING;
          END IF;
        END IF;
        RETURN NULL;
      END
      $fn$;
      CREATE TRIGGER ai_embeddings_removed AFTER DELETE ON ai_embeddings
        REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ai_embeddings_removed();

      -- TRUNCATE (a projection reset) fires no delete trigger: every cache loads again.
      CREATE FUNCTION ai_embeddings_truncated() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        INSERT INTO ai_embedding_cache_resets (below) VALUES (pg_current_xact_id()::text::bigint + 1) ON CONFLICT DO NOTHING;
        RETURN NULL;
      END
      $fn$;
      CREATE TRIGGER ai_embeddings_truncated AFTER TRUNCATE ON ai_embeddings
        FOR EACH STATEMENT EXECUTE FUNCTION ai_embeddings_truncated();

      -- pgvector, only where the extension can be had (not on every server): the same migration runs on both.
      DO $do$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
          BEGIN
            CREATE EXTENSION IF NOT EXISTS vector;
            ALTER TABLE ai_embeddings ADD COLUMN embedding_v vector;
          EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pgvector is available but may not be created by this role: AI similarity search scans in process';
          END;
        END IF;
      END
      $do$;
    `);
  }
}
