/**
 * The staff console's process. The AdminJS console itself arrives with the console issue; until then this
 * process serves /health like every other one, so deployments can already include it. Needs DATABASE_URL.
 */
import { startProcess } from '../infra/compose.ts';
import { runProcess } from '../infra/process.ts';

await runProcess('admin', async () => {
  const started = await startProcess('admin', { commands: false, queries: false, projectors: false });
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
