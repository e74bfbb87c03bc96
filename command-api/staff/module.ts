import { ContainerModule } from 'inversify';
import type { Config } from '../../infra/config/config.ts';
import { DataProtection } from '../../infra/auth/data-protection.ts';
import { defaultLoginLockoutPolicy, LoginLockout } from '../../infra/auth/login-lockout.ts';
import { ScryptPasswordHasher } from '../../infra/auth/scrypt-password-hasher.ts';
import { TotpAuthenticator } from '../../infra/auth/totp.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';
import type { Secrets } from '../../infra/postgres/module.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { ValueClaims } from '../uniqueness/value-claims.ts';
import { StaffAccounts } from './staff-accounts.ts';
import { StaffConsole } from './staff-console.ts';

/**
 * Staff accounts (the console's sign-in and `nexusflow staff`). The TOTP secrets are sealed with
 * DATA_ENCRYPTION_KEY (or the token secret); without either, two-factor sign-in cannot be turned on, and says so.
 */
export const staffAccountsModule = new ContainerModule((bind) => {
  bind<StaffAccounts>(TOKENS.StaffAccounts).toDynamicValue(async (ctx) => {
    const [config, handler, claims, secrets, ephemeral] = await deps<[Config, CommandHandler, ValueClaims, Secrets, EphemeralStore]>(
      ctx,
      TOKENS.Config,
      TOKENS.CommandHandler,
      TOKENS.ValueClaims,
      TOKENS.Secrets,
      TOKENS.Ephemeral,
    );
    const sealer = secrets.dataKey
      ? new DataProtection(secrets.dataKey)
      : {
          encrypt(): string {
            throw new Error('set DATA_ENCRYPTION_KEY (or JWT_SECRET) to seal two-factor secrets');
          },
          decrypt(): string {
            throw new Error('set DATA_ENCRYPTION_KEY (or JWT_SECRET) to open two-factor secrets');
          },
        };
    return new StaffAccounts(
      handler,
      claims,
      new ScryptPasswordHasher(config.PASSWORD_HASH_COST),
      sealer,
      new TotpAuthenticator('NexusFlow staff'),
      new LoginLockout(ephemeral, {
        ...defaultLoginLockoutPolicy,
        maxFailures: config.LOGIN_MAX_FAILURES,
        baseLockMs: config.LOGIN_LOCK_SECONDS * 1000,
      }),
    );
  });
});

/** What staff do in the console, each a command with the staff member as actor, permission-checked. */
export const staffConsoleCommandsModule = new ContainerModule((bind) => {
  bind(TOKENS.StaffConsole).to(StaffConsole);
});
