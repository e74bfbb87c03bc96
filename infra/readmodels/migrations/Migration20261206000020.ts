import { Migration } from '@mikro-orm/migrations';

/**
 * A per-organization setting that turns the AI service off (issue 22): the organizations read model shows it
 * (AiSettingsChanged). Every organization has it on until its managers turn it off, those that exist already
 * included, hence the default.
 */
export class Migration20261206000020 extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE organizations ADD COLUMN ai_enabled boolean NOT NULL DEFAULT true;');
  }
}
