/** The projectors alone: build read models from the log, run reactors, workflows and schedules (serves only /health). */
import { startRole } from '../infra/di/container.ts';
import { httpModule } from '../infra/http/module.ts';
import { runProcess } from '../infra/process.ts';
import { projectorModules } from './modules.ts';

await runProcess('projectors', async () => {
  const started = await startRole('projectors', [...projectorModules, httpModule('projectors')]);
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
