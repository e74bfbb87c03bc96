/** The query API alone: answers from read models only. Needs DATABASE_URL. */
import { startProcess } from '../infra/compose.ts';
import { runProcess } from '../infra/process.ts';

await runProcess('query-api', async () => {
  const started = await startProcess('query-api', { commands: false, queries: true, projectors: false });
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
