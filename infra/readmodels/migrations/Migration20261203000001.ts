import { Migration } from '@mikro-orm/migrations';

/**
 * The runner's queue (issue 19): each row says at which revision of the execution's stream its due time was
 * known, so that the runner (which knows the state it just wrote) and the executions projection (which
 * learns it later from the log) can both write it and the newer knowledge always wins. Claiming goes by one
 * indexed expression, when the row becomes claimable: its due time, or the end of its lease if later.
 */
export class Migration20261203000001 extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE workflow_execution_queue ADD COLUMN revision integer NOT NULL DEFAULT -1;');
    this.addSql('DROP INDEX IF EXISTS execution_queue_due;');
    this.addSql('CREATE INDEX execution_queue_claimable ON workflow_execution_queue ((GREATEST(due_at, lease_until))) WHERE due_at IS NOT NULL;');
  }
}
