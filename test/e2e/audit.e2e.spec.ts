import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { nexusflow } from '../support/cli.ts';
import { readFileSync } from 'node:fs';
import type { OrganizationCommands } from '../../command-api/organizations/organization-commands.ts';
import { contactDecider } from '../../domain/contacts/decide.ts';
import { commandCoreModule } from '../../command-api/module.ts';
import { organizationServicesModule } from '../../command-api/organizations/module.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { withServices } from '../support/services.ts';
import { eventually } from '../support/events.ts';
import { inviteMember, registerAccount, startTestSystem, TEST_JWT_SECRET, uniqueEmail, type Account, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';

/** The export's heap limit in the constant-memory test (the process's baseline is about 40 MB of heap). */
const HEAP_CAP_MB = 80;

/**
 * An instant strictly after everything done so far and strictly before anything done next (the system runs
 * in this process, on this clock): waits until the millisecond clock has moved on, on both sides.
 */
async function momentBetween(): Promise<string> {
  const done = Date.now();
  const at = await eventually(
    () => Date.now(),
    (now) => now > done,
  );
  await eventually(
    () => Date.now(),
    (now) => now > at,
  );
  return new Date(at).toISOString();
}

describe('Replay and audit: point-in-time state, the audit log, exports, tamper evidence (real PostgreSQL)', function () {
  this.timeout(300_000);
  let system: TestSystem;
  let owner: Account;
  let member: Account;
  let env: NodeJS.ProcessEnv;
  let contactId: string;
  /** Moments between the contact's changes, and what its state was then, computed by hand. */
  const moments: { at: string; firstName: string | null; title: string | null; tags: string[] }[] = [];
  let lastPosition: string;
  let outputDir: string;

  before(async () => {
    system = await startTestSystem();
    owner = await registerAccount(system, 'Audited');
    member = await inviteMember(system, owner, 'member');
    // The command line reads sealed personal data with the processes' data key; it needs no token secret.
    env = {
      DATABASE_URL: system.database.url,
      LOG_LEVEL: 'warn',
      JWT_SECRET: '',
      DATA_ENCRYPTION_KEY: TEST_JWT_SECRET,
      NEXUSFLOW_DATA_DIR: '/nonexistent',
    };
    outputDir = await mkdtemp(path.join(os.tmpdir(), 'nf-audit-'));

    const created = await system.http.post(
      '/contacts',
      { email: uniqueEmail('ada'), firstName: 'Ada', tags: ['lead'] },
      { token: owner.accessToken },
    );
    contactId = created.body.id;
    moments.push({ at: await momentBetween(), firstName: 'Ada', title: null, tags: ['lead'] });
    expect((await system.http.patch(`/contacts/${contactId}`, { title: 'CTO' }, { token: member.accessToken })).status).to.equal(200);
    moments.push({ at: await momentBetween(), firstName: 'Ada', title: 'CTO', tags: ['lead'] });
    expect((await system.http.post(`/contacts/${contactId}/tags`, { add: ['vip'] }, { token: owner.accessToken })).status).to.equal(200);
    const renamed = await system.http.patch(`/contacts/${contactId}`, { firstName: 'Augusta' }, { token: owner.accessToken });
    lastPosition = renamed.body.position;
    moments.push({ at: new Date(Date.now() + 1_000).toISOString(), firstName: 'Augusta', title: 'CTO', tags: ['lead', 'vip'] });
  });

  after(async () => {
    await system?.stop();
    if (outputDir) await rm(outputDir, { recursive: true, force: true });
  });

  describe('point-in-time state', () => {
    it('answers the state at each moment, equal to a fold computed by hand, and before creation 404', async () => {
      for (const moment of moments) {
        const reply = await system.http.get(`/audit/entities/contact/${contactId}?at=${encodeURIComponent(moment.at)}`, { token: owner.accessToken });
        expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
        expect(reply.body.state).to.include({ firstName: moment.firstName, title: moment.title, status: 'active' });
        expect(reply.body.state.tags).to.deep.equal(moment.tags);
      }
      const before = await system.http.get(`/audit/entities/contact/${contactId}?at=2020-01-01T00:00:00Z`, { token: owner.accessToken });
      expectProblem(before, 404);
      // The same through the command line, with the state after every event.
      const run = await nexusflow(['replay', 'stream', `contact-${contactId}`, '--until', moments[1]!.at, '--json'], env);
      expect(run.code, run.stderr).to.equal(0);
      const replayed = JSON.parse(run.stdout);
      expect(replayed).to.include({ events: 4, replayed: 2 });
      expect(replayed.steps.map((s: { type: string }) => s.type)).to.deep.equal(['ContactCreated', 'ContactUpdated']);
      // And equal to folding the stream with today's decider by hand.
      const stream = await system.process.platform.eventStore.readStream(`contact-${contactId}`);
      const folded = stream.slice(0, 2).reduce((s, e) => contactDecider.evolve(s, e as never), contactDecider.initialState);
      expect(replayed.steps[1].state).to.deep.equal(JSON.parse(JSON.stringify(folded)));
    });

    it('takes a log position as the moment, and refuses a bad one, another tenant’s entity, or a type that is not the tenant’s', async () => {
      const atPosition = await system.http.get(`/audit/entities/contact/${contactId}?at=${lastPosition}&steps=true`, { token: owner.accessToken });
      expect(atPosition.body.state.firstName).to.equal('Augusta');
      expect(atPosition.body.steps).to.have.length(4);
      const bad = await system.http.get(`/audit/entities/contact/${contactId}?at=yesterday`, { token: owner.accessToken });
      expectProblem(bad, 400, ['at']);
      expectProblem(await system.http.get(`/audit/entities/plan/${randomUUID()}`, { token: owner.accessToken }), 400, ['type']);
      const other = await registerAccount(system, 'Elsewhere');
      expectProblem(await system.http.get(`/audit/entities/contact/${contactId}`, { token: other.accessToken }), 404);
      // Members cannot read the audit trail (owners and admins can).
      expectProblem(await system.http.get(`/audit/entities/contact/${contactId}`, { token: member.accessToken }), 403);
    });
  });

  describe('the audit log', () => {
    it('lists who did what and when, filtered by entity, actor, type and time, newest first, in pages', async () => {
      const read = (query: string) => system.http.get(`/audit?${query}`, { token: owner.accessToken, headers: { 'X-Min-Position': lastPosition } });
      const byEntity = await read(`entity=${contactId}`);
      expect(byEntity.status).to.equal(200);
      expect(byEntity.body.data.map((e: { eventType: string }) => e.eventType)).to.deep.equal([
        'ContactUpdated',
        'ContactTagged',
        'ContactUpdated',
        'ContactCreated',
      ]);
      expect(byEntity.body.data[2].actor).to.deep.equal({ type: 'user', id: member.userId });
      const byActor = await read(`actor=${member.userId}&type=ContactUpdated`);
      expect(byActor.body.data).to.have.length(1);
      const window = await read(`entity=contact-${contactId}&from=${encodeURIComponent(moments[0]!.at)}&to=${encodeURIComponent(moments[1]!.at)}`);
      expect(window.body.data.map((e: { eventType: string }) => e.eventType)).to.deep.equal(['ContactUpdated']);

      const first = await read('limit=2');
      expect(first.body.data).to.have.length(2);
      expect(first.body.page.hasMore).to.equal(true);
      const second = await read(`limit=2&cursor=${first.body.page.nextCursor}`);
      expect(second.body.data[0].position).not.to.equal(first.body.data[1].position);
      expectProblem(await read('limit=0&cursor=x&type=Contact_Created'), 400, ['limit', 'cursor', 'type']);
      expectProblem(await read(`from=${encodeURIComponent(moments[1]!.at)}&to=${encodeURIComponent(moments[0]!.at)}`), 400, ['to']);
      // The command line reads the same log.
      const run = await nexusflow(['audit', 'log', '--tenant', owner.organizationId, '--entity', contactId, '--json'], env);
      expect(run.code, run.stderr).to.equal(0);
      expect(JSON.parse(run.stdout).data).to.have.length(4);
    });
  });

  describe('exports', () => {
    it('streams the trail over HTTP as JSON lines and CSV', async () => {
      const response = await fetch(`${system.http.baseUrl}/audit/export`, { headers: { Authorization: `Bearer ${owner.accessToken}` } });
      expect(response.status).to.equal(200);
      expect(response.headers.get('content-type')).to.include('application/x-ndjson');
      const lines = (await response.text())
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(
        lines.every((l: { streamId: string }) => !l.streamId.startsWith('organization-') || l.streamId === `organization-${owner.organizationId}`),
      ).to.equal(true);
      expect(lines.some((l: { streamId: string }) => l.streamId === `contact-${contactId}`)).to.equal(true);
      // Secrets are not exported, even hashed.
      expect(JSON.stringify(lines)).not.to.match(/scrypt\$/);
      const csv = await fetch(`${system.http.baseUrl}/audit/export?format=csv`, { headers: { Authorization: `Bearer ${owner.accessToken}` } });
      const rows = (await csv.text()).trim().split('\n');
      expect(rows[0]).to.equal(
        'position,eventId,streamId,revision,type,version,occurredAt,recordedAt,actorType,actorId,correlationId,causationId,previousHash,data',
      );
      expect(rows).to.have.length(lines.length + 1);
    });

    it('exports 100,000 events to a file with a correct manifest, within a heap capped far below their size', async () => {
      const tenant = randomUUID();
      const store = system.process.platform.eventStore;
      const occurredAt = '2026-06-01T12:00:00.000Z';
      const append = async (count: number) => {
        for (let done = 0; done < count; done += 500) {
          await Promise.all(
            Array.from({ length: 10 }, async (_, s) => {
              const events = Array.from({ length: 50 }, (__, i) => ({
                id: randomUUID(),
                type: 'ContactNoted',
                version: 1,
                data: { note: `note ${done + s * 50 + i}`, padding: 'x'.repeat(200) },
                metadata: {
                  tenantId: tenant,
                  actor: { type: 'system' as const, id: 'bulk' },
                  correlationId: 'bulk',
                  causationId: 'bulk',
                  occurredAt,
                },
              }));
              await store.append(`note-${randomUUID()}`, events as never, 'no_stream');
            }),
          );
        }
      };
      const exportTo = async (file: string, extra: NodeJS.ProcessEnv = {}) => {
        const run = await nexusflow(
          [
            'audit',
            'export',
            '--tenant',
            tenant,
            '--from',
            '2026-01-01T00:00:00Z',
            '--to',
            '2027-01-01T00:00:00Z',
            '--format',
            'jsonl',
            '--output',
            file,
            '--json',
          ],
          { ...env, ...extra },
        );
        expect(run.code, run.stderr).to.equal(0);
        return JSON.parse(run.stdout) as {
          events: number;
          bytes: number;
          sha256: string;
          firstPosition: string;
          lastPosition: string;
          peakRssBytes: number;
          types: Record<string, number>;
        };
      };
      await append(10_000);
      const small = await exportTo(path.join(outputDir, 'small.jsonl'));
      expect(small.events).to.equal(10_000);
      await append(90_000);
      const file = path.join(outputDir, 'large.jsonl');
      // Constant memory: the heap is capped far below what 100,000 events (a 30 MB file) would take in memory.
      const large = await exportTo(file, { NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MB}` });
      expect(large.events).to.equal(100_000);
      expect(large.types).to.deep.equal({ ContactNoted: 100_000 });
      const content = await readFile(file);
      expect(large.bytes).to.equal(content.length);
      expect(large.sha256).to.equal(createHash('sha256').update(content).digest('hex'));
      const manifest = JSON.parse(readFileSync(`${file}.manifest.json`, 'utf8'));
      expect(manifest.sha256).to.equal(large.sha256);
      const lines = content.toString('utf8').trimEnd().split('\n');
      expect(lines).to.have.length(100_000);
      expect(JSON.parse(lines[0]!).position).to.equal(large.firstPosition);
      expect(JSON.parse(lines[lines.length - 1]!).position).to.equal(large.lastPosition);
      expect(large.bytes).to.be.greaterThan(9 * small.bytes);
    });
  });

  describe('erasure that keeps the log', () => {
    it('seals a person’s data in the log; erasing destroys their key: replays show them erased, read models forget them, chains stay valid', async () => {
      const email = uniqueEmail('zenobia');
      const created = await system.http.post(
        '/contacts',
        { email, firstName: 'Zenobia', lastName: 'Quarrington', tags: ['gdpr'] },
        { token: owner.accessToken },
      );
      const id = created.body.id as string;
      await system.http.patch(`/contacts/${id}`, { title: 'Queen of Palmyra' }, { token: owner.accessToken });
      // In the log, the person's data is sealed: not even the stored JSON holds it.
      const stored = await system.process.platform.pool.query<{ data: string }>('SELECT data::text AS data FROM nf_events WHERE stream_id = $1', [
        `contact-${id}`,
      ]);
      const raw = stored.rows.map((r) => r.data).join();
      expect(raw).not.to.include('Zenobia');
      expect(raw).not.to.include(email);
      expect(raw).to.include('$personal');
      const found = await system.http.get('/search/contacts?q=Zenobia', {
        token: owner.accessToken,
        headers: { 'X-Min-Position': created.body.position },
      });
      expect(found.body.data.map((c: { id: string }) => c.id)).to.include(id);

      const unconfirmed = await nexusflow(['gdpr', 'erase', id, '--tenant', owner.organizationId, '--json'], env);
      expect(unconfirmed.code, 'irreversible: refused without --yes').to.equal(2);
      expect(unconfirmed.stderr).to.include('--yes');
      const run = await nexusflow(['gdpr', 'erase', id, '--tenant', owner.organizationId, '--yes', '--json', '--as', 'dpo@acme.test'], env);
      expect(run.code, run.stderr).to.equal(0);
      const outcome = JSON.parse(run.stdout);
      expect(outcome).to.include({ contactId: id, erased: true, deletedNow: true });

      expectProblem(await system.http.get(`/contacts/${id}`, { token: owner.accessToken, headers: { 'X-Min-Position': outcome.position } }), 404);
      const searched = await system.http.get('/search/contacts?q=Zenobia', {
        token: owner.accessToken,
        headers: { 'X-Min-Position': outcome.position },
      });
      expect(searched.body.data).to.deep.equal([]);

      const replayed = JSON.parse((await nexusflow(['replay', 'stream', `contact-${id}`, '--json'], env)).stdout);
      expect(replayed.steps.map((s: { type: string }) => s.type)).to.deep.equal([
        'ContactCreated',
        'ContactUpdated',
        'ContactDeleted',
        'ContactErased',
      ]);
      expect(replayed.steps[1].state).to.include({ email: '[erased]', firstName: '[erased]', lastName: '[erased]', title: '[erased]' });
      expect(replayed.steps[3].state).to.deep.equal({ status: 'erased', id, organizationId: owner.organizationId });
      // The operator who ran it is the recorded actor.
      expect(replayed.steps[3].actor).to.deep.equal({ type: 'system', id: 'operator:dpo@acme.test' });
      expect(JSON.stringify(replayed)).not.to.include('Zenobia');
      const at = await system.http.get(`/audit/entities/contact/${id}?at=${encodeURIComponent(new Date(Date.now() - 1).toISOString())}`, {
        token: owner.accessToken,
      });
      expect(JSON.stringify(at.body)).not.to.include('Zenobia');

      const verify = await nexusflow(['audit', 'verify', '--tenant', owner.organizationId, '--json'], env);
      expect(verify.code, verify.stdout).to.equal(0);
      const trail = await system.http.get(`/audit?entity=${id}`, { token: owner.accessToken, headers: { 'X-Min-Position': outcome.position } });
      expect(trail.body.data.map((e: { eventType: string }) => e.eventType)).to.deep.equal([
        'ContactErased',
        'ContactDeleted',
        'ContactUpdated',
        'ContactCreated',
      ]);
      // Erasing again changes nothing; the email is free for a new contact.
      expect(JSON.parse((await nexusflow(['gdpr', 'erase', id, '--yes', '--json'], env)).stdout)).to.include({ erased: false });
      expect((await system.http.post('/contacts', { email }, { token: owner.accessToken })).status).to.equal(201);
    });
  });

  describe('projections from the command line', () => {
    it('lists parked events and replays them: still failing exits 1, fixed ones resolve; reset refuses without --yes', async () => {
      const organizationId = randomUUID();
      const stream = `organization-${organizationId}`;
      const renamed = {
        id: randomUUID(),
        type: 'OrganizationRenamed',
        version: 1,
        data: { organizationId, name: 'Late' },
        metadata: {
          tenantId: organizationId,
          actor: { type: 'system', id: 'test' },
          correlationId: 'c',
          causationId: 'c',
          occurredAt: new Date().toISOString(),
        },
      };
      await system.process.platform.eventStore.append(stream, [renamed] as never, 'no_stream');
      const parked = await eventually(
        async () =>
          JSON.parse((await nexusflow(['projections', 'parked', '--projection', 'organizations', '--json'], env)).stdout).parked as {
            id: string;
            streamId: string;
          }[],
        (list) => list.some((p) => p.streamId === stream),
        30_000,
      );
      const id = parked.find((p) => p.streamId === stream)!.id;
      const still = await nexusflow(['projections', 'replay-parked', id, '--json'], env);
      expect(still.code).to.equal(1);
      expect(JSON.parse(still.stdout).outcomes[0]).to.include({ resolved: false });

      const created = {
        ...renamed,
        id: randomUUID(),
        type: 'OrganizationCreated',
        version: 2,
        data: { organizationId, name: 'Early', ownerUserId: randomUUID(), timezone: 'UTC', ownerEmail: null, trialEndsAt: null },
      };
      await system.process.platform.eventStore.append(stream, [created] as never, 0);
      await eventually(
        () => system.process.platform.pool.query('SELECT 1 FROM organizations WHERE id = $1', [organizationId]),
        (r) => r.rowCount === 1,
      );
      const fixed = await nexusflow(['projections', 'replay-parked', '--all', '--json'], env);
      expect(fixed.code, fixed.stdout + fixed.stderr).to.equal(0);
      const row = await system.process.platform.pool.query<{ name: string }>('SELECT name FROM organizations WHERE id = $1', [organizationId]);
      expect(row.rows[0]!.name).to.equal('Late');
      const audit = await system.process.platform.eventStore.readStream(`parkedEvent-${id}`);
      expect(audit.map((e) => (e.data as { resolved: boolean }).resolved)).to.deep.equal([false, true]);

      const unsafe = await nexusflow(['projections', 'reset', 'contacts'], env);
      expect(unsafe.code).to.equal(2);
      expect(unsafe.stderr).to.include('--yes');
      expect((await nexusflow(['projections', 'reset', 'search', '--yes'], env)).stderr).to.include('projections rebuild search');
    });
  });

  describe('tamper evidence', () => {
    it('verifies the log, then finds an event edited behind the system’s back', async () => {
      const clean = await nexusflow(['audit', 'verify', '--json'], env);
      expect(clean.code, clean.stderr).to.equal(0);
      const report = JSON.parse(clean.stdout);
      expect(report).to.include({ intact: true, brokenLinks: 0 });
      expect(report.events).to.be.greaterThan(100_000);

      await system.process.platform.pool.query(
        `UPDATE nf_events SET data = jsonb_set(data, '{changes,title}', '"Intern"') WHERE stream_id = $1 AND revision = 1 RETURNING 1`,
        [`contact-${contactId}`],
      );
      const tampered = await nexusflow(['audit', 'verify', '--tenant', owner.organizationId, '--json'], env);
      expect(tampered.code).to.equal(1);
      const broken = JSON.parse(tampered.stdout);
      expect(broken.intact).to.equal(false);
      expect(broken.firstBroken).to.include({ streamId: `contact-${contactId}`, revision: 2, reason: 'link_mismatch' });
    });
  });

  describe('upcasting', () => {
    it('replays a stream stored years ago in version 1 with today’s code: projected, replayed and acted on', async () => {
      const fixture = JSON.parse(readFileSync(new URL('../fixtures/events/organization-v1.json', import.meta.url), 'utf8')) as {
        streamSuffix: string;
        events: { type: string; version: number; data: object; metadata: object }[];
      };
      const stream = `organization-${fixture.streamSuffix}`;
      // Stored as written then, beneath the layer that upgrades on read.
      await system.process.platform.storedLog.append(stream, fixture.events.map((e) => ({ ...e, id: randomUUID() })) as never, 'no_stream');
      await eventually(
        () =>
          system.process.platform.pool.query<{ name: string; trial_ends_at: Date | null }>(
            'SELECT name, trial_ends_at FROM organizations WHERE id = $1',
            [fixture.streamSuffix],
          ),
        (r) => r.rows[0]?.name === 'Founders Group',
      );
      const run = await nexusflow(['replay', 'stream', stream, '--json'], env);
      expect(run.code, run.stderr).to.equal(0);
      const replayed = JSON.parse(run.stdout);
      expect(replayed.steps[0]).to.include({ type: 'OrganizationCreated', version: 2 });
      expect(replayed.steps[2].state).to.include({ name: 'Founders Group', trialEndsAt: null, status: 'active' });
      const stored = await system.process.platform.storedLog.readStream(stream);
      expect(stored[0]!.version).to.equal(1);
      // Today's deciders act on it: a command decided on the upgraded history appends after it.
      const id = randomUUID();
      const outcome = await withServices(system, [commandCoreModule, organizationServicesModule], async (services) =>
        (await services.get<OrganizationCommands>(TOKENS.OrganizationCommands)).suspend(
          { tenantId: fixture.streamSuffix, actor: { type: 'staff', id: 'staff-1' }, correlationId: id, causationId: id, now: new Date() },
          fixture.streamSuffix,
          'dormant since 2024',
        ),
      );
      expect(outcome.appended.map((e) => e.type)).to.deep.equal(['OrganizationSuspended']);
      expect(outcome.revision).to.equal(3);
    });
  });
});
