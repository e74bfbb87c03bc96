/**
 * `npm run bench`: the figures issues #2 and #3 ask for (and search and analytics), measured against a real
 * PostgreSQL server (and the ClickHouse server at CLICKHOUSE_URL for `analytics`; Elasticsearch at
 * ELASTICSEARCH_URL for `search` when set).
 *
 * DATABASE_URL names the server (default: the local one); each section runs in a fresh database created on
 * it and dropped afterwards, so figures never depend on what an earlier run left behind.
 * Options: --only eventstore,http,projection,visibility,auth,workflows,search,analytics,audit,fuzz,ai  --seconds 5  --contacts 40000
 *          --http-warmup 5 (seconds of c32 load on the fresh command API before the measured window; its figures apart)
 *          --bulk-streams 50000 (eventstore: new streams of 4 events in the bulk append)
 *          --executions 2000 --executions-limited 2000 (on a plan that limits executions; 0 skips) --timers 10000 --waiting 100000
 *          --timers-lead N (minutes between the set-up's start and the instant; default: 1 per 2,000 waits, at least 2)
 *          --search-contacts 100000 (search)  --analytics-events 200000 --analytics-rows 1000000 (analytics)
 *          --batch-size 1000 (projection batches: projection, search, analytics)
 *          --catchup-batch-size 5000 (a read model's batches well behind the head: projection; PROJECTION_CATCHUP_BATCH_SIZE's default)
 *          --stream-events 100000 --audit-contacts 50000 (audit: one long stream, then contacts to rebuild and export)
 *          --fuzz-requests 5000 (fuzz: the API fuzz suite's pace, and the text rule's cost per request)
 *          --crm-contacts 50000 --crm-changes 1000 (crm: import from the loopback Salesforce, then changes each way)
 *          --metering-events 200000 (billing: usage events through the metering projection, in --batch-size batches)
 *          --ai-requests 400 --ai-contacts 100000 --ai-searches 200 (ai: chat completions directly and through the
 *          gateway against the loopback provider; embedding search over that many contacts of one organization)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { benchAi } from './ai.ts';
import { benchAnalyticsDashboard, benchAnalyticsProjection } from './analytics.ts';
import { benchAudit } from './audit.ts';
import { benchAuth } from './auth.ts';
import { benchCrmSync } from './crm.ts';
import { benchBulkAppend, benchEventStore } from './eventstore.ts';
import { benchFuzz } from './fuzz.ts';
import { benchMemory } from './memory.ts';
import { benchCreateContact, benchVisibilityLag, deployedNodeOptions } from './http.ts';
import { benchMeteringIngest } from './metering.ts';
import { benchSearch } from './search.ts';
import { benchExecutions, benchTimerLateness, benchWaitingMemory } from './workflows.ts';
import { mib, note, report } from './stats.ts';

const sections = [
  'eventstore',
  'http',
  'projection',
  'visibility',
  'auth',
  'workflows',
  'search',
  'analytics',
  'audit',
  'fuzz',
  'memory',
  'crm',
  'billing',
  'ai',
] as const;
type Section = (typeof sections)[number];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    seconds: { type: 'string', default: '5' },
    'bulk-streams': { type: 'string', default: '50000' },
    contacts: { type: 'string', default: '40000' },
    'batch-size': { type: 'string', default: '1000' },
    'catchup-batch-size': { type: 'string', default: '5000' },
    rate: { type: 'string', default: '500' },
    'visibility-warmup': { type: 'string', default: '5' },
    'http-warmup': { type: 'string', default: '5' },
    'skip-one-process': { type: 'boolean', default: false },
    executions: { type: 'string', default: '2000' },
    'executions-warmup': { type: 'string', default: '500' },
    'executions-limited': { type: 'string', default: '2000' },
    timers: { type: 'string', default: '10000' },
    'timers-lead': { type: 'string', default: '0' },
    waiting: { type: 'string', default: '100000' },
    'search-contacts': { type: 'string', default: '100000' },
    'analytics-events': { type: 'string', default: '200000' },
    'analytics-rows': { type: 'string', default: '1000000' },
    'stream-events': { type: 'string', default: '100000' },
    'audit-contacts': { type: 'string', default: '50000' },
    'fuzz-requests': { type: 'string', default: '5000' },
    'memory-contacts': { type: 'string', default: '2000' },
    'crm-contacts': { type: 'string', default: '50000' },
    'crm-changes': { type: 'string', default: '1000' },
    'metering-events': { type: 'string', default: '200000' },
    'ai-requests': { type: 'string', default: '400' },
    'ai-contacts': { type: 'string', default: '100000' },
    'ai-searches': { type: 'string', default: '200' },
  },
});
const chosen = (values.only?.split(',') ?? sections) as Section[];
for (const name of chosen) {
  if (!sections.includes(name)) throw new Error(`--only: unknown section "${name}" (known: ${sections.join(', ')})`);
}
const durationMs = Number(values.seconds) * 1000;
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs node with `args` (a bench section in a process of its own), its output as this process's; fails if it fails. */
async function inChildProcess(args: string[]): Promise<void> {
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('exit', resolve));
  if (code !== 0) throw new Error(`node ${args.filter((arg) => !arg.startsWith('postgres')).join(' ')} exited with ${code}`);
}

async function withFreshDatabase(label: string, work: (url: string) => Promise<void>): Promise<void> {
  const name = `nf_bench_${label}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  try {
    await work(url.toString());
  } finally {
    const dropper = new pg.Client({ connectionString: serverUrl });
    await dropper.connect();
    await dropper.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`).finally(() => dropper.end());
  }
}

async function describeServer(): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string; fsync: string; synchronous_commit: string }>(
      `SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync,
              current_setting('synchronous_commit') AS synchronous_commit`,
    );
    const row = rows[0]!;
    return `PostgreSQL ${row.version} (fsync ${row.fsync}, synchronous_commit ${row.synchronous_commit})`;
  } finally {
    await client.end();
  }
}

const redacted = new URL(serverUrl);
if (redacted.password) redacted.password = '***';
note(
  `NexusFlow bench — ${new Date().toISOString()} — Node ${process.version}, ${os.cpus().length} cores, ${await describeServer()} at ${redacted.host}`,
);

if (chosen.includes('eventstore')) {
  note('event store: one event per append, closed loop, through the PostgreSQL adapter (group commit)');
  await withFreshDatabase('eventstore', (url) => benchEventStore(url, durationMs));
  // A database of its own: the bulk figure should not depend on what the appends above left.
  await withFreshDatabase('bulk', (url) => benchBulkAppend(url, Number(values['bulk-streams'])));
}
if (chosen.includes('http')) {
  note('HTTP: command API in its own process (npm run start:command-api), the load generator in this one');
  const httpWarmupMs = Number(values['http-warmup']) * 1000;
  await withFreshDatabase('http', (url) => benchCreateContact(url, durationMs, 'command-api/main.ts', 'plain', httpWarmupMs));
  // The same on a plan that limits contacts: what the exact limit check costs when it applies.
  await withFreshDatabase('http_limited', (url) => benchCreateContact(url, durationMs, 'command-api/main.ts', 'limited', httpWarmupMs));
  // The same with an Idempotency-Key on every request: what the idempotency layer costs (its Redis round trips).
  await withFreshDatabase('http_idempotent', (url) => benchCreateContact(url, durationMs, 'command-api/main.ts', 'idempotent', httpWarmupMs));
}
if (chosen.includes('projection')) {
  const deployed = await deployedNodeOptions('projectors/main.ts');
  note(`catch-up: in a process of its own with the projectors' deployed node options (${deployed.join(' ') || 'none'})`);
  await withFreshDatabase('projection', (url) =>
    inChildProcess([
      ...deployed,
      '--import',
      'tsx',
      'bench/projection-process.ts',
      url,
      String(values.contacts),
      String(values['batch-size']),
      String(values['catchup-batch-size']),
    ]),
  );
}
if (chosen.includes('visibility')) {
  await withFreshDatabase('visibility', (url) =>
    benchVisibilityLag(url, durationMs, Number(values.rate), 'separate', 'visibility_lag', Number(values['visibility-warmup']) * 1000),
  );
  if (!values['skip-one-process']) {
    await withFreshDatabase('visibility', (url) =>
      benchVisibilityLag(
        url,
        durationMs,
        Number(values.rate),
        'one-process',
        'visibility_lag.one_process',
        Number(values['visibility-warmup']) * 1000,
      ),
    );
  }
}
if (chosen.includes('auth')) {
  await withFreshDatabase('auth', (url) => benchAuth(url, durationMs));
}
if (chosen.includes('workflows')) {
  // 0 skips a part (--timers 0 --waiting 0: only the executions).
  if (Number(values.executions) > 0)
    await withFreshDatabase('executions', (url) => benchExecutions(url, Number(values.executions), Number(values['executions-warmup'])));
  // The same on a plan that limits executions per billing period (each start takes a unit of the quota).
  if (Number(values['executions-limited']) > 0)
    await withFreshDatabase('executions_limited', (url) =>
      benchExecutions(url, Number(values['executions-limited']), Number(values['executions-warmup']), true),
    );
  if (Number(values.timers) > 0)
    await withFreshDatabase('timers', (url) => benchTimerLateness(url, Number(values.timers), Number(values['timers-lead'])));
  if (Number(values.waiting) > 0) await withFreshDatabase('waiting', (url) => benchWaitingMemory(url, Number(values.waiting)));
}
if (chosen.includes('search')) {
  await withFreshDatabase('search', (url) =>
    benchSearch(url, { contacts: Number(values['search-contacts']), durationMs, batchSize: Number(values['batch-size']) }),
  );
}
if (chosen.includes('analytics')) {
  await withFreshDatabase('analytics', (url) =>
    benchAnalyticsProjection(url, { events: Number(values['analytics-events']), batchSize: Number(values['batch-size']) }),
  );
  await withFreshDatabase('dashboard', (url) => benchAnalyticsDashboard(url, { rows: Number(values['analytics-rows']), durationMs }));
}
if (chosen.includes('audit')) {
  await withFreshDatabase('audit', (url) =>
    benchAudit(url, { streamEvents: Number(values['stream-events']), contacts: Number(values['audit-contacts']) }),
  );
}
if (chosen.includes('memory')) {
  note('memory: the all-in-one process as `npm start` runs it (compiled, embedded database)');
  await benchMemory(Number(values['memory-contacts']));
}
if (chosen.includes('fuzz')) {
  await withFreshDatabase('fuzz', (url) => benchFuzz(url, Number(values['fuzz-requests'])));
}
if (chosen.includes('crm')) {
  await withFreshDatabase('crm', (url) => benchCrmSync(url, { contacts: Number(values['crm-contacts']), changes: Number(values['crm-changes']) }));
}
if (chosen.includes('billing')) {
  await withFreshDatabase('metering', (url) => benchMeteringIngest(url, Number(values['metering-events']), Number(values['batch-size'])));
}
if (chosen.includes('ai')) {
  note('AI: the command API in its own process, the loopback OpenAI-compatible provider and the load generator in this one');
  await withFreshDatabase('ai', (url) =>
    benchAi(url, { requests: Number(values['ai-requests']), contacts: Number(values['ai-contacts']), searches: Number(values['ai-searches']) }),
  );
}
report('bench.rss_peak', mib(process.resourceUsage().maxRSS * 1024), 'MiB');
