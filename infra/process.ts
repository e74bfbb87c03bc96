import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { releaseAsyncContextWhenIdle } from './async-context.ts';
import { ConfigError } from './config/config.ts';
import { SchemaMismatchError } from './migrations/schema.ts';

export interface RunningProcess {
  /** Stops taking new work, finishes work in hand, releases resources. */
  stop(): Promise<void>;
}

/**
 * Runs a process until SIGTERM/SIGINT, then shuts it down gracefully within a deadline. A second signal,
 * or the deadline passing, exits at once. Start-up failures (bad configuration included) exit non-zero
 * with a clear message.
 */
export async function runProcess(
  name: string,
  start: () => Promise<{ running: RunningProcess; logger: Logger; shutdownTimeoutMs: number }>,
): Promise<void> {
  let started: Awaited<ReturnType<typeof start>>;
  restrictNewFiles();
  // Promise hooks only while an AsyncLocalStorage is in use (the ORM's flushes turned them on for good).
  releaseAsyncContextWhenIdle();
  try {
    // A .env file in the working directory fills in variables the environment does not already set.
    if (existsSync('.env')) process.loadEnvFile('.env');
    started = await start();
  } catch (err) {
    if (err instanceof ConfigError || err instanceof SchemaMismatchError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    process.stderr.write(`${name}: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
  const { running, logger, shutdownTimeoutMs } = started;
  let stopping = false;

  const shutdown = async (reason: string, exitCode: number) => {
    if (stopping) {
      logger.warn({ reason }, 'second stop request: exiting now');
      process.exit(exitCode || 1);
    }
    stopping = true;
    logger.info({ reason }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error({ shutdownTimeoutMs }, 'graceful shutdown timed out: exiting');
      process.exit(1);
    }, shutdownTimeoutMs);
    deadline.unref();
    try {
      await running.stop();
      logger.info('stopped');
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      exitCode = exitCode || 1;
    }
    logger.flush?.();
    process.exit(exitCode);
  };

  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('unhandledRejection', (err) => {
    logger.error({ err }, 'unhandled promise rejection');
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    void shutdown('uncaughtException', 1);
  });
}

/**
 * Files and directories this process creates (the embedded database, the mail outbox, exports, the signing
 * secret) are its user's alone: 0600 and 0700, whatever the umask it inherited (containers often start at 0).
 */
export function restrictNewFiles(): void {
  process.umask(0o077);
}
