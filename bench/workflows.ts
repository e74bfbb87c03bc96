import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { Pool, WebSocket } from 'undici';
import type { NewEvent } from '../domain/events.ts';
import { PostgresEventStore } from '../infra/eventstore/postgres/postgres-event-store.ts';
import { PgNotifications } from '../infra/notifications/pg-notifications.ts';
import { benchOutbox, freePort, json, limitPlan, organizationOf, ServerProcess, signUp } from './http.ts';
import { Latencies, mib, note, parseMetrics, report, total, until } from './stats.ts';

const env = (databaseUrl: string) => ({
  DATABASE_URL: databaseUrl,
  JWT_SECRET: 'bench-'.repeat(8),
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  PASSWORD_HASH_COST: '12',
  // The runner's default concurrency unless BENCH_RUNNER_CONCURRENCY says otherwise.
  ...(process.env.BENCH_RUNNER_CONCURRENCY ? { WORKFLOW_RUNNER_CONCURRENCY: process.env.BENCH_RUNNER_CONCURRENCY } : {}),
  WORKFLOW_POLL_MS: '250',
  // The engine's throughput, not a provider's sending limit: the mailbox throttle would pace the emails.
  MAILBOX_MAX_PER_MINUTE: '100000',
  MAILBOX_MAX_PER_DAY: '10000000',
});

interface WorkflowSystem {
  api: ServerProcess;
  runner: ServerProcess;
  pool: Pool;
  db: pg.Pool;
  token: string;
}

/** A command API and a projectors process (runner, projections) on one database, with a signed-up owner. */
async function withWorkflowSystem(databaseUrl: string, work: (system: WorkflowSystem) => Promise<void>): Promise<void> {
  const api = await ServerProcess.start('command-api/main.ts', env(databaseUrl));
  const runner = await ServerProcess.start('projectors/main.ts', env(databaseUrl));
  const pool = new Pool(api.origin, { connections: 32, pipelining: 1 });
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    const { accessToken } = await signUp(pool);
    await work({ api, runner, pool, db, token: accessToken });
  } finally {
    await pool.close();
    await db.end();
    await runner.stop();
    await api.stop();
  }
}

async function createContacts(pool: Pool, token: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  const workers = Array.from({ length: 16 }, async () => {
    while (ids.length < count) {
      const created = await json(pool, 'POST', '/contacts', token, { email: `${randomUUID()}@bench.example`, firstName: 'Grace' });
      ids.push(created.id as string);
    }
  });
  await Promise.all(workers);
  return ids.slice(0, count);
}

async function startAll(pool: Pool, token: string, workflowId: string, contacts: string[], concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < contacts.length) {
        const contactId = contacts[next++]!;
        await json(pool, 'POST', `/workflows/${workflowId}/run`, token, { contactId });
      }
    }),
  );
}

/**
 * Counts the events of one type as they are appended, for the bench's waits. Each poll reads only the events
 * after the last one it saw (by position, the log's key: positions become visible in order), so polling costs
 * the database next to nothing. A `count(*)` over the whole log cost 8–15 ms a poll here, ten polls a second:
 * 10–15 % of a database core taken from the system being measured.
 */
class EventCounter {
  private position = '0';
  private counted = 0;

  constructor(
    private readonly db: pg.Pool,
    private readonly type: string,
  ) {}

  async count(): Promise<number> {
    const { rows } = await this.db.query<{ n: string; last: string | null }>(
      // Ordered by the key and limited: the planner walks the key's index from the last position seen.
      `SELECT count(*) FILTER (WHERE type = $1) AS n, max(position) AS last
         FROM (SELECT type, position FROM nf_events WHERE position > $2 ORDER BY position LIMIT 100000) e`,
      [this.type, this.position],
    );
    this.counted += Number(rows[0]!.n);
    if (rows[0]!.last !== null) this.position = rows[0]!.last;
    return this.counted;
  }
}

/**
 * Executions per second of a three-step workflow without waits: commands (POST /workflows/:id/run) in the
 * command API's process, the runner and projections in the projectors' process, like a deployment.
 * Throughput counts from the first run request to the last ExecutionCompleted in the log; latency is each
 * execution's start to completion as its own events record it. A round of `warmup` executions runs first, to
 * completion, and is reported apart (`workflows.executions.first_round`): the servers are fresh processes, and
 * in the first seconds V8 compiles their code (a fifth of the runner's CPU in its first 14 s, measured with
 * perf), which a running deployment paid long ago; every other closed-loop figure here has its warm-up too.
 * `limited`: the organization on a plan that limits executions per billing period (far above what the bench
 * starts), so that each start takes a unit of the period's quota in its append (`workflows.limited.*`).
 */
export async function benchExecutions(databaseUrl: string, executions: number, warmup = 500, limited = false): Promise<void> {
  const name = limited ? 'workflows.limited' : 'workflows';
  await withWorkflowSystem(databaseUrl, async ({ api, runner, pool, db, token: accessToken }) => {
    if (limited) await limitPlan(databaseUrl, organizationOf(accessToken), 'executionsPerMonth', 10_000_000);
    const workflow = await json(pool, 'POST', '/workflows', accessToken, {
      name: 'Bench: three steps',
      settings: { mailbox: `bench-${randomUUID()}@bench.example`, exitOn: [] },
      steps: [
        { id: 'tag', type: 'add_tag', config: { tag: 'bench' }, next: 'hello' },
        { id: 'hello', type: 'send_email', config: { subject: 'Hello {{contact.firstName}}', body: 'Bench.' }, next: 'untag' },
        { id: 'untag', type: 'remove_tag', config: { tag: 'bench' }, next: null },
      ],
    });
    const everyone = await createContacts(pool, accessToken, warmup + executions);
    const completed = new EventCounter(db, 'ExecutionCompleted');
    if (warmup > 0) {
      const firstStarted = performance.now();
      await startAll(pool, accessToken, workflow.id as string, everyone.slice(0, warmup), 32);
      await until(async () => (await completed.count()) >= warmup, 600_000, 'warm-up executions completed');
      report(
        `${name}.executions.first_round`,
        warmup / ((performance.now() - firstStarted) / 1000),
        `executions/s (${warmup}, fresh servers: not counted below)`,
      );
    }
    const contacts = everyone.slice(warmup);
    const { rows: heads } = await db.query<{ position: string }>('SELECT coalesce(max(position), 0) AS position FROM nf_events');
    const measuredAfter = heads[0]!.position;
    const runnerMetricsBefore = parseMetrics(await runner.metricsText());
    const apiBefore = await api.cpuSeconds();
    const runnerBefore = await runner.cpuSeconds();
    const started = performance.now();
    await startAll(pool, accessToken, workflow.id as string, contacts, 32);
    await until(async () => (await completed.count()) >= warmup + executions, 600_000, 'executions completed');
    const seconds = (performance.now() - started) / 1000;
    const apiCpu = (await api.cpuSeconds()) - apiBefore;
    const runnerCpu = (await runner.cpuSeconds()) - runnerBefore;
    const cpu = apiCpu + runnerCpu;
    const runnerMetricsAfter = parseMetrics(await runner.metricsText());
    const { rows } = await db.query<{ ms: string }>(
      `SELECT extract(epoch FROM (c.data->>'completedAt')::timestamptz - (s.data->>'startedAt')::timestamptz) * 1000 AS ms
         FROM nf_events s JOIN nf_events c ON c.stream_id = s.stream_id AND c.type = 'ExecutionCompleted'
        WHERE s.type = 'ExecutionStarted' AND s.position > $1`,
      [measuredAfter],
    );
    const latencies = new Latencies();
    for (const row of rows) latencies.add(Number(row.ms));
    note(
      `${executions} executions of a 3-step workflow (add_tag, send_email, remove_tag), started over HTTP at concurrency 32, after ${warmup} of warm-up; runner in the projectors process${limited ? '; on a plan that limits executions per billing period' : ''}`,
    );
    report(`${name}.executions`, executions / seconds, 'executions/s', '≥ 600');
    report(`${name}.execution_latency.p50`, latencies.percentile(50), 'ms');
    report(`${name}.execution_latency.p99`, latencies.percentile(99), 'ms', '≤ 10000');
    report(
      `${name}.server_cpu_per_execution`,
      (cpu / executions) * 1000,
      `ms (command API ${((apiCpu / executions) * 1000).toFixed(2)} ms: the start; projectors ${((runnerCpu / executions) * 1000).toFixed(2)} ms: runner and projections)`,
    );
    report(`${name}.runner_rss_peak`, mib(await runner.peakRss()), 'MiB');
    const runnerDelta = (series: string) => total(runnerMetricsAfter, series) - total(runnerMetricsBefore, series);
    report(
      `${name}.runner_append_batch_events`,
      runnerDelta('nexusflow_event_store_append_batch_events_sum') / Math.max(1, runnerDelta('nexusflow_event_store_append_batch_events_count')),
      `events per transaction (${(runnerDelta('nexusflow_event_store_append_batch_events_count') / executions).toFixed(2)} per execution), ${(
        (runnerDelta('nexusflow_event_store_appends_handed_back_total') / executions) *
        1000
      ).toFixed(1)} appends handed back per 1,000 executions (sent beside the transaction writing what they build on, which then went second)`,
    );
    // What each read model took meanwhile (its batches' time, database round trips included; those still
    // behind at the end have more to do), most first.
    const batchSeconds = new Map<string, { seconds: number; batches: number }>();
    for (const [key, value] of runnerMetricsAfter) {
      const match = /^nexusflow_projection_batch_duration_seconds_(sum|count)\{projection="([^"]+)"\}$/.exec(key);
      if (!match) continue;
      const delta = value - (runnerMetricsBefore.get(key) ?? 0);
      const entry = batchSeconds.get(match[2]!) ?? { seconds: 0, batches: 0 };
      if (match[1] === 'sum') entry.seconds = delta;
      else entry.batches = delta;
      batchSeconds.set(match[2]!, entry);
    }
    note("each read model in the projectors process: its batches' time per execution (wall time, round trips included)");
    for (const [projection, { seconds, batches }] of [...batchSeconds].sort((a, b) => b[1].seconds - a[1].seconds)) {
      if (batches > 0)
        report(`${name}.projection.${projection}`, (seconds / executions) * 1000, `ms per execution (${(batches / executions).toFixed(2)} batches)`);
    }
    // What the outbox's files cost where the bench keeps them, and on the disk (see benchOutbox).
    report('workflows.outbox_file_us', fileCreationMicros(benchOutbox), `µs to create, write and close one email's file in ${benchOutbox}`);
    report('workflows.outbox_file_us.disk', fileCreationMicros(os.tmpdir()), `µs the same in ${os.tmpdir()}`);
  });
}

/** Mean µs to create (exclusively), write and close a file of an email's size in `parent` (200 of them). */
function fileCreationMicros(parent: string): number {
  const directory = mkdtempSync(path.join(parent, 'nf-bench-files-'));
  try {
    const body = 'x'.repeat(700);
    const started = performance.now();
    for (let n = 0; n < 200; n++) writeFileSync(path.join(directory, `key-${n}.json`), body, { mode: 0o600, flag: 'wx' });
    return ((performance.now() - started) / 200) * 1000;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/**
 * Timer lateness: `count` executions all waiting until the same instant (a wait "until HH:MM"), then the
 * moment the step after the wait starts, compared to that instant.
 */
export async function benchTimerLateness(databaseUrl: string, count: number, leadMinutes = 0): Promise<void> {
  await withWorkflowSystem(databaseUrl, async ({ runner, pool, db, token: accessToken }) => {
    const contacts = await createContacts(pool, accessToken, count);
    // Far enough ahead for every execution to reach its wait first.
    const setupMinutes = leadMinutes > 0 ? leadMinutes : Math.max(2, Math.ceil(count / 2_000));
    const due = new Date(Math.ceil((Date.now() + setupMinutes * 60_000) / 60_000) * 60_000);
    const hhmm = due.toISOString().slice(11, 16);
    const workflow = await json(pool, 'POST', '/workflows', accessToken, {
      name: 'Bench: one instant',
      settings: { timezone: 'UTC', mailbox: 'timers@bench.example', exitOn: [] },
      steps: [
        { id: 'hold', type: 'wait', config: { until: hhmm }, next: 'after' },
        { id: 'after', type: 'add_tag', config: { tag: 'woken' }, next: null },
      ],
    });
    await startAll(pool, accessToken, workflow.id as string, contacts, 32);
    const waiting = new EventCounter(db, 'ExecutionWaiting');
    await until(async () => (await waiting.count()) >= count, 600_000, 'every execution waiting');
    const early = due.getTime() - Date.now();
    if (early < 5_000) throw new Error(`set-up took too long: only ${early} ms left before the waits are due`);
    const woken = new EventCounter(db, 'ExecutionCompleted');
    await until(async () => (await woken.count()) >= count, 600_000, 'every execution woken');
    // Then (not during the burst: no polling load on it) until the executions read model shows them all ended.
    await until(
      async () => {
        const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM workflow_executions WHERE status = 'completed'`);
        return Number(rows[0]!.n) >= count;
      },
      600_000,
      'the read model showing every execution completed',
    );
    const readModelDone = Date.now() - due.getTime();
    const { rows } = await db.query<{ ms: string }>(
      // The step's start: its StepStarted, or the StepCompleted it was recorded with (a step whose effects are all in the log).
      `SELECT extract(epoch FROM COALESCE(data->'started'->>'startedAt', data->>'startedAt')::timestamptz - $1::timestamptz) * 1000 AS ms
         FROM nf_events WHERE (type = 'StepStarted' OR (type = 'StepCompleted' AND data ? 'started')) AND data->>'stepId' = 'after'`,
      [due],
    );
    const lateness = new Latencies();
    for (const row of rows) lateness.add(Number(row.ms));
    note(
      `${count} executions waiting until ${due.toISOString()}; lateness = step after the wait started − that instant; read model caught up = that instant → the executions read model shows all completed`,
    );
    report('workflows.timer_lateness.p50', lateness.percentile(50), 'ms');
    report('workflows.timer_lateness.p99', lateness.percentile(99), 'ms', "≤ 5000 (then the peer's 600)");
    report('workflows.timer_lateness.max', lateness.percentile(100), 'ms');
    report('workflows.timer_read_model_caught_up', readModelDone, 'ms');
    report('workflows.timer_runner_rss_peak', mib(await runner.peakRss()), 'MiB');
  });
}

/**
 * Calls the inspector of a process started with `--inspect=127.0.0.1:<port>` (Chrome DevTools Protocol over its
 * WebSocket): `method` with `params`, its result.
 */
async function inspect<T>(port: number, method: string, params: Record<string, unknown> = {}): Promise<T> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  try {
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true });
      socket.addEventListener('error', reject, { once: true });
    });
    return await new Promise<T>((resolve, reject) => {
      socket.addEventListener('close', () => reject(new Error(`${method}: the inspector closed the connection`)), { once: true });
      socket.addEventListener('message', (message) => {
        const answer = JSON.parse(String(message.data)) as { id?: number; result?: T; error?: { message: string } };
        if (answer.id !== 1) return;
        if (answer.error) reject(new Error(`${method}: ${answer.error.message}`));
        else resolve(answer.result as T);
      });
      socket.send(JSON.stringify({ id: 1, method, params }));
    });
  } finally {
    socket.close();
  }
}

/**
 * The process's resident memory, and its V8 heap after a full garbage collection (through its inspector):
 * what it holds, without the garbage a quiet process has no reason to collect.
 */
async function memoryOf(server: ServerProcess, inspectorPort: number): Promise<{ rss: number; rssBeforeGc: number; heapUsed: number }> {
  const rssBeforeGc = await server.rss();
  await inspect(inspectorPort, 'HeapProfiler.collectGarbage');
  const { usedSize } = await inspect<{ usedSize: number }>(inspectorPort, 'Runtime.getHeapUsage');
  return { rss: await server.rss(), rssBeforeGc, heapUsed: usedSize };
}

/**
 * Memory of a runner with `count` executions waiting: their events are written straight to the store
 * (as the runner itself would have), the projections build the queue, then a runner process runs over it.
 * The runner's process is measured idle before (the figure the target compares with), 5 s after the queue
 * is built, and again once the log tail the projections read the burst from has let it go (its age limit:
 * PROJECTION_BACKLOG_DELAY_MS and 2 s), which is what the waiting executions themselves leave in memory.
 */
export async function benchWaitingMemory(databaseUrl: string, count: number): Promise<void> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 16 });
  await PostgresEventStore.migrate(db);
  const notifications = new PgNotifications(databaseUrl, db, pino({ level: 'silent' }));
  const store = new PostgresEventStore(db, notifications);
  const inspectorPort = await freePort();
  const runner = await ServerProcess.start('projectors/main.ts', env(databaseUrl), { nodeArgs: [`--inspect=127.0.0.1:${inspectorPort}`] });
  try {
    await new Promise((r) => setTimeout(r, 5_000));
    const idle = await memoryOf(runner, inspectorPort);
    const organizationId = randomUUID();
    const workflowId = randomUUID();
    const meta = () => ({
      tenantId: organizationId,
      actor: { type: 'system' as const, id: 'bench' },
      correlationId: randomUUID(),
      causationId: randomUUID(),
      occurredAt: new Date().toISOString(),
    });
    const definition = {
      trigger: { type: 'manual' },
      settings: { timezone: 'UTC', exitOn: [], exitAction: 'stop', mailbox: 'memory@bench.example' },
      steps: [
        { id: 'hold', type: 'wait', config: { duration: 'P30D' }, next: 'after' },
        { id: 'after', type: 'add_tag', config: { tag: 'woken' }, next: null },
      ],
    };
    await store.append(
      `workflow-${workflowId}`,
      [
        {
          id: randomUUID(),
          type: 'WorkflowCreated',
          version: 1,
          data: { workflowId, organizationId, name: 'Bench: memory', description: null, version: 1, definition },
          metadata: meta(),
        } as NewEvent,
      ],
      'no_stream',
    );
    const until30d = new Date(Date.now() + 30 * 86_400_000).toISOString();
    let written = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (written < count) {
          written++;
          const executionId = randomUUID();
          const now = new Date().toISOString();
          const e = (type: string, data: Record<string, unknown>) =>
            ({ id: randomUUID(), type, version: 1, data: { executionId, ...data }, metadata: meta() }) as NewEvent;
          await store.append(
            `execution-${executionId}`,
            [
              e('ExecutionStarted', {
                organizationId,
                workflowId,
                version: 1,
                contactId: randomUUID(),
                cause: { type: 'manual', id: executionId },
                entryStepId: 'hold',
                startedAt: now,
              }),
              e('StepStarted', {
                stepId: 'hold',
                stepType: 'wait',
                attempt: 1,
                idempotencyKey: `${executionId}:hold:1`,
                startedAt: now,
                takeover: false,
              }),
              e('StepCompleted', { workflowId, stepId: 'hold', stepType: 'wait', attempt: 1, output: {}, nextStepId: 'after', completedAt: now }),
              e('ExecutionWaiting', { stepId: 'after', until: until30d, reason: 'wait' }),
            ],
            'no_stream',
          );
        }
      }),
    );
    await until(
      async () => {
        const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM workflow_execution_queue WHERE due_at IS NOT NULL');
        return Number(rows[0]!.n) >= count;
      },
      900_000,
      'queue built',
    );
    // Let the runner idle over the full queue for a while.
    await new Promise((r) => setTimeout(r, 5_000));
    const waiting = await memoryOf(runner, inspectorPort);
    // The tail holds the burst's events until they are older than its age limit (12 s by default).
    await new Promise((r) => setTimeout(r, 10_000));
    const settled = await memoryOf(runner, inspectorPort);
    const over = (now: number, before: number) => `${now >= before ? '+' : '−'}${mib(Math.abs(now - before)).toFixed(0)} MiB`;
    const after = (what: { rss: number; rssBeforeGc: number; heapUsed: number }) =>
      `${over(what.rss, idle.rss)} against idle; heap after a full GC ${mib(what.heapUsed).toFixed(0)} MiB, ${over(what.heapUsed, idle.heapUsed)}; before that GC ${mib(what.rssBeforeGc).toFixed(0)} MiB of RSS`;
    note(
      `${count} executions waiting (30 days) in the queue; the runner process (with the projections) idle over them; each figure after a full GC (forced through the process's inspector): what the process holds, not the garbage an idle process has no reason to collect`,
    );
    report(
      'workflows.runner_rss_idle',
      mib(idle.rss),
      `MiB (the same process before any execution; heap after a full GC ${mib(idle.heapUsed).toFixed(0)} MiB; before that GC ${mib(idle.rssBeforeGc).toFixed(0)} MiB of RSS)`,
    );
    report(
      'workflows.runner_rss_with_waiting',
      mib(waiting.rss),
      `MiB 5 s after the queue was built (${after(waiting)})`,
      'rows, not runner memory: close to the idle figure',
    );
    report('workflows.runner_rss_with_waiting_settled', mib(settled.rss), `MiB 15 s after (${after(settled)}; the log tail has let the burst go)`);
    report('workflows.runner_rss_peak_with_waiting', mib(await runner.peakRss()), 'MiB');
  } finally {
    await runner.stop();
    await store.close();
    await notifications.close();
    await db.end();
  }
}
