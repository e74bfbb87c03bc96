import { Migration } from '@mikro-orm/migrations';

/** Workflows, their executions with step history, and the runner's queue of due executions. */
export class Migration20261201000002 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE workflows (
        id              uuid PRIMARY KEY,
        organization_id uuid NOT NULL,
        name            text NOT NULL,
        description     text,
        status          text NOT NULL,
        version         integer NOT NULL,
        trigger_type    text NOT NULL,
        definition      jsonb NOT NULL,
        created_at      timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL,
        revision        integer NOT NULL
      );
      CREATE INDEX workflows_org ON workflows (organization_id, created_at, id);
      CREATE INDEX workflows_event_triggers ON workflows (organization_id) WHERE status = 'active' AND trigger_type = 'event';

      CREATE TABLE workflow_executions (
        id              uuid PRIMARY KEY,
        organization_id uuid NOT NULL,
        workflow_id     uuid NOT NULL,
        version         integer NOT NULL,
        contact_id      uuid NOT NULL,
        status          text NOT NULL,
        current_step_id text,
        wait_reason     text,
        due_at          timestamptz,
        cause_type      text NOT NULL,
        cause_id        text NOT NULL,
        error           jsonb,
        exit_reason     text,
        step_count      integer NOT NULL,
        timeline        jsonb NOT NULL,
        started_at      timestamptz NOT NULL,
        ended_at        timestamptz,
        duration_ms     bigint,
        updated_at      timestamptz NOT NULL,
        revision        integer NOT NULL
      );
      CREATE INDEX executions_workflow ON workflow_executions (organization_id, workflow_id, started_at, id);
      CREATE INDEX executions_workflow_status ON workflow_executions (workflow_id, status);
      CREATE INDEX executions_contact_active ON workflow_executions (contact_id, workflow_id) WHERE status IN ('running', 'waiting', 'paused');

      CREATE TABLE workflow_execution_steps (
        execution_id    uuid NOT NULL,
        seq             integer NOT NULL,
        organization_id uuid NOT NULL,
        step_id         text NOT NULL,
        step_type       text NOT NULL,
        attempt         integer NOT NULL,
        status          text NOT NULL,
        idempotency_key text NOT NULL,
        takeover        boolean NOT NULL,
        input           jsonb,
        output          jsonb,
        error           jsonb,
        started_at      timestamptz NOT NULL,
        ended_at        timestamptz,
        duration_ms     integer,
        PRIMARY KEY (execution_id, seq)
      );
      CREATE INDEX execution_steps_running ON workflow_execution_steps (execution_id) WHERE status = 'running';

      CREATE TABLE workflow_execution_queue (
        execution_id    uuid PRIMARY KEY,
        organization_id uuid NOT NULL,
        due_at          timestamptz,
        lease_owner     text,
        lease_until     timestamptz
      );
      CREATE INDEX execution_queue_due ON workflow_execution_queue (due_at) WHERE due_at IS NOT NULL;
    `);
  }
}
