import { Migration } from '@mikro-orm/migrations';

/**
 * The embeddings projection finds a contact's row by its id alone (a contact event names the contact, and the
 * primary key leads with the organization): without this index each batch of contact changes scanned the
 * whole table (16 ms a batch at 10,000 contacts, growing with the table).
 */
export class Migration20261207000010 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE INDEX ai_embeddings_item ON ai_embeddings (item_id, kind);`);
  }
}
