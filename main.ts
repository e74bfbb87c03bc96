/**
 * All roles in one process on one port: writes go to the command handlers, reads to the query handlers,
 * projections run alongside, the staff console at /admin. Without DATABASE_URL it runs on the embedded
 * PostgreSQL (no servers needed) and brings its schema up to date itself.
 */
import { adminModules } from './admin/modules.ts';
import { commandApiModules } from './command-api/modules.ts';
import { startRole } from './infra/di/container.ts';
import { httpModule } from './infra/http/module.ts';
import { runProcess } from './infra/process.ts';
import { projectorModules } from './projectors/modules.ts';
import { queryApiModules } from './query-api/modules.ts';

await runProcess('nexusflow', async () => {
  const started = await startRole('all', [...commandApiModules, ...queryApiModules, ...projectorModules, ...adminModules, httpModule('all')]);
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
