import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import type { BillingCommands } from '../../command-api/billing/billing-commands.ts';
import type { BillingProvider } from '../../command-api/billing/ports.ts';
import type { Mailer } from '../../command-api/ports.ts';
import type { Config } from '../../infra/config/config.ts';
import { organizationAdmins } from '../../infra/crm/module.ts';
import type { Lifecycle } from '../../infra/di/lifecycle.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { HealthChecks } from '../../infra/di/lifecycle.ts';
import { bindProjection } from '../module.ts';
import { billingProjection } from './billing-projection.ts';
import { BillingWorker } from './billing-worker.ts';
import { meteringProjection } from './metering-projection.ts';

/** Billing accounts (subscription, scheduled change, standing) and invoices. */
export const billingProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => billingProjection);
  // Usage per organization and day, counted from the log (GET /billing/usage, the usage reporter).
  bindProjection(bind, () => meteringProjection);
});

const HOUR_MS = 3_600_000;

/**
 * The billing worker: standing by the clock, plan changes due at a period end, reconciliation with Stripe.
 * Acts through billing's commands (billingServicesModule).
 */
export const billingWorkerModule = new ContainerModule((bind) => {
  bind<BillingWorker>(TOKENS.BillingWorker).toDynamicValue(async (ctx) => {
    const [config, commands, billing, orm, mailer, logger, lifecycle, health] = await deps<
      [Config, BillingCommands, BillingProvider, MikroORM, Mailer, Logger, Lifecycle, HealthChecks]
    >(
      ctx,
      TOKENS.Config,
      TOKENS.BillingCommands,
      TOKENS.BillingProvider,
      TOKENS.Orm,
      TOKENS.Mailer,
      TOKENS.Logger,
      TOKENS.Lifecycle,
      TOKENS.HealthChecks,
    );
    const log = logger.child({ component: 'billing-worker' });
    const worker = new BillingWorker(
      { commands, orm, mailer, admins: organizationAdmins(orm), logger: log },
      {
        intervalMs: config.BILLING_CHECK_MS,
        leadMs: HOUR_MS,
        reconcileBackMs: 72 * HOUR_MS,
        reconcileOverlapMs: 10 * 60_000,
        appUrl: config.APP_URL ?? null,
      },
    );
    health.add({ name: 'billing', check: async () => ({ ok: true, detail: { mode: billing.mode } }) });
    lifecycle.onStart('billing worker', () => worker.start());
    lifecycle.onStop('billing worker', () => worker.stop());
    return worker;
  });
});
