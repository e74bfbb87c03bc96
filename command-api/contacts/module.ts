import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import { deps, optional } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { QuotaGate } from '../billing/quota-gate.ts';
import type { ValueClaims } from '../uniqueness/value-claims.ts';
import { ContactCommands } from './contact-commands.ts';
import { contactCommandRoutes } from './routes.ts';

/** Contacts' commands: the API's, the workflow runner's (update_contact, tags) and the erasure's. */
export const contactServicesModule = new ContainerModule((bind) => {
  bind<ContactCommands>(TOKENS.ContactCommands).toDynamicValue(async (ctx) => {
    const [handler, claims, logger] = await deps<[CommandHandler, ValueClaims, Logger]>(
      ctx,
      TOKENS.CommandHandler,
      TOKENS.ValueClaims,
      TOKENS.Logger,
    );
    // Every role that serves contact commands binds the plan limits (quotaModule); a test's spec may not.
    const quotas = await optional<QuotaGate>(ctx, TOKENS.QuotaGate);
    return new ContactCommands(handler, claims, logger.child({ component: 'contacts' }), quotas);
  });
});

export const contactRoutesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [contacts] = await deps<[ContactCommands]>(ctx, TOKENS.ContactCommands);
    return contactCommandRoutes(contacts);
  });
});
