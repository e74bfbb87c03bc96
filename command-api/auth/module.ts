import { ContainerModule } from 'inversify';
import type { Config } from '../../infra/config/config.ts';
import { DataProtection } from '../../infra/auth/data-protection.ts';
import { defaultLoginLockoutPolicy, LoginLockout } from '../../infra/auth/login-lockout.ts';
import { SealedRecentRotations } from '../../infra/auth/recent-rotations.ts';
import { ScryptPasswordHasher } from '../../infra/auth/scrypt-password-hasher.ts';
import { TotpAuthenticator } from '../../infra/auth/totp.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import type { Secrets } from '../../infra/postgres/module.ts';
import { Accounts, type AccountPolicy } from './accounts.ts';
import { SecondFactors } from './mfa.ts';
import type { LoginAttempts, PasswordHasher } from './ports.ts';
import { authCommandRoutes } from './routes.ts';
import { Sessions } from './sessions.ts';

/** Lifetimes of the links and challenges the command side hands out. */
const SIGNUP_TTL_MS = 24 * 60 * 60_000;
const RESET_TTL_MS = 60 * 60_000;
const MFA_CHALLENGE_TTL_SECONDS = 300;

/** The base of the links in emails. */
export const appUrlOf = (config: Config) => config.APP_URL ?? `http://localhost:${config.PORT}`;

/** Sign-up, sign-in, sessions and second factors: the services (used by the users capability too). */
export const authServicesModule = new ContainerModule((bind) => {
  bind<PasswordHasher>(TOKENS.PasswordHasher).toDynamicValue(async (ctx) => {
    const [config] = await deps<[Config]>(ctx, TOKENS.Config);
    return new ScryptPasswordHasher(config.PASSWORD_HASH_COST);
  });
  bind<LoginAttempts>(TOKENS.LoginAttempts).toDynamicValue(async (ctx) => {
    const [config, ephemeral] = await deps<[Config, EphemeralStore]>(ctx, TOKENS.Config, TOKENS.Ephemeral);
    return new LoginLockout(ephemeral, {
      ...defaultLoginLockoutPolicy,
      maxFailures: config.LOGIN_MAX_FAILURES,
      baseLockMs: config.LOGIN_LOCK_SECONDS * 1000,
    });
  });
  bind<DataProtection>(TOKENS.SecretBox).toDynamicValue(async (ctx) => {
    const [secrets] = await deps<[Secrets]>(ctx, TOKENS.Secrets);
    if (!secrets.dataKey) throw new Error('no data key: set DATA_ENCRYPTION_KEY (or JWT_SECRET)');
    return new DataProtection(secrets.dataKey);
  });
  bind<TotpAuthenticator>(TOKENS.OneTimePasswords).toConstantValue(new TotpAuthenticator('NexusFlow'));
  bind<SealedRecentRotations>(TOKENS.RecentRotations).toDynamicValue(async (ctx) => {
    const [config, ephemeral, box] = await deps<[Config, EphemeralStore, DataProtection]>(ctx, TOKENS.Config, TOKENS.Ephemeral, TOKENS.SecretBox);
    return new SealedRecentRotations(ephemeral, box, config.REFRESH_REUSE_GRACE_SECONDS * 1000);
  });
  bind<AccountPolicy>(TOKENS.AccountPolicy).toDynamicValue(async (ctx) => {
    const [config] = await deps<[Config]>(ctx, TOKENS.Config);
    return { appUrl: appUrlOf(config), signupTtlMs: SIGNUP_TTL_MS, resetTtlMs: RESET_TTL_MS, challengeTtlSeconds: MFA_CHALLENGE_TTL_SECONDS };
  });
  bind(TOKENS.Sessions).to(Sessions);
  bind(TOKENS.Accounts).to(Accounts);
  bind(TOKENS.SecondFactors).to(SecondFactors);
});

export const authRoutesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [accounts, sessions, secondFactors] = await deps<[Accounts, Sessions, SecondFactors]>(
      ctx,
      TOKENS.Accounts,
      TOKENS.Sessions,
      TOKENS.SecondFactors,
    );
    return authCommandRoutes(accounts, sessions, secondFactors);
  });
});
