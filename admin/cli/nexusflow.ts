/**
 * `npx nexusflow <command>`: the operator's command line. Each command opens the platform the environment
 * names (like the processes: the same .env, DATABASE_URL or the embedded data directory, said on stderr),
 * does its work as the operator (`--as`, else the OS user, recorded on every event it causes), and exits
 * with a code scripts can trust (see ExitCode). `--json` prints one JSON document on stdout.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { projectionCommands } from './projections.ts';
import { staffCommands } from './staff.ts';
import { auditCommands } from './audit.ts';
import { gdprCommands } from './gdpr.ts';
import { migrateCommand } from './migrate.ts';
import { actAs, CliError, ExitCode, stdout } from './support.ts';
import { restrictNewFiles } from '../../infra/process.ts';

// Exports and the embedded database hold tenants' data: files the command line creates are the operator's alone.
restrictNewFiles();

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('nexusflow')
  .description('NexusFlow operations: schema, projections and read models, staff accounts, replay and audit, GDPR')
  .version(version, '-V, --version', 'the version of this build')
  .option('--as <operator>', 'who is acting, recorded on every event a command causes (default: the OS user)')
  .showHelpAfterError()
  .exitOverride()
  .hook('preAction', (command) => actAs(command.opts<{ as?: string }>().as));
// Commander lists required options like the others: say which they are.
program.configureHelp({ optionDescription: (option) => `${option.description}${option.required && option.mandatory ? ' (required)' : ''}` });
migrateCommand(program, stdout);
projectionCommands(program, stdout);
staffCommands(program, stdout);
auditCommands(program, stdout);
gdprCommands(program, stdout);

try {
  await program.parseAsync(process.argv);
  process.exitCode = ExitCode.Ok;
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not failures; a bad command line is.
    process.exitCode = err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  } else if (err instanceof CliError) {
    process.stderr.write(`nexusflow: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`nexusflow: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = ExitCode.Failure;
  }
}
