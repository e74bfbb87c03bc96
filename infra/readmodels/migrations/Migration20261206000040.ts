import { Migration } from '@mikro-orm/migrations';

/**
 * Sent emails in the embeddings (issue 22): the embeddings projection keeps which contact each running
 * execution is for (`ai_embedding_executions`, a row from its start to its end), so that an email a step sent
 * is embedded with its contact, and goes with the contact when it is deleted or erased (the index on the
 * email rows' contact).
 */
export class Migration20261206000040 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE ai_embedding_executions (
        execution_id    uuid PRIMARY KEY,
        organization_id uuid NOT NULL,
        contact_id      uuid NOT NULL,
        workflow_id     uuid NOT NULL
      );
      CREATE INDEX ai_embeddings_email_contact ON ai_embeddings (organization_id, (source->>'contactId')) WHERE kind = 'email';
    `);
  }
}
