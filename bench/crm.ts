import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { providers } from '../domain/integrations/providers.ts';
import { registerAccount, startTestSystemOn, type Account } from '../test/support/http.ts';
import { Latencies, mib, note, report, until } from './stats.ts';

/**
 * CRM sync (issue 20): the real Salesforce adapter (jsforce) against the loopback Salesforce (in a process of
 * its own: bench/crm-provider-process.ts), the whole system in this process (command API, query API,
 * projectors with the sync worker) on a fresh PostgreSQL database.
 *
 * - import: `contacts` records already in the CRM when it is connected, until every one is a contact (the
 *   initial run's inbound pass uses the event store's bulk append) — contacts/s in;
 * - incremental in: `changes` records edited in the CRM, then one incremental run — changes/s in;
 * - out: `changes` contacts edited through the API, until the CRM holds every edit — changes/s out;
 * - live lag: a contact created through the API every 50 ms, the time until the contacts read model shows it,
 *   idle and during the import (target: within 2× idle).
 */
export async function benchCrmSync(databaseUrl: string, options: { contacts: number; changes: number }): Promise<void> {
  const fake = await ProviderProcess.start();
  const info = (await fake.ask({ op: 'info' })) as { baseUrl: string; env: Record<string, string>; clientId: string; clientSecret: string };
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const id = 'salesforce';
  const system = await startTestSystemOn(databaseUrl, {
    [providers[id].env.baseUrl]: info.baseUrl,
    ...info.env,
    [providers[id].env.clientId]: info.clientId,
    [providers[id].env.clientSecret]: info.clientSecret,
    OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
    CRM_SYNC_POLL_MS: '200',
    DB_POOL_SIZE: '16',
  });
  try {
    const owner = await registerAccount(system);
    const http = system.http;
    const token = owner.accessToken;
    await fake.ask({ op: 'seed', count: options.contacts });

    const idle = await liveLag(system.http, db, owner, 5_000);
    const begun = await http.post(`/integrations/${id}/connect`, {}, { token });
    const consent = (await fake.ask({ op: 'authorize', url: begun.body.authorizationUrl })) as { code: string; state: string };
    const startedAt = performance.now();
    const callback = await http.get(
      `/integrations/oauth/callback?code=${encodeURIComponent(consent.code)}&state=${encodeURIComponent(consent.state)}`,
    );
    if (callback.status !== 201) throw new Error(`connect failed: ${callback.status} ${JSON.stringify(callback.body)}`);
    const integrationId = callback.body.id as string;
    const completed = (type: string, after = 0) =>
      db
        .query<{ n: string }>(`SELECT count(*) AS n FROM nf_events WHERE stream_id = $1 AND type = $2 AND position > $3`, [
          `integration-${integrationId}`,
          type,
          after,
        ])
        .then((r) => Number(r.rows[0]!.n));
    const during = liveLag(system.http, db, owner, null);
    await until(async () => (await completed('SyncCompleted')) >= 1, 1_800_000, 'the initial import');
    const importSeconds = (performance.now() - startedAt) / 1000;
    during.stop();
    const lag = await during.result;
    const imported = Number(
      (await db.query<{ n: string }>(`SELECT count(*) AS n FROM crm_sync_links WHERE integration_id = $1`, [integrationId])).rows[0]!.n,
    );
    note(
      `CRM import: ${options.contacts} Salesforce contacts through jsforce and the loopback Salesforce (its own process), pages of CRM_SYNC_PAGE_SIZE (default 500), bulk append`,
    );
    report('crm.import.contacts_linked', imported, 'contacts');
    report('crm.import', imported / importSeconds, 'contacts/s');
    report('crm.live_lag_idle.p50', idle.percentile(50), 'ms');
    report('crm.live_lag_idle.p99', idle.percentile(99), 'ms');
    report('crm.live_lag_during_import.p50', lag.percentile(50), 'ms');
    report('crm.live_lag_during_import.p99', lag.percentile(99), 'ms', `≤ 2 × idle (${(2 * idle.percentile(99)).toFixed(0)} ms)`);

    // Incremental in: edits made in the CRM, then one run.
    await fake.ask({ op: 'edit', count: options.changes, fields: { Title: 'Edited in Salesforce' } });
    await until(async () => (await http.get(`/integrations/${integrationId}/status`, { token })).body.runInProgress === null, 600_000, 'no run');
    const mark = Number((await db.query<{ p: string }>(`SELECT coalesce(max(position), 0) AS p FROM nf_events`)).rows[0]!.p);
    const inStarted = performance.now();
    const run = await http.post(`/integrations/${integrationId}/sync`, { kind: 'incremental' }, { token });
    if (run.status !== 202) throw new Error(`sync failed to start: ${run.status} ${JSON.stringify(run.body)}`);
    await until(async () => (await completed('SyncCompleted', mark)) >= 1, 600_000, 'the incremental run');
    report('crm.incremental_in', options.changes / ((performance.now() - inStarted) / 1000), 'changes/s');

    // Out: edits made here, until the CRM holds them all.
    // Imported ones (the live-lag probe's contacts have no last name, which Salesforce requires: they are refused, and shown).
    const { rows: ours } = await db.query<{ id: string }>(
      `SELECT id FROM contacts WHERE organization_id = $1 AND email LIKE '%@import.example' ORDER BY id LIMIT $2`,
      [owner.organizationId, options.changes],
    );
    const outStarted = performance.now();
    for (let i = 0; i < ours.length; i += 16) {
      await Promise.all(ours.slice(i, i + 16).map((row) => http.patch(`/contacts/${row.id}`, { title: 'Edited in NexusFlow' }, { token })));
    }
    await until(
      async () => ((await fake.ask({ op: 'count', field: 'Title', value: 'Edited in NexusFlow' })) as { count: number }).count >= ours.length,
      600_000,
      'the outbound changes',
    );
    report('crm.out', ours.length / ((performance.now() - outStarted) / 1000), 'changes/s');
    report('crm.process_rss_peak', mib(process.resourceUsage().maxRSS * 1024), 'MiB');
  } finally {
    await system.stop();
    await db.end();
    fake.stop();
  }
}

/** The loopback provider's process, and its one-line-each request/answer channel. */
class ProviderProcess {
  private readonly answers: ((line: string) => void)[] = [];

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.answers.shift()?.(line));
  }

  static async start(): Promise<ProviderProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'crm-provider-process.ts')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    return new ProviderProcess(child);
  }

  ask(request: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.answers.push((line) => {
        const reply = JSON.parse(line) as { ok?: unknown; error?: string };
        if (reply.error) reject(new Error(`loopback Salesforce: ${reply.error}`));
        else resolve(reply.ok);
      });
      this.child.stdin!.write(`${JSON.stringify(request)}\n`);
    });
  }

  stop(): void {
    this.child.stdin!.end();
  }
}

/** Creates a contact every 50 ms and measures until the contacts read model has it; `ms` null: until stopped. */
function liveLag(
  http: { post: (path: string, body: unknown, options: { token: string }) => Promise<{ status: number; body: { id: string } }> },
  db: pg.Pool,
  owner: Account,
  ms: number | null,
): Promise<Latencies> & { stop(): void; result: Promise<Latencies> } {
  let stopped = false;
  const latencies = new Latencies();
  const deadline = ms === null ? Infinity : Date.now() + ms;
  const run = (async () => {
    let n = 0;
    while (!stopped && Date.now() < deadline) {
      const tick = Date.now();
      const created = await http.post('/contacts', { email: `live${n++}-${tick}@live.example` }, { token: owner.accessToken });
      if (created.status !== 201) throw new Error(`live contact: ${created.status}`);
      const t0 = performance.now();
      for (;;) {
        const { rowCount } = await db.query('SELECT 1 FROM contacts WHERE id = $1', [created.body.id]);
        if (rowCount) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      latencies.add(performance.now() - t0);
      const rest = 50 - (Date.now() - tick);
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    }
    return latencies;
  })();
  return Object.assign(run, {
    stop: () => {
      stopped = true;
    },
    result: run,
  });
}
