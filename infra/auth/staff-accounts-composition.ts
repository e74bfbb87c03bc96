import { CommandHandler } from '../../command-api/command-handling.ts';
import { StaffAccounts } from '../../command-api/staff/staff-accounts.ts';
import { ValueClaims } from '../../command-api/uniqueness/value-claims.ts';
import type { Config } from '../config/config.ts';
import type { Platform } from '../platform.ts';
import { DataProtection } from './data-protection.ts';
import { defaultLoginLockoutPolicy, LoginLockout } from './login-lockout.ts';
import { ScryptPasswordHasher } from './scrypt-password-hasher.ts';
import { TotpAuthenticator } from './totp.ts';

/**
 * Staff accounts over a started platform: what the console and the `nexusflow staff` commands share. The
 * TOTP secrets are sealed with DATA_ENCRYPTION_KEY (or the token secret); without either, two-factor
 * sign-in cannot be turned on, and says so.
 */
export function staffAccountsOn(
  platform: Pick<Platform, 'eventStore' | 'ephemeral' | 'jwtSecret'>,
  config: Pick<Config, 'PASSWORD_HASH_COST' | 'DATA_ENCRYPTION_KEY' | 'LOGIN_MAX_FAILURES' | 'LOGIN_LOCK_SECONDS'>,
  handler: CommandHandler = new CommandHandler(platform.eventStore),
): StaffAccounts {
  const key = config.DATA_ENCRYPTION_KEY ?? platform.jwtSecret;
  const secrets = key
    ? new DataProtection(key)
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
    new ValueClaims(platform.eventStore, handler),
    new ScryptPasswordHasher(config.PASSWORD_HASH_COST),
    secrets,
    new TotpAuthenticator('NexusFlow staff'),
    new LoginLockout(platform.ephemeral, { ...defaultLoginLockoutPolicy, maxFailures: config.LOGIN_MAX_FAILURES, baseLockMs: config.LOGIN_LOCK_SECONDS * 1000 }),
  );
}
