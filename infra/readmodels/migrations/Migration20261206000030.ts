import { Migration } from '@mikro-orm/migrations';

/**
 * The embeddings projection's own copy of what a contact's embedding text is made from (names, title,
 * company, tags: projectors/ai/embeddings-projection.ts), so that a change to one field renders the text
 * again without reading another projection's table. Deleted with the row on erasure.
 */
export class Migration20261206000030 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`ALTER TABLE ai_embeddings ADD COLUMN source jsonb NOT NULL DEFAULT '{}'::jsonb;`);
  }

  override async down(): Promise<void> {
    this.addSql(`ALTER TABLE ai_embeddings DROP COLUMN source;`);
  }
}
