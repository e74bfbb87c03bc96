import pino, { type Logger } from 'pino';
import type { z } from 'zod';
import { ConfigError, loadConfig, type Config } from '../../infra/config/config.ts';
import { startPlatform, type Platform } from '../../infra/platform.ts';

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
  if (!parsed.success) throw new CliError(parsed.error.issues.map((issue) => `--${issue.path.join('.')} ${issue.message}`).join('; '), ExitCode.Usage);
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
    const format = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
    process.stdout.write(`${[format(headers), format(widths.map((w) => '-'.repeat(w))), ...rows.map(format)].join('\n')}\n`);
  },
};

/**
 * Runs `work` over the platform the configuration names (DATABASE_URL, or the embedded data directory, which
 * a running `npm start` holds locked), and closes it afterwards. Logs are JSON lines on stderr, warnings and
 * worse unless LOG_LEVEL says otherwise.
 */
export async function withPlatform<T>(work: (deps: { platform: Platform; config: Config; logger: Logger }) => Promise<T>): Promise<T> {
  let config: Config;
  try {
    config = loadConfig(process.env, 'cli');
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, ExitCode.Usage);
    throw err;
  }
  const logger = pino(
    { level: process.env.LOG_LEVEL ?? 'warn', base: { service: 'nexusflow-cli', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination(2),
  );
  const platform = await startPlatform(config, logger);
  try {
    return await work({ platform, config, logger });
  } finally {
    await platform.close();
  }
}
