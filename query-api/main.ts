/** The query API alone: reads the read models, search and analytics (no command handler). Needs DATABASE_URL. */
import { startRole } from '../infra/di/container.ts';
import { httpModule } from '../infra/http/module.ts';
import { runProcess } from '../infra/process.ts';
import { queryApiModules } from './modules.ts';

await runProcess('query-api', async () => {
  const started = await startRole('query-api', [...queryApiModules, httpModule('query-api')]);
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
