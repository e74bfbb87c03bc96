import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import type { BillingProvider } from '../../command-api/billing/ports.ts';
import type { Config } from '../../infra/config/config.ts';
import type { Lifecycle } from '../../infra/di/lifecycle.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { defaultUsageReporterOptions, UsageReporter } from './usage-reporter.ts';

/**
 * The usage reporter, one of the projector process's services beside the billing worker (same pace,
 * BILLING_CHECK_MS). Offline (no Stripe key) there is nowhere to report to: it is made but never started,
 * and says so once.
 */
export const usageReporterModule = new ContainerModule((bind) => {
  bind<UsageReporter>(TOKENS.UsageReporter).toDynamicValue(async (ctx) => {
    const [config, billing, orm, logger, lifecycle] = await deps<[Config, BillingProvider, MikroORM, Logger, Lifecycle]>(
      ctx,
      TOKENS.Config,
      TOKENS.BillingProvider,
      TOKENS.Orm,
      TOKENS.Logger,
      TOKENS.Lifecycle,
    );
    const log = logger.child({ component: 'usage-reporter' });
    const reporter = new UsageReporter({ billing, orm, logger: log }, { ...defaultUsageReporterOptions, intervalMs: config.BILLING_CHECK_MS });
    if (billing.mode === 'offline') {
      log.info('billing runs offline: usage is metered but not reported to Stripe');
      return reporter;
    }
    lifecycle.onStart('usage reporter', () => reporter.start());
    lifecycle.onStop('usage reporter', () => reporter.stop());
    return reporter;
  });
});
