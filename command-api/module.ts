import { ContainerModule, type interfaces } from 'inversify';
import type { Logger } from 'pino';
import { TOKENS } from '../infra/di/tokens.ts';
import type { AnyRoute } from '../infra/http/routes.ts';
import { Accounts } from './auth/accounts.ts';
import type { LoginAttempts, PasswordHasher, SessionRevocations, TokenIssuer } from './auth/ports.ts';
import { Sessions } from './auth/sessions.ts';
import { authCommandRoutes } from './auth/routes.ts';
import { CommandHandler } from './command-handling.ts';
import { ContactCommands } from './contacts/contact-commands.ts';
import { contactCommandRoutes } from './contacts/routes.ts';
import type { EventStreams } from './ports.ts';
import { ValueClaims } from './uniqueness/value-claims.ts';

/** The command side: handlers and routes. Expects EventStreams, Tokens, PasswordHasher, Logger bound. */
export const commandApiModule = new ContainerModule((bind) => {
  const get = <T>(ctx: interfaces.Context, token: symbol) => ctx.container.get<T>(token);
  bind(TOKENS.CommandHandler)
    .toDynamicValue((ctx) => new CommandHandler(get<EventStreams>(ctx, TOKENS.EventStreams)))
    .inSingletonScope();
  bind(TOKENS.ValueClaims)
    .toDynamicValue((ctx) => new ValueClaims(get(ctx, TOKENS.EventStreams), get(ctx, TOKENS.CommandHandler)))
    .inSingletonScope();
  bind(TOKENS.ContactCommands)
    .toDynamicValue(
      (ctx) =>
        new ContactCommands(
          get(ctx, TOKENS.CommandHandler),
          get(ctx, TOKENS.ValueClaims),
          get<Logger>(ctx, TOKENS.Logger).child({ component: 'contacts' }),
        ),
    )
    .inSingletonScope();
  bind(TOKENS.Sessions)
    .toDynamicValue(
      (ctx) =>
        new Sessions(
          get(ctx, TOKENS.CommandHandler),
          get<TokenIssuer>(ctx, TOKENS.Tokens),
          get<SessionRevocations>(ctx, TOKENS.SessionRevocations),
        ),
    )
    .inSingletonScope();
  bind(TOKENS.Accounts)
    .toDynamicValue(
      (ctx) =>
        new Accounts(
          get(ctx, TOKENS.CommandHandler),
          get(ctx, TOKENS.ValueClaims),
          get<PasswordHasher>(ctx, TOKENS.PasswordHasher),
          get<Sessions>(ctx, TOKENS.Sessions),
          get<LoginAttempts>(ctx, TOKENS.LoginAttempts),
        ),
    )
    .inSingletonScope();
  bind<AnyRoute[]>(TOKENS.CommandRoutes)
    .toDynamicValue((ctx) => [
      ...authCommandRoutes(get(ctx, TOKENS.Accounts), get(ctx, TOKENS.Sessions)),
      ...contactCommandRoutes(get(ctx, TOKENS.ContactCommands)),
    ])
    .inSingletonScope();
});
