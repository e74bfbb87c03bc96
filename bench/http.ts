import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { migrateDatabase } from '../infra/di/container.ts';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createServer } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { Pool } from 'undici';
import { readOutbox } from '../infra/mail/outbox-mailer.ts';
import type { QuotaGate } from '../command-api/billing/quota-gate.ts';
import { WrongExpectedRevisionError } from '../command-api/ports.ts';
import { quotaModule } from '../command-api/billing/module.ts';
import type { QuotaKind } from '../domain/billing/quota.ts';
import { commandCoreModule } from '../command-api/module.ts';
import { organizationServicesModule } from '../command-api/organizations/module.ts';
import type { OrganizationCommands } from '../command-api/organizations/organization-commands.ts';
import { planCommandsModule } from '../command-api/plans/module.ts';
import type { PlanCommands } from '../command-api/plans/plan-commands.ts';
import type { CommandContext } from '../domain/events.ts';
import { loadConfig } from '../infra/config/config.ts';
import { createContainer } from '../infra/di/container.ts';
import { TOKENS } from '../infra/di/tokens.ts';
import { createLogger } from '../infra/logging.ts';
import { Latencies, type Samples, closedLoop, machineCpu, mib, note, parseMetrics, report, total } from './stats.ts';

/**
 * Where every server of one bench run writes its mail, so the bench can follow confirmation links: in memory
 * where the machine has a memory file system. The default mail transport creates a file per email, and
 * creating a file on this machine's disk (ext4) cost 45–670 µs of kernel time: up to a third of a workflow
 * execution's CPU, the disk's figure rather than the engine's (a deployment sends through a provider). The
 * executions bench prints what a file costs in both places (workflows.outbox_file_us).
 */
export const benchOutbox = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'nf-bench-outbox-'));
const benchRedisPrefix = `nf-bench-${randomUUID().slice(0, 8)}:`;
process.on('exit', () => rmSync(benchOutbox, { recursive: true, force: true }));

/** A NexusFlow process started the way an operator would, on its own port. */
/** The operator token bench servers are started with (their detailed health reports event-loop delay and memory). */
export const benchOperatorToken = 'bench-operator-0123456789abcdef0123456789abcdef';

export class ServerProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly origin: string,
    readonly entry: string,
  ) {}

  /**
   * `entry` is a root (`command-api/main.ts`) run through tsx, or with `compiled` its build in dist/ (what
   * `npm start` and production run; built first when stale). Each runs with the Node options it is deployed
   * with (deployedNodeOptions). `cwd`: run another checkout's build (bench/ab.ts), migrated by its own
   * `nexusflow migrate`.
   */
  static async start(
    entry: string,
    env: Record<string, string>,
    options: { compiled?: boolean; cwd?: string; nodeArgs?: string[] } = {},
  ): Promise<ServerProcess> {
    const port = await freePort();
    env = {
      MAIL_OUTBOX_DIR: benchOutbox,
      REDIS_KEY_PREFIX: benchRedisPrefix,
      // The load comes from one address and one organization: limits would measure the limiter's refusals.
      RATE_LIMIT_PER_IP: '100000000',
      RATE_LIMIT_PER_TENANT: '100000000',
      MAIL_MAX_PER_ADDRESS_PER_HOUR: '1000',
      OPERATOR_TOKEN: benchOperatorToken,
      ...env,
    };
    // Processes refuse a database whose schema is not theirs: migrate it first, as an operator does.
    if (env.DATABASE_URL && options.cwd) {
      execFileSync('npm', ['run', '--silent', 'nexusflow', '--', 'migrate'], {
        cwd: options.cwd,
        env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    } else if (env.DATABASE_URL) await migrateDatabase({ ...process.env, ...env, LOG_LEVEL: 'warn' });
    // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=bench-results", profiles the server under load.
    const extra = [...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...(options.nodeArgs ?? [])];
    if (options.compiled)
      execFileSync(process.execPath, ['scripts/build-if-stale.mjs'], { cwd: options.cwd, stdio: ['ignore', 'ignore', 'inherit'] });
    const deployed = await deployedNodeOptions(entry, options);
    const args = options.compiled ? [...deployed, path.join('dist', entry.replace(/\.ts$/, '.js'))] : [...deployed, '--import', 'tsx', entry];
    // BENCH_SERVER_LOG_DIR keeps each server's log (warnings and errors) in a file of its own there.
    const logDir = process.env.BENCH_SERVER_LOG_DIR;
    const log = logDir ? openSync(path.join(logDir, `${entry.replace(/[/.]/g, '-')}-${port}.log`), 'a') : 'ignore';
    const child = spawn(process.execPath, [...extra, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', NODE_ENV: 'production' },
      stdio: ['ignore', log, 'inherit'],
    });
    if (typeof log === 'number') closeSync(log); // the child has its own

    const origin = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode} before it was ready`);
      const ready = await fetch(`${origin}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return new ServerProcess(child, origin, entry);
      if (Date.now() > deadline) throw new Error(`${entry} was not ready within 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Resident memory of the server process now (VmRSS), in bytes. */
  async rss(): Promise<number> {
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8').catch(() => '');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : Number.NaN;
  }

  /** Peak resident memory of the server process (VmHWM), in bytes. */
  async peakRss(): Promise<number> {
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8').catch(() => '');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : Number.NaN;
  }

  /** The server's event-loop delay as its /health reports it (percentiles since start). */
  async eventLoopDelay(): Promise<{ p50: number; p99: number; max: number } | null> {
    const health = (await this.operatorHealth()) as { eventLoopDelayMs?: { p50: number; p99: number; max: number } } | null;
    return health?.eventLoopDelayMs ?? null;
  }

  /** The process's Prometheus metrics (GET /metrics with the operator token). */
  async metricsText(): Promise<string> {
    const response = await fetch(`${this.origin}/metrics`, { headers: { Authorization: `Bearer ${benchOperatorToken}` } });
    if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
    return response.text();
  }

  /** The operator's detailed health (/health/ready?verbose with the operator token), or null. */
  async operatorHealth(): Promise<Record<string, any> | null> {
    return fetch(`${this.origin}/health/ready?verbose`, { headers: { Authorization: `Bearer ${benchOperatorToken}` } }).then(
      (r) => r.json() as Promise<Record<string, any>>,
      () => null,
    );
  }

  /** CPU time the server process has used so far (user + system), in seconds. */
  async cpuSeconds(): Promise<number> {
    const stat = await readFile(`/proc/${this.child.pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of /proc/<pid>/stat (utime, stime), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/**
 * The Node options `entry` is deployed with, from package.json: the all-in-one's are `npm start`'s (`… exec node
 * <options> dist/main.js`), a role's its `start:prod:<role>` script's (`exec node <options> dist/<role>/main.js`;
 * docker-compose.yml gives the same, test/launch-options.unit.spec.ts checks). The all-in-one's apply to its
 * build only; a role's also to its source under tsx, which maps sources itself (`--enable-source-maps` left out).
 */
export async function deployedNodeOptions(entry: string, options: { compiled?: boolean; cwd?: string } = {}): Promise<string[]> {
  const { scripts } = JSON.parse(await readFile(path.join(options.cwd ?? '.', 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const role = entry === 'main.ts' ? null : entry.replace(/\/main\.ts$/, '');
  if (role === null && !options.compiled) return [];
  const name = role === null ? 'start' : `start:prod:${role}`;
  const script = `dist/${entry.replace(/\.ts$/, '.js')}`;
  const found = new RegExp(`exec node ((?:--\\S+\\s+)*)${script.replace(/[./]/g, '\\$&')}$`).exec(scripts[name] ?? '');
  if (!found) throw new Error(`package.json: the ${name} script no longer reads \`… exec node <options> ${script}\``);
  const deployed = found[1]!.split(/\s+/).filter(Boolean);
  return options.compiled ? deployed : deployed.filter((option) => option !== '--enable-source-maps');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function json(
  pool: Pool,
  method: 'GET' | 'POST',
  path: string,
  token: string | null,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await pool.request({
    method,
    path,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`${method} ${path} answered ${response.statusCode}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Signs up as a person does: register, read the confirmation email in the outbox, follow its link. */
export async function signUp(
  pool: Pool,
  password = 'correct horse battery staple',
): Promise<{ accessToken: string; email: string; password: string }> {
  const email = `owner-${randomUUID()}@bench.example`;
  await json(pool, 'POST', '/auth/register', null, { organizationName: 'Bench Inc', name: 'Bench Owner', email, password });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const mail = (await readOutbox(benchOutbox)).find((m) => m.to === email && m.template === 'signup-confirmation');
    if (mail) {
      const token = decodeURIComponent(/[?&]token=([^\s&]+)/.exec(mail.text)![1]!);
      const answer = await json(pool, 'POST', '/auth/verify-email', null, { token });
      return { accessToken: answer.accessToken as string, email, password };
    }
    if (Date.now() > deadline) throw new Error(`no confirmation email for ${email} in ${benchOutbox}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function register(pool: Pool): Promise<string> {
  return (await signUp(pool)).accessToken;
}

function newContact() {
  const id = randomUUID();
  return { email: `${id}@bench.example`, firstName: 'Grace', lastName: 'Hopper', company: 'Navy', tags: ['bench'] };
}

/** The organization id an access token carries (its `org` claim): for setting up what staff would. */
export function organizationOf(accessToken: string): string {
  const claims = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  const id = claims.org ?? claims.organizationId ?? claims.tenantId;
  if (typeof id !== 'string') throw new Error(`no organization in the access token's claims: ${Object.keys(claims).join(', ')}`);
  return id;
}

/**
 * Puts the organization on a plan that limits contacts (as staff would), and records its count (none yet,
 * as the projectors' quota counter would): every contact then takes a unit of the plan's limit in its append.
 */
/**
 * Puts the organization on a plan that limits one kind (to `units`, far above what a bench takes), counted at
 * 0: each write of that kind then takes a unit in its append (QuotaGate).
 */
export async function limitPlan(databaseUrl: string, organizationId: string, kind: QuotaKind, units: number): Promise<void> {
  const config = loadConfig({ DATABASE_URL: databaseUrl, JWT_SECRET: 'bench-'.repeat(8), LOG_LEVEL: 'silent' }, 'cli');
  const { container, lifecycle } = createContainer(config, createLogger({ level: 'silent', service: 'bench' }), [
    commandCoreModule,
    organizationServicesModule,
    planCommandsModule,
    quotaModule,
  ]);
  try {
    const staff = (tenantId: string | null): CommandContext => ({
      tenantId,
      actor: { type: 'staff', id: 'bench' },
      correlationId: randomUUID(),
      causationId: randomUUID(),
      now: new Date(),
    });
    const plans = await container.getAsync<PlanCommands>(TOKENS.PlanCommands);
    const organizations = await container.getAsync<OrganizationCommands>(TOKENS.OrganizationCommands);
    const limits = { contacts: null, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null, [kind]: units };
    const { planId } = await plans.draft(staff(null), { name: 'Bench limited', monthlyPriceCents: 100, currency: 'EUR', limits });
    await plans.activate(staff(null), planId);
    await organizations.changePlan(staff(organizationId), organizationId, planId);
    const gate = await container.getAsync<QuotaGate>(TOKENS.QuotaGate);
    if (!(await gate.termsOf(organizationId, kind))) throw new Error(`the bench plan limits no ${kind}`);
    // Counted here unless a projectors process running on the database counted first (it counts the same 0).
    const wanted = await gate.countWanted(organizationId, kind);
    if (wanted) {
      await gate.recordCount(staff(organizationId), organizationId, kind, 0, wanted).catch((err: unknown) => {
        if (!(err instanceof WrongExpectedRevisionError)) throw err;
      });
    }
  } finally {
    await lifecycle.stop();
  }
}

/**
 * POST /contacts at concurrency 32 against the command API process, as a client sees it. `variant`: `plain`,
 * the figures the targets name; `limited`, the organization on a plan that limits contacts (far above
 * what the bench creates), so each one takes a unit of the quota in its append, the organization's creations
 * deciding one after the other in the process; `idempotent`, every request with an `Idempotency-Key` of its
 * own, as a client that may retry sends them (what the idempotency layer costs: its claim before the command
 * and the answer kept after it, a Redis round trip each).
 */
export async function benchCreateContact(
  databaseUrl: string,
  durationMs: number,
  entry: string,
  variant: 'plain' | 'limited' | 'idempotent' = 'plain',
  warmupMs = 5_000,
): Promise<void> {
  const limited = variant === 'limited';
  const name = variant === 'plain' ? 'http.create_contact' : `http.create_contact.${variant}`;
  const server = await ServerProcess.start(entry, {
    DATABASE_URL: databaseUrl,
    JWT_SECRET: 'bench-'.repeat(8),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    PASSWORD_HASH_COST: '12',
  });
  const pool = new Pool(server.origin, { connections: 32, pipelining: 1 });
  try {
    const token = await register(pool);
    if (limited) await limitPlan(databaseUrl, organizationOf(token), 'contacts', 10_000_000);
    let cpuAtStart = 0;
    let cpuAtEnd = 0;
    let loadCpu = process.cpuUsage();
    let before: Samples = new Map();
    let after: Samples = new Map();
    const scrape = async () => parseMetrics(await server.metricsText());
    const result = await closedLoop({
      concurrency: 32,
      durationMs,
      warmupMs,
      onMeasureStart: async () => {
        [cpuAtStart, before] = await Promise.all([server.cpuSeconds(), scrape()]);
        loadCpu = process.cpuUsage();
      },
      onMeasureEnd: async () => {
        loadCpu = process.cpuUsage(loadCpu);
        [cpuAtEnd, after] = await Promise.all([server.cpuSeconds(), scrape()]);
      },
      operation: async () => {
        await json(pool, 'POST', '/contacts', token, newContact(), variant === 'idempotent' ? { 'idempotency-key': randomUUID() } : {});
      },
    });
    if (result.errors) throw new Error(`create contact failed ${result.errors} times: ${String(result.firstError)}`);
    const what = { plain: '', limited: ', on a plan that limits contacts', idempotent: ', each request with an Idempotency-Key of its own' }[variant];
    note(
      `POST /contacts, 32 connections, ${entry}${what}: ${result.latencies.count} commands in ${durationMs / 1000} s after ${warmupMs / 1000} s of warm-up`,
    );
    report(`${name}.c32`, result.perSecond, 'commands/s', '≥ 3,000');
    report(`${name}.c32.p50`, result.latencies.percentile(50), 'ms');
    report(`${name}.c32.p99`, result.latencies.percentile(99), 'ms', '≤ 25');
    // A fresh server's first seconds (V8 still compiling, caches and heap filling), apart as the visibility bench does.
    report(
      `${name}.c32.first_seconds`,
      result.warmup.perSecond,
      `commands/s, p99 ${result.warmup.latencies.percentile(99).toFixed(1)} ms (the warm-up's ${warmupMs / 1000} s on a fresh server, not counted above)`,
    );
    // Requests answered in the window, as the server counted them (the loop's own count misses those in flight).
    const commands =
      total(after, 'nexusflow_commands_total', 'type="CreateContact"') - total(before, 'nexusflow_commands_total', 'type="CreateContact"');
    report(`${name}.server_cpu`, ((cpuAtEnd - cpuAtStart) / (durationMs / 1000)) * 100, '% of one core');
    report(`${name}.server_cpu_per_command`, ((cpuAtEnd - cpuAtStart) * 1000) / commands, 'ms', '≤ 0.3');
    report(
      `${name}.load_generator_cpu_per_command`,
      (loadCpu.user + loadCpu.system) / 1000 / commands,
      "ms (this process, the 32 connections' client)",
    );
    report(`${name}.server_rss_peak`, mib(await server.peakRss()), 'MiB');
    note(
      'what each layer costs per command (mean wall time per pass, from nexusflow_request_layer_duration_seconds; remote layers include their round trip):',
    );
    for (const layer of [
      'authentication_and_limits',
      'usage_meter',
      'idempotency',
      'validation',
      'plan_limits',
      'command',
      'sealing',
      'hash_chain',
      'append',
    ]) {
      const sum =
        total(after, 'nexusflow_request_layer_duration_seconds_sum', `layer="${layer}"`) -
        total(before, 'nexusflow_request_layer_duration_seconds_sum', `layer="${layer}"`);
      const count =
        total(after, 'nexusflow_request_layer_duration_seconds_count', `layer="${layer}"`) -
        total(before, 'nexusflow_request_layer_duration_seconds_count', `layer="${layer}"`);
      if (count > 0) report(`${name}.layer.${layer}`, (sum * 1000) / count, `ms per pass (${(count / commands).toFixed(2)} per command)`);
    }
    const perCommand = (series: string, labels = '') => (total(after, series, labels) - total(before, series, labels)) / commands;
    report(
      `${name}.redis_round_trips`,
      perCommand('nexusflow_redis_round_trips_total'),
      'per command (the gateway rounds of requests read together share one script)',
      '≤ 1 for every gateway check',
    );
    report(
      `${name}.database_round_trips`,
      perCommand('nexusflow_database_round_trips_total'),
      'per command (group commit shares an append among commands)',
    );
    report(
      `${name}.append_batch_events`,
      perCommand('nexusflow_event_store_append_batch_events_sum') / Math.max(1e-9, perCommand('nexusflow_event_store_append_batch_events_count')),
      'events per transaction',
    );
    report(
      `${name}.appends_handed_back`,
      perCommand('nexusflow_event_store_appends_handed_back_total') * 1000,
      'per 1,000 commands (sent beside the transaction writing what they build on, which then went second: sent again)',
    );
    if (variant === 'plain') await benchFloors(server, pool, token, ((cpuAtEnd - cpuAtStart) * 1000) / commands);
  } finally {
    await pool.close();
    await server.stop();
  }
}

/**
 * What the same server costs for less than a command, in the same closed loop of 32: the floor under the
 * command path on this machine (machines here differ by up to 2× for the same build), in server CPU per
 * request. `health`: GET /health/live (Node's HTTP server, Koa and the middleware every request passes:
 * request id, security headers, CORS, problem answers). `refused`: POST /contacts with an invalid body,
 * answered 400 (authentication and the gateway's Redis round, body parsing, validation, the problem answer).
 * What a created contact costs beyond `refused` is the command itself (plan limits, decision, claims,
 * sealing, hash chain, group-commit append, its answer).
 */
async function benchFloors(server: ServerProcess, pool: Pool, token: string, createCpuMs: number): Promise<void> {
  const floors = [
    {
      name: 'health',
      operation: async () => {
        const response = await pool.request({ method: 'GET', path: '/health/live' });
        await response.body.text();
        if (response.statusCode !== 200) throw new Error(`GET /health/live answered ${response.statusCode}`);
      },
    },
    {
      name: 'refused',
      operation: async () => {
        const response = await pool.request({
          method: 'POST',
          path: '/contacts',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ email: 'not an address', firstName: 'Grace' }),
        });
        await response.body.text();
        if (response.statusCode !== 400) throw new Error(`an invalid contact answered ${response.statusCode}, not 400`);
      },
    },
  ];
  note('floors in the same loop of 32 (server CPU per request): what the HTTP stack, then authentication and validation cost');
  let refusedCpuMs = Number.NaN;
  for (const floor of floors) {
    let cpuAtStart = 0;
    let cpuAtEnd = 0;
    const result = await closedLoop({
      concurrency: 32,
      durationMs: 3_000,
      warmupMs: 500,
      onMeasureStart: async () => {
        cpuAtStart = await server.cpuSeconds();
      },
      onMeasureEnd: async () => {
        cpuAtEnd = await server.cpuSeconds();
      },
      operation: floor.operation,
    });
    if (result.errors) throw new Error(`the ${floor.name} floor failed ${result.errors} times: ${String(result.firstError)}`);
    const cpuMs = ((cpuAtEnd - cpuAtStart) * 1000) / result.done;
    if (floor.name === 'refused') refusedCpuMs = cpuMs;
    report(`http.floor.${floor.name}.c32`, result.perSecond, `requests/s, ${cpuMs.toFixed(3)} ms of server CPU each`);
  }
  report('http.create_contact.command_cpu', createCpuMs - refusedCpuMs, 'ms of server CPU per command beyond the refused floor');
}

/**
 * Command → query visibility under a steady 500 commands/s (open loop: commands are sent on schedule
 * whether or not earlier ones have answered), all roles in one process (`npm start` with DATABASE_URL).
 *
 * The lag of a command runs from the moment its answer reached the client to the moment the contacts read
 * model committed its position: the bench LISTENs to the checkpoint announcements the projector makes in
 * the committing transaction, so it observes visibility without adding load. One command in ten is also
 * read back through GET /contacts/:id with X-Min-Position, which proves the query side serves it and
 * gives the latency a client reading its own write sees.
 */
export async function benchVisibilityLag(
  databaseUrl: string,
  durationMs: number,
  rate: number,
  topology: 'separate' | 'one-process',
  prefix: string,
  warmupMs = 5_000,
): Promise<void> {
  const env = {
    DATABASE_URL: databaseUrl,
    JWT_SECRET: 'bench-'.repeat(8),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    PASSWORD_HASH_COST: '12',
  };
  const servers =
    topology === 'one-process'
      ? [await ServerProcess.start('main.ts', env)]
      : [
          await ServerProcess.start('command-api/main.ts', env),
          await ServerProcess.start('query-api/main.ts', env),
          await ServerProcess.start('projectors/main.ts', env),
        ];
  const pool = new Pool(servers[0]!.origin, { connections: 64, pipelining: 1 });
  const queries = topology === 'one-process' ? pool : new Pool(servers[1]!.origin, { connections: 16, pipelining: 1 });
  const listener = new pg.Client({ connectionString: databaseUrl });
  try {
    await listener.connect();
    await listener.query('LISTEN nf_checkpoints');
    const token = await register(pool);
    const lags = new Latencies();
    // The same lag in the warm-up: fresh servers, whose code V8 is still compiling (reported apart).
    const warmupLags = new Latencies();
    const reads = new Latencies();
    const commandLatencies = new Latencies();
    // Reads that had to wait for the read model: from the contacts commit being heard to their answer.
    const afterCommit = new Latencies();
    let visible = 0n;
    const waiting = new Map<bigint, { acknowledgedAt: number; into: Latencies }>();
    /** Read-backs in flight by position: when the contacts commit covering it was heard (undefined: not yet). */
    const readBacks = new Map<bigint, { committedAt?: number }>();
    listener.on('notification', ({ payload }) => {
      const { projection, position } = JSON.parse(payload ?? '{}') as { projection?: string; position?: string };
      if (projection !== 'contacts' || !position) return;
      const at = performance.now();
      if (BigInt(position) > visible) visible = BigInt(position);
      for (const [commandPosition, { acknowledgedAt, into }] of waiting) {
        if (commandPosition <= visible) {
          into.add(at - acknowledgedAt);
          waiting.delete(commandPosition);
        }
      }
      for (const [readPosition, readBack] of readBacks) if (readPosition <= visible) readBack.committedAt ??= at;
    });
    let failures = 0;
    let firstFailure: unknown;
    let sequence = 0;
    const inFlight = new Set<Promise<void>>();
    const one = async (measure: boolean, readBack: boolean) => {
      const sent = performance.now();
      const created = await json(pool, 'POST', '/contacts', token, newContact());
      const acknowledged = performance.now();
      const position = BigInt(String(created.position));
      if (measure) commandLatencies.add(acknowledged - sent);
      const into = measure ? lags : warmupLags;
      // Already visible when the answer arrived: no lag at all.
      if (position <= visible) into.add(0);
      else waiting.set(position, { acknowledgedAt: acknowledged, into });
      if (readBack) {
        const pending: { committedAt?: number } = position <= visible ? { committedAt: acknowledged } : {};
        readBacks.set(position, pending);
        const readSent = performance.now();
        const read = await json(queries, 'GET', `/contacts/${String(created.id)}`, token, undefined, { 'x-min-position': String(created.position) });
        const answered = performance.now();
        readBacks.delete(position);
        if (read.id !== created.id) throw new Error('read back a different contact');
        if (measure) {
          reads.add(answered - acknowledged);
          if (pending.committedAt !== undefined && pending.committedAt > readSent) afterCommit.add(answered - pending.committedAt);
        }
      }
    };
    const run = async (ms: number, measure: boolean) => {
      const started = performance.now();
      let sent = 0;
      while (performance.now() - started < ms) {
        const due = Math.floor(((performance.now() - started) / 1000) * rate);
        for (; sent < due; sent++) {
          const p = one(measure, sequence++ % 10 === 0).catch((err: unknown) => {
            failures++;
            firstFailure ??= err;
          });
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      return sent;
    };
    await run(warmupMs, false);
    // The load generator's own lateness bounds how precisely it measures.
    const benchLoop = monitorEventLoopDelay({ resolution: 10 });
    benchLoop.enable();
    const cpuEach = () => Promise.all(servers.map((server) => server.cpuSeconds()));
    const cpuOf = async () => (await cpuEach()).reduce((a, b) => a + b, 0);
    const cpuEachBefore = await cpuEach();
    const cpuBefore = await cpuOf();
    const machine = machineCpu();
    const sent = await run(durationMs, true);
    const machineBusy = machine.busy();
    await Promise.all(inFlight);
    const serverCpu = ((await cpuOf()) - cpuBefore) / (durationMs / 1000);
    const cpuEachAfter = await cpuEach();
    const deadline = Date.now() + 5_000;
    while (waiting.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (failures) throw new Error(`${failures} commands or reads failed: ${String(firstFailure)}`);
    if (waiting.size > 0) throw new Error(`${waiting.size} commands never became visible`);
    const shape = topology === 'one-process' ? 'all roles in one process (npm start)' : 'command API, query API and projectors in three processes';
    note(
      `${sent} commands at ${rate}/s over ${durationMs / 1000} s after ${warmupMs / 1000} s of warm-up, ${shape}; lag = command acknowledged → contacts read model committed; 1 in 10 read back with X-Min-Position`,
    );
    report(`${prefix}.p50`, lags.percentile(50), 'ms');
    report(`${prefix}.p99`, lags.percentile(99), 'ms', topology === 'one-process' ? '≤ 100 ms' : '≤ 50 ms');
    report(`${prefix}.first_seconds.p99`, warmupLags.percentile(99), `ms (the warm-up's ${warmupMs / 1000} s on fresh servers, not counted above)`);
    report(`${prefix}.read_your_writes.p50`, reads.percentile(50), 'ms');
    report(`${prefix}.read_your_writes.p99`, reads.percentile(99), 'ms');
    if (afterCommit.count > 0) {
      note(`${afterCommit.count} reads waited for the read model: from its commit (heard here) to their answer`);
      report(`${prefix}.read_your_writes.after_commit.p50`, afterCommit.percentile(50), 'ms');
      report(`${prefix}.read_your_writes.after_commit.p99`, afterCommit.percentile(99), 'ms', 'as soon as the projection commits');
    }
    report(`${prefix}.command.p99`, commandLatencies.percentile(99), 'ms');
    report(`${prefix}.server_cpu`, serverCpu * 100, '% of one core');
    if (machineBusy !== null) {
      report(
        `${prefix}.machine_busy`,
        machineBusy * 100,
        `% of all ${os.cpus().length} cores (servers, PostgreSQL, Redis and this load generator)${machineBusy > 0.85 ? ': near full, the commands queue for the machine, and the figures above say so more than the code' : ''}`,
      );
    }
    report(`${prefix}.server_cpu_per_command`, (serverCpu * (durationMs / 1000) * 1000) / sent, 'ms (all processes)');
    if (servers.length > 1) {
      servers.forEach((server, i) => {
        const role = server.entry.split('/')[0]!;
        report(`${prefix}.server_cpu.${role}`, ((cpuEachAfter[i]! - cpuEachBefore[i]!) / (durationMs / 1000)) * 100, '% of one core');
        report(`${prefix}.server_cpu_per_command.${role}`, ((cpuEachAfter[i]! - cpuEachBefore[i]!) * 1000) / sent, 'ms');
      });
    }
    report(`${prefix}.server_rss_peak`, mib(Math.max(...(await Promise.all(servers.map((server) => server.peakRss()))))), 'MiB');
    const delays = (await Promise.all(servers.map((server) => server.eventLoopDelay()))).filter((d) => d !== null);
    if (delays.length) report(`${prefix}.server_event_loop_delay.p99`, Math.max(...delays.map((d) => d.p99)), 'ms');
    report(`${prefix}.bench_event_loop_delay.p99`, benchLoop.percentile(99) / 1e6, 'ms');
  } finally {
    await listener.end().catch(() => undefined);
    await pool.close();
    if (queries !== pool) await queries.close();
    for (const server of servers) await server.stop();
  }
}
