/** The projectors alone: build read models from the event log (serves only /health). Needs DATABASE_URL. */
import { startProcess } from '../infra/compose.ts';
import { runProcess } from '../infra/process.ts';

await runProcess('projectors', async () => {
  const started = await startProcess('projectors', { commands: false, queries: false, projectors: true });
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
