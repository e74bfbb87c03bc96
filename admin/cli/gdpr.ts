import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { z } from 'zod';
import { CommandHandler } from '../../command-api/command-handling.ts';
import { ContactCommands } from '../../command-api/contacts/contact-commands.ts';
import { PersonalDataErasure } from '../../command-api/privacy/erasure.ts';
import { ValueClaims } from '../../command-api/uniqueness/value-claims.ts';
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
    .option('--json', 'one JSON document on stdout')
    .description('Erase a contact: delete them, record the erasure, destroy their key; the log and its hash chains stay')
    .action(async (contactId: string, options: { tenant?: string; json?: boolean }) => {
      if (!z.uuid().safeParse(contactId).success) throw new CliError('<contactId> must be a contact id (a UUID)', ExitCode.Usage);
      if (options.tenant !== undefined && !z.uuid().safeParse(options.tenant).success) throw new CliError('--tenant must be an organization id', ExitCode.Usage);
      await withPlatform(async ({ platform, logger }) => {
        const handler = new CommandHandler(platform.eventStore);
        const erasure = new PersonalDataErasure(handler, new ContactCommands(handler, new ValueClaims(platform.eventStore, handler), logger), platform.personalDataKeys);
        const id = randomUUID();
        try {
          const outcome = await erasure.eraseContact(
            { tenantId: null, actor: { type: 'system', id: 'nexusflow-cli' }, correlationId: id, causationId: id, now: new Date() },
            contactId,
            options.tenant,
          );
          if (options.json) return output.json(outcome);
          output.line(
            outcome.erased
              ? `contact ${contactId} erased${outcome.deletedNow ? ' (deleted first)' : ''}: their events now read as [erased]; recorded at position ${outcome.position}`
              : `contact ${contactId} was erased already; their key is gone`,
          );
        } catch (err) {
          if (err instanceof NotFoundError) throw new CliError(`no contact ${contactId}${options.tenant ? ` in organization ${options.tenant}` : ''}`, ExitCode.Failure);
          if (err instanceof DomainError) throw new CliError(err.message, ExitCode.Conflict);
          throw err;
        }
      });
    });
}
