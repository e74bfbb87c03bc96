/** The command API alone: validates commands, decides, appends events. Needs DATABASE_URL. */
import { startProcess } from '../infra/compose.ts';
import { runProcess } from '../infra/process.ts';

await runProcess('command-api', async () => {
  const started = await startProcess('command-api', { commands: true, queries: false, projectors: false });
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
