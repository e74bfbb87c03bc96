import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import type { Config } from '../../infra/config/config.ts';
import { Lifecycle } from '../../infra/di/lifecycle.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import type { Notifications } from '../../infra/notifications/notifications.ts';
import type { CommandHandler } from '../command-handling.ts';
import { OrganizationCommands } from './organization-commands.ts';
import { OrganizationStatusCache } from './organization-status.ts';
import { organizationCommandRoutes } from './routes.ts';

/** Organizations: their commands and the suspension check every write passes (the staff console uses them too). */
export const organizationServicesModule = new ContainerModule((bind) => {
  bind<OrganizationStatusCache>(TOKENS.OrganizationStatus).toDynamicValue(async (ctx) => {
    const [config, handler, notifications, logger, lifecycle] = await deps<[Config, CommandHandler, Notifications, Logger, Lifecycle]>(
      ctx,
      TOKENS.Config,
      TOKENS.CommandHandler,
      TOKENS.Notifications,
      TOKENS.Logger,
      TOKENS.Lifecycle,
    );
    const status = new OrganizationStatusCache(
      handler,
      notifications,
      logger.child({ component: 'organization-status' }),
      config.ORGANIZATION_STATUS_CACHE_MS,
      config.BILLING_GRACE_DAYS,
    );
    lifecycle.onStop('organization status', () => status.close());
    return status;
  });
  bind(TOKENS.OrganizationCommands).to(OrganizationCommands);
});

/** The organization's routes, and the suspension check on every write of the API. */
export const organizationRoutesModule = new ContainerModule((bind) => {
  bind(TOKENS.Suspensions).toDynamicValue((ctx) => ctx.container.getAsync(TOKENS.OrganizationStatus));
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [organizations] = await deps<[OrganizationCommands]>(ctx, TOKENS.OrganizationCommands);
    return organizationCommandRoutes(organizations);
  });
});
