/**
 * The staff console's process: AdminJS at /admin over the read models, every write a staff command, plus
 * /health like every process. It runs no projections (it waits for the projectors to apply what it wrote).
 */
import { startRole } from '../infra/di/container.ts';
import { httpModule } from '../infra/http/module.ts';
import { runProcess } from '../infra/process.ts';
import { adminModules } from './modules.ts';

await runProcess('admin', async () => {
  const started = await startRole('admin', [...adminModules, httpModule('admin')]);
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
