import { Migration } from '@mikro-orm/migrations';

/**
 * One key per person whose data the log holds (crypto-shredding): the key, sealed with the data-protection
 * key, until the person is erased; then only the fact that they were erased remains.
 */
export class Migration20261202000004 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE personal_data_keys (
        subject_id  text PRIMARY KEY,
        sealed_key  text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        erased_at   timestamptz,
        CHECK ((sealed_key IS NULL) = (erased_at IS NOT NULL))
      );
    `);
  }
}
