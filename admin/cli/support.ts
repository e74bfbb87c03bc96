import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { z } from 'zod';
import type { CommandContext } from '../../domain/events.ts';
import { ConfigError, loadConfig, type Config } from '../../infra/config/config.ts';
import type { Inspection } from '../../infra/di/container.ts';
import { SchemaMismatchError, type MigrationReport } from '../../infra/migrations/schema.ts';
import { openCli, type CliServices } from './root.ts';

/** What scripts can rely on. */
export const ExitCode = {
  Ok: 0,
  /** Something failed (a database unreachable, a bug): the message is on stderr. */
  Failure: 1,
  /** The command line or the configuration is wrong; nothing was done. */
  Usage: 2,
  /** Refused because of concurrent work (a rebuild already running, another switched first); nothing was changed. */
  Conflict: 3,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Options checked against a schema; every problem named by its option, exit 2 (nothing was done). */
export function parseOrUsage<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new CliError(parsed.error.issues.map((issue) => `--${issue.path.join('.')} ${issue.message}`).join('; '), ExitCode.Usage);
  return parsed.data;
}

/** Results on stdout (JSON with --json, text otherwise); progress and logs go to stderr. */
export interface Output {
  json(value: unknown): void;
  line(text: string): void;
  table(headers: string[], rows: string[][]): void;
}

export const stdout: Output = {
  json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  line: (text) => process.stdout.write(`${text}\n`),
  table(headers, rows) {
    const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i]!.length)));
    const format = (cells: string[]) =>
      cells
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    process.stdout.write(`${[format(headers), format(widths.map((w) => '-'.repeat(w))), ...rows.map(format)].join('\n')}\n`);
  },
};

/** Who acts from the command line: the operator (--as, else the OS user), recorded as such on every event. */
export interface Operator {
  name: string;
  context(): CommandContext;
}

export interface CliDependencies {
  platform: Inspection;
  config: Config;
  logger: Logger;
  services: CliServices;
  operator: Operator;
}

let operatorName: string | null = null;

/** Set once from the global `--as` option (nexusflow.ts). */
export function actAs(name: string | undefined): void {
  operatorName = name ?? null;
}

function operator(): Operator {
  const name = operatorName ?? safeUserName();
  return {
    name,
    context() {
      const id = randomUUID();
      return { tenantId: null, actor: { type: 'system', id: `operator:${name}` }, correlationId: id, causationId: id, now: new Date() };
    },
  };
}

function safeUserName(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

function cliLogger(): Logger {
  return pino(
    { level: process.env.LOG_LEVEL ?? 'warn', base: { service: 'nexusflow-cli', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination(2),
  );
}

function cliConfig(): Config {
  // The same .env as the server (in the working directory), for what the environment does not already set.
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    return loadConfig(process.env, 'cli');
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, ExitCode.Usage);
    throw err;
  }
}

/** Which database the command line works on, said on stderr before anything is done. */
function announce(config: Config): void {
  const where = config.DATABASE_URL
    ? (() => {
        const url = new URL(config.DATABASE_URL);
        return `PostgreSQL ${url.hostname}:${url.port || 5432}${url.pathname}`;
      })()
    : `the embedded database in ${config.NEXUSFLOW_DATA_DIR.startsWith('memory://') ? config.NEXUSFLOW_DATA_DIR : path.resolve(config.NEXUSFLOW_DATA_DIR)}`;
  process.stderr.write(`nexusflow: using ${where}${config.EVENTSTORE_URL ? ' (events in EventStoreDB)' : ''}\n`);
}

/**
 * Runs `work` over the platform the configuration names (DATABASE_URL, or the embedded data directory, which
 * a running `npm start` holds locked), on this build's schema (else: run `nexusflow migrate`), and closes it
 * afterwards. Logs are JSON lines on stderr, warnings and worse unless LOG_LEVEL says otherwise.
 */
export async function withPlatform<T>(work: (deps: CliDependencies) => Promise<T>): Promise<T> {
  const config = cliConfig();
  announce(config);
  return openCli(config, cliLogger(), async (cli) => {
    try {
      await cli.requireSchema();
    } catch (err) {
      if (err instanceof SchemaMismatchError) throw new CliError(err.message, ExitCode.Failure);
      throw err;
    }
    return work({ platform: await cli.inspect(), config, logger: cli.logger, services: cli.services, operator: operator() });
  });
}

/** Runs the schema migrations (`nexusflow migrate`). */
export async function withMigrations<T>(work: (migrate: () => Promise<MigrationReport>) => Promise<T>): Promise<T> {
  const config = cliConfig();
  announce(config);
  return openCli(config, cliLogger(), (cli) => work(cli.migrate));
}
