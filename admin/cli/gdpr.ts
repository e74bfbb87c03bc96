import type { Command } from 'commander';
import { z } from 'zod';
import { DomainError, NotFoundError } from '../../domain/errors.ts';
import { CliError, ExitCode, withPlatform, type Output } from './support.ts';

/** `nexusflow gdpr …`: erasure of a person's data, keeping the log (crypto-shredding). */
export function gdprCommands(program: Command, output: Output): void {
  program
    .command('gdpr')
    .description("Data subjects' rights")
    .command('erase')
    .argument('<contactId>', 'the contact to erase')
    .option('--tenant <organizationId>', 'refuse unless the contact belongs to this organization')
    .option('--yes', 'really erase: it cannot be undone (required)')
    .option('--json', 'one JSON document on stdout')
    .description('Erase a contact: delete them, record the erasure, destroy their key; the log and its hash chains stay. Irreversible: needs --yes')
    .action(async (contactId: string, options: { tenant?: string; yes?: boolean; json?: boolean }) => {
      if (!z.uuid().safeParse(contactId).success) throw new CliError('<contactId> must be a contact id (a UUID)', ExitCode.Usage);
      if (options.tenant !== undefined && !z.uuid().safeParse(options.tenant).success)
        throw new CliError('--tenant must be an organization id', ExitCode.Usage);
      if (!options.yes) throw new CliError(`erasing contact ${contactId} cannot be undone: run again with --yes`, ExitCode.Usage);
      await withPlatform(async ({ services, operator }) => {
        const erasure = await services.erasure();
        try {
          const outcome = await erasure.eraseContact(operator.context(), contactId, options.tenant);
          if (options.json) return output.json(outcome);
          output.line(
            outcome.erased
              ? `contact ${contactId} erased${outcome.deletedNow ? ' (deleted first)' : ''}: their events now read as [erased]; recorded at position ${outcome.position}`
              : `contact ${contactId} was erased already; their key is gone`,
          );
        } catch (err) {
          if (err instanceof NotFoundError)
            throw new CliError(`no contact ${contactId}${options.tenant ? ` in organization ${options.tenant}` : ''}`, ExitCode.Failure);
          if (err instanceof DomainError) throw new CliError(err.message, ExitCode.Conflict);
          throw err;
        }
      });
    });
}
