import { ContainerModule } from 'inversify';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { MeteredCurrentUsage } from '../../infra/billing/current-usage.ts';
import type { Config } from '../../infra/config/config.ts';
import { deps, optional } from '../../infra/di/resolve.ts';
import type { Metrics } from '../../infra/observability/metrics.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { OrganizationStatusCache } from '../organizations/organization-status.ts';
import { BillingCommands } from './billing-commands.ts';
import type { BillingProvider } from './ports.ts';
import type { EventStreams } from '../ports.ts';
import { QuotaGate } from './quota-gate.ts';
import { billingCommandRoutes } from './routes.ts';

/** Billing's commands: subscribe, change plan, cancel, payment methods, Stripe's webhooks (issue 21). */
export const billingServicesModule = new ContainerModule((bind) => {
  bind<BillingCommands>(TOKENS.BillingCommands).toDynamicValue(async (ctx) => {
    const [config, handler, billing, logger, status, orm] = await deps<
      [Config, CommandHandler, BillingProvider, Logger, OrganizationStatusCache, MikroORM]
    >(ctx, TOKENS.Config, TOKENS.CommandHandler, TOKENS.BillingProvider, TOKENS.Logger, TOKENS.OrganizationStatus, TOKENS.Orm);
    return new BillingCommands({
      handler,
      billing,
      graceDays: config.BILLING_GRACE_DAYS,
      // A plan change is refused when the organization's usage (the metering read model) exceeds the plan's limits.
      currentUsage: new MeteredCurrentUsage(orm),
      logger: logger.child({ component: 'billing' }),
      standingChanged: (organizationId) => status.changed(organizationId),
    });
  });
});

export const billingRoutesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [commands] = await deps<[BillingCommands]>(ctx, TOKENS.BillingCommands);
    return billingCommandRoutes(commands);
  });
});

/**
 * Plan limits at the moment of the write, for every role whose commands take or give back units: contacts
 * (the API, a CRM import, a workflow step; deleted by the API or an erasure), active workflows, seats. Needs
 * the organization status copy (organizationServicesModule).
 */
export const quotaModule = new ContainerModule((bind) => {
  bind<QuotaGate>(TOKENS.QuotaGate).toDynamicValue(async (ctx) => {
    const [streams, status] = await deps<[EventStreams, OrganizationStatusCache]>(ctx, TOKENS.EventStore, TOKENS.OrganizationStatus);
    return new QuotaGate(streams, status, await optional<Metrics>(ctx, TOKENS.Metrics));
  });
});
