/**
 * The staff console's process: AdminJS at /admin over the read models, every write a staff command through
 * the command handlers, plus /health like every process. Needs DATABASE_URL (and JWT_SECRET); it runs no
 * projections (it waits for the projectors process to apply what it wrote).
 */
import { startProcess } from '../infra/compose.ts';
import { runProcess } from '../infra/process.ts';

await runProcess('admin', async () => {
  const started = await startProcess('admin', { commands: false, queries: false, projectors: false, admin: true });
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
