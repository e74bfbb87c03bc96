/** The command API alone: validates commands, decides, appends events. Needs DATABASE_URL and a migrated schema. */
import { startRole } from '../infra/di/container.ts';
import { httpModule } from '../infra/http/module.ts';
import { runProcess } from '../infra/process.ts';
import { commandApiModules } from './modules.ts';

await runProcess('command-api', async () => {
  const started = await startRole('command-api', [...commandApiModules, httpModule('command-api')]);
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
