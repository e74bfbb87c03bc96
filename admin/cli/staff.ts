import type { Command } from 'commander';
import { z } from 'zod';
import { ConflictError, DomainError } from '../../domain/errors.ts';
import { staffRoles } from '../../domain/staff/staff-permissions.ts';
import { CliError, ExitCode, parseOrUsage, withPlatform, type Output } from './support.ts';

const createOptions = z.object({
  email: z.email({ error: 'must be an email address' }),
  password: z.string().min(12, { error: 'must be at least 12 characters' }).max(200),
  role: z.enum(staffRoles, { error: `must be one of ${staffRoles.join(', ')}` }),
  name: z.string().trim().min(1).max(200).optional(),
  json: z.boolean().optional(),
});

/** `nexusflow staff …`: staff accounts of the console, created here so that none ever has a default password. */
export function staffCommands(program: Command, output: Output): void {
  const command = program.command('staff').description('Staff accounts of the admin console (never tenant users)');

  command
    .command('create')
    .description('Create a staff account; the first admin is made this way')
    .requiredOption('--email <email>', 'sign-in email')
    .option('--password <password>', 'at least 12 characters (or set NEXUSFLOW_STAFF_PASSWORD, which stays out of shell history)')
    .requiredOption('--role <role>', `one of ${staffRoles.join(', ')}`)
    .option('--name <name>', 'display name (default: the email)')
    .option('--json', 'one JSON document on stdout')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOrUsage(createOptions, { ...raw, password: raw.password ?? process.env.NEXUSFLOW_STAFF_PASSWORD });
      await withPlatform(async ({ services, operator }) => {
        const accounts = await services.staffAccounts();
        try {
          const staff = await accounts.create(operator.context(), {
            email: options.email,
            password: options.password,
            role: options.role,
            name: options.name ?? options.email,
          });
          if (options.json) return output.json(staff);
          output.line(`staff member ${staff.email} created (${staff.role}), id ${staff.id}`);
        } catch (err) {
          if (err instanceof ConflictError) throw new CliError(err.message, ExitCode.Conflict);
          if (err instanceof DomainError) throw new CliError(err.message, ExitCode.Usage);
          throw err;
        }
      });
    });

  command
    .command('totp')
    .description('Turn on two-factor sign-in for a staff member; prints the secret and otpauth:// URI once')
    .requiredOption('--email <email>', 'the staff member')
    .option('--json', 'one JSON document on stdout')
    .action(async (options: { email: string; json?: boolean }) => {
      await withPlatform(async ({ services, operator }) => {
        const accounts = await services.staffAccounts();
        try {
          const { secret, otpauthUri } = await accounts.enableTotp(operator.context(), options.email);
          if (options.json) return output.json({ email: options.email, secret, otpauthUri });
          output.line(`two-factor sign-in is on for ${options.email}. Add this to an authenticator app (shown once):`);
          output.line(`  secret: ${secret}`);
          output.line(`  ${otpauthUri}`);
        } catch (err) {
          if (err instanceof ConflictError) throw new CliError(err.message, ExitCode.Conflict);
          if (err instanceof DomainError) throw new CliError(err.message, ExitCode.Usage);
          throw err;
        }
      });
    });
}
