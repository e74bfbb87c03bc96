import { Migration } from '@mikro-orm/migrations';

/**
 * A projection's checkpoint moved from the position its runner last stored, or the batch fails: what a
 * pipelined batch sends first (ProjectionRunner, PipelinedTransaction). The batch's statements go out behind it
 * before its answer is back, so a checkpoint that is not where the runner left it (another process moved it,
 * or the row is gone) must abort the transaction, not just update nothing: SQLSTATE NF001, on which the runner
 * applies the batch again the way that reads the checkpoint first. Also what every batch's move does: the
 * announcement (NOTIFY, heard when the batch commits) and asynchronous commit (see moveCheckpoint).
 */
export class Migration20261208000010 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE FUNCTION nf_move_checkpoint(p_name text, p_expected text, p_position text, p_channel text, p_payload text)
      RETURNS void LANGUAGE plpgsql AS $fn$
      BEGIN
        UPDATE projection_checkpoints SET position = p_position, updated_at = now()
         WHERE name = p_name AND position IS NOT DISTINCT FROM p_expected;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'the checkpoint of % is not at %', p_name, coalesce(p_expected, 'the start') USING ERRCODE = 'NF001';
        END IF;
        PERFORM set_config('synchronous_commit', 'off', true);
        PERFORM pg_notify(p_channel, p_payload);
      END
      $fn$;
    `);
  }
}
