/**
 * `npx nexusflow <command>`: the operator's command line. Each command opens the platform the environment
 * names (like the processes: DATABASE_URL, or the embedded data directory), does its work, and exits with a
 * code scripts can trust (see ExitCode). `--json` prints one JSON document on stdout.
 */
import { Command, CommanderError } from 'commander';
import { projectionCommands } from './projections.ts';
import { staffCommands } from './staff.ts';
import { auditCommands } from './audit.ts';
import { gdprCommands } from './gdpr.ts';
import { CliError, ExitCode, stdout } from './support.ts';
import { restrictNewFiles } from '../../infra/process.ts';

// Exports and the embedded database hold tenants' data: files the command line creates are the operator's alone.
restrictNewFiles();

const program = new Command('nexusflow')
  .description('NexusFlow operations: projections and read models, staff accounts, replay and audit')
  .showHelpAfterError()
  .exitOverride();
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
