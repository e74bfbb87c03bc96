/**
 * All roles in one process on one port: writes go to the command handlers, reads to the query handlers,
 * projections run alongside. Without DATABASE_URL it runs on the embedded PostgreSQL (no servers needed).
 */
import { startProcess } from './infra/compose.ts';
import { runProcess } from './infra/process.ts';

await runProcess('nexusflow', async () => {
  const started = await startProcess('all', { commands: true, queries: true, projectors: true, admin: true });
  return { running: started, logger: started.logger, shutdownTimeoutMs: started.config.SHUTDOWN_TIMEOUT_MS };
});
