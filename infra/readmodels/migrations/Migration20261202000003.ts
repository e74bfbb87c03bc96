import { Migration } from '@mikro-orm/migrations';

/**
 * The audit log: one row per event of the log (who, what, when, on which entity), for filtering by tenant,
 * actor, entity, type and time. `seq` follows the log's order and serves as the page cursor.
 */
export class Migration20261202000003 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE audit_log (
        seq            bigserial PRIMARY KEY,
        position       text NOT NULL,
        event_id       uuid NOT NULL UNIQUE,
        tenant_id      text,
        stream_id      text NOT NULL,
        entity_type    text,
        entity_id      text,
        event_type     text NOT NULL,
        event_version  integer NOT NULL,
        actor_type     text NOT NULL,
        actor_id       text NOT NULL,
        occurred_at    timestamptz NOT NULL,
        correlation_id text NOT NULL
      );
    `);
    this.addSql('CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq);');
    this.addSql('CREATE INDEX audit_log_tenant_entity ON audit_log (tenant_id, entity_id, seq);');
    this.addSql('CREATE INDEX audit_log_tenant_actor ON audit_log (tenant_id, actor_id, seq);');
    this.addSql('CREATE INDEX audit_log_tenant_type ON audit_log (tenant_id, event_type, seq);');
    this.addSql('CREATE INDEX audit_log_tenant_time ON audit_log (tenant_id, occurred_at);');
  }
}
