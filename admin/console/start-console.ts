import type { Logger } from 'pino';
import type { CommandHandler } from '../../command-api/command-handling.ts';
import type { OrganizationCommands } from '../../command-api/organizations/organization-commands.ts';
import { ParkedEventRetries } from '../../command-api/operations/parked-event-retries.ts';
import { PlanCommands } from '../../command-api/plans/plan-commands.ts';
import { StaffConsole, type ImpersonationTokens } from '../../command-api/staff/staff-console.ts';
import { staffAccountsOn } from '../../infra/auth/staff-accounts-composition.ts';
import type { Config } from '../../infra/config/config.ts';
import type { Platform } from '../../infra/platform.ts';
import { projectionStatuses } from '../../infra/readmodels/projection-status.ts';
import { projectionByName, rebuilding } from '../../infra/readmodels/rebuilding.ts';
import { RebuildJobs } from '../../projectors/rebuild/rebuild-jobs.ts';
import { ParkedEvents } from '../../projectors/runner/parked-events.ts';
import type { ReadModelProgress } from '../../projectors/workflows/reactors.ts';
import { createAdminConsole, type AdminConsole } from './admin-console.ts';
import { Dashboard } from './dashboard.ts';

/** How long a console write waits for its change to show in the read models before showing the page. */
const SETTLE_TIMEOUT_MS = 5_000;

export interface ConsoleParts {
  config: Config;
  logger: Logger;
  platform: Platform;
  handler: CommandHandler;
  organizations: OrganizationCommands;
  tokens: ImpersonationTokens;
  progress: ReadModelProgress;
}

/**
 * The console's composition root (loaded only by processes that serve it: AdminJS alone costs about a
 * second and 100 MB to import).
 */
export async function startAdminConsole(parts: ConsoleParts): Promise<AdminConsole> {
  const { config, logger, platform, handler } = parts;
  const rebuildTools = rebuilding(platform, config, logger.child({ component: 'rebuild' }));
  const rebuildJobs = new RebuildJobs(rebuildTools.rebuilder, rebuildTools.readModels, logger.child({ component: 'rebuild' }));
  const projectionNamed = projectionByName(rebuildTools.readModels);
  const staffConsole = new StaffConsole(
    handler,
    parts.organizations,
    new PlanCommands(handler),
    new ParkedEventRetries(handler, new ParkedEvents(platform.orm, platform.eventStore, projectionNamed)),
    rebuildJobs,
    parts.tokens,
  );
  const statuses = () => projectionStatuses(platform);
  const console = await createAdminConsole({
    logger,
    orm: platform.orm,
    streams: platform.eventStore,
    ephemeral: platform.ephemeral,
    staffAccounts: staffAccountsOn(platform, config, handler),
    staffConsole,
    dashboard: new Dashboard({ pool: platform.pool, statuses }),
    projections: { statuses, job: (readModel) => rebuildJobs.job(readModel), rebuildable: () => rebuildJobs.names() },
    settle: async (names, position) => {
      if (position !== null) await parts.progress.waitFor(names, position, SETTLE_TIMEOUT_MS);
    },
    production: config.NODE_ENV === 'production',
    trustProxy: config.TRUST_PROXY,
    session: { idleMs: config.ADMIN_SESSION_IDLE_MINUTES * 60_000, absoluteMs: config.ADMIN_SESSION_MAX_HOURS * 3_600_000 },
  });
  return {
    ...console,
    async close() {
      await rebuildJobs.stop();
      await console.close();
      rebuildTools.close();
    },
  };
}
