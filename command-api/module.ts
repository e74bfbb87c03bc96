import { ContainerModule, type interfaces } from 'inversify';
import type { Logger } from 'pino';
import type { DataProtection } from '../infra/auth/data-protection.ts';
import { SealedRecentRotations } from '../infra/auth/recent-rotations.ts';
import type { Config } from '../infra/config/config.ts';
import { TOKENS } from '../infra/di/tokens.ts';
import type { AnyRoute } from '../infra/http/routes.ts';
import type { Platform } from '../infra/platform.ts';
import { apiKeyCommandRoutes } from './api-keys/routes.ts';
import { Accounts } from './auth/accounts.ts';
import { SecondFactors } from './auth/mfa.ts';
import { authCommandRoutes } from './auth/routes.ts';
import { Sessions } from './auth/sessions.ts';
import { contactCommandRoutes } from './contacts/routes.ts';
import { organizationCommandRoutes } from './organizations/routes.ts';
import { MembershipCommands } from './users/membership-commands.ts';
import { userCommandRoutes } from './users/routes.ts';
import { ExecutionCommands } from './workflows/execution-commands.ts';
import { workflowCommandRoutes } from './workflows/routes.ts';
import { WorkflowCommands } from './workflows/workflow-commands.ts';

/** Lifetimes of the links and challenges the command side hands out. */
const SIGNUP_TTL_MS = 24 * 60 * 60_000;
const RESET_TTL_MS = 60 * 60_000;
const INVITATION_TTL_MS = 7 * 24 * 60 * 60_000;
const MFA_CHALLENGE_TTL_SECONDS = 300;

/**
 * The command side: handlers and routes. Expects the shared parts bound by the composition root
 * (CommandHandler, ValueClaims, ContactCommands, ExecutionStarter, Tokens, PasswordHasher, SessionRevocations,
 * LoginAttempts, Mailer, ...): the projectors' reactors and the workflow runner use some of them too.
 */
export const commandApiModule = new ContainerModule((bind) => {
  const get = <T>(ctx: interfaces.Context, token: symbol) => ctx.container.get<T>(token);
  const config = (ctx: interfaces.Context) => get<Config>(ctx, TOKENS.Config);
  const logger = (ctx: interfaces.Context, component: string) => get<Logger>(ctx, TOKENS.Logger).child({ component });
  const appUrl = (ctx: interfaces.Context) => config(ctx).APP_URL ?? `http://localhost:${config(ctx).PORT}`;

  bind(TOKENS.WorkflowCommands)
    .toDynamicValue((ctx) => new WorkflowCommands(get(ctx, TOKENS.CommandHandler)))
    .inSingletonScope();
  bind(TOKENS.ExecutionCommands)
    .toDynamicValue((ctx) => new ExecutionCommands(get(ctx, TOKENS.CommandHandler)))
    .inSingletonScope();
  bind(TOKENS.Sessions)
    .toDynamicValue(
      (ctx) =>
        new Sessions(
          get(ctx, TOKENS.CommandHandler),
          get(ctx, TOKENS.Tokens),
          get(ctx, TOKENS.SessionRevocations),
          new SealedRecentRotations(
            get<Platform>(ctx, TOKENS.Platform).ephemeral,
            get<DataProtection>(ctx, TOKENS.SecretBox),
            config(ctx).REFRESH_REUSE_GRACE_SECONDS * 1000,
          ),
        ),
    )
    .inSingletonScope();
  bind(TOKENS.Accounts)
    .toDynamicValue(
      (ctx) =>
        new Accounts(
          get(ctx, TOKENS.CommandHandler),
          get(ctx, TOKENS.ValueClaims),
          get(ctx, TOKENS.PasswordHasher),
          get(ctx, TOKENS.Sessions),
          get(ctx, TOKENS.Tokens),
          get(ctx, TOKENS.LoginAttempts),
          get(ctx, TOKENS.SessionRevocations),
          get(ctx, TOKENS.AccountMailer),
          get(ctx, TOKENS.BackgroundWork),
          { appUrl: appUrl(ctx), signupTtlMs: SIGNUP_TTL_MS, resetTtlMs: RESET_TTL_MS, challengeTtlSeconds: MFA_CHALLENGE_TTL_SECONDS },
        ),
    )
    .inSingletonScope();
  bind(TOKENS.SecondFactors)
    .toDynamicValue(
      (ctx) =>
        new SecondFactors(
          get(ctx, TOKENS.CommandHandler),
          get(ctx, TOKENS.OneTimePasswords),
          get(ctx, TOKENS.SecretBox),
          get(ctx, TOKENS.PasswordHasher),
          get(ctx, TOKENS.Tokens),
          get(ctx, TOKENS.Sessions),
          get(ctx, TOKENS.LoginAttempts),
        ),
    )
    .inSingletonScope();
  bind(TOKENS.MembershipCommands)
    .toDynamicValue(
      (ctx) =>
        new MembershipCommands(
          get(ctx, TOKENS.CommandHandler),
          get(ctx, TOKENS.Accounts),
          get(ctx, TOKENS.Sessions),
          get(ctx, TOKENS.PasswordHasher),
          get(ctx, TOKENS.SessionRevocations),
          get(ctx, TOKENS.AccountMailer),
          { appUrl: appUrl(ctx), invitationTtlMs: INVITATION_TTL_MS },
        ),
    )
    .inSingletonScope();
  bind<AnyRoute[]>(TOKENS.CommandRoutes)
    .toDynamicValue((ctx) => [
      ...authCommandRoutes(get(ctx, TOKENS.Accounts), get(ctx, TOKENS.Sessions), get(ctx, TOKENS.SecondFactors)),
      ...organizationCommandRoutes(get(ctx, TOKENS.OrganizationCommands)),
      ...userCommandRoutes(get(ctx, TOKENS.MembershipCommands)),
      ...apiKeyCommandRoutes(get(ctx, TOKENS.ApiKeyCommands)),
      ...contactCommandRoutes(get(ctx, TOKENS.ContactCommands)),
      ...workflowCommandRoutes(get(ctx, TOKENS.WorkflowCommands), get(ctx, TOKENS.ExecutionStarter), get(ctx, TOKENS.ExecutionCommands)),
    ])
    .inSingletonScope();
});
