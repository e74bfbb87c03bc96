import { Migration } from '@mikro-orm/migrations';

/** Which generation of each rebuildable read model (search, analytics) is served; absent: generation 1. */
export class Migration20261202000001 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE read_model_generations (
        name        text PRIMARY KEY,
        generation  integer NOT NULL CHECK (generation >= 1),
        switched_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }
}
