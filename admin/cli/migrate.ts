import type { Command } from 'commander';
import { withMigrations, type Output } from './support.ts';

/** `nexusflow migrate`: brings the schema to this build's version (processes refuse to start on another). */
export function migrateCommand(program: Command, output: Output): void {
  program
    .command('migrate')
    .description(
      "Bring the database (and the search and analytics stores) to this build's schema; idempotent, safe to run from several places at once",
    )
    .option('--json', 'one JSON document on stdout')
    .action(async (options: { json?: boolean }) => {
      await withMigrations(async (migrate) => {
        const report = await migrate();
        if (options.json) return output.json(report);
        output.line(
          `schema ${report.from === report.to ? 'already at' : `migrated from ${report.from ?? '(none)'} to`} version ${report.to}: ${report.steps.join(', ')}`,
        );
      });
    });
}
