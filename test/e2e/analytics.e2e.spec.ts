import { createClient } from '@clickhouse/client';
import { expect } from 'chai';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { analyticsFactOf, metrics, type AnalyticsFact } from '../../domain/analytics/analytics-facts.ts';
import { AI_TOKENS_USED } from '../../domain/ai/usage.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { ident, sql } from '../../infra/analytics/clickhouse-sql.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { projectionModules } from '../../projectors/modules.ts';
import { readModelOperationsModule } from '../../projectors/rebuild/module.ts';
import type { RebuildableReadModel } from '../../projectors/rebuild/ports.ts';
import type { ReadModelRebuilder } from '../../projectors/rebuild/rebuild.ts';
import { openServices } from '../support/services.ts';
import { eventually } from '../support/events.ts';
import {
  inviteMember,
  operatorHealth,
  registerAccount,
  startTestSystem,
  uniqueEmail,
  type Account,
  type HttpClient,
  type TestSystem,
} from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';
import { CLICKHOUSE_URL, reachableClickHouse } from '../support/clickhouse.ts';
import { startFakeHubSpot } from '../support/fake-crm/hubspot.ts';
import type { FakeCrmServer } from '../support/fake-crm/fake-crm.ts';

/**
 * Analytics over HTTP, on each analytics store the system can run with: every number the API answers is
 * checked against a count made from the events in the log, and the read models (analytics and search) are
 * rebuilt into a new generation while queries keep being answered.
 */
for (const store of ['postgres', 'clickhouse'] as const) {
  describe(`Analytics over HTTP (${store === 'postgres' ? 'PostgreSQL analytics tables' : `real ClickHouse at ${CLICKHOUSE_URL}`}, real PostgreSQL and Redis)`, function () {
    this.timeout(120_000);
    let system: TestSystem;
    let http: HttpClient;
    let owner: Account;
    let rival: Account;
    let workflowA: string;
    let workflowB: string;
    /** The organization's CRM, for the workflow's crm_action step (an integration sync each). */
    let hubspot: FakeCrmServer;
    /** The AI provider the workflow's ai_compose_email step writes through, and the embedder embeds through (their tokens are what ai_tokens counts). */
    let openai: FakeOpenAI;
    const clickhouseDatabase = `nf_test_e2e_${Date.now().toString(36)}`;
    /** Where the numbers are counted up to: API usage keeps being recorded after it, with later times. */
    let until: string;
    /** The tokens the AI provider had counted at `until`. */
    let spentUntil = 0;
    let head: string;
    /** Every authenticated request each organization made before `until`: what api_calls must say. */
    const calls = { owner: 0, rival: 0 };

    before(async () => {
      if (store === 'clickhouse') await reachableClickHouse();
      hubspot = await startFakeHubSpot();
      openai = await FakeOpenAI.start();
      openai.respond(() => JSON.stringify({ subject: 'Welcome aboard', body: 'Hi,\n\nThanks for signing up.\n\nBest' }));
      system = await startTestSystem(undefined, {
        OPENAI_API_KEY: openai.apiKey,
        OPENAI_BASE_URL: openai.baseUrl,
        WORKFLOW_POLL_MS: '200',
        HUBSPOT_API_URL: hubspot.baseUrl,
        ...hubspot.env,
        HUBSPOT_CLIENT_ID: hubspot.clientId,
        HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
        OUTBOUND_ALLOW_CIDRS: '127.0.0.1/32',
        // Only the workflow's steps call the CRM here: no sync runs adding their own provider calls.
        CRM_SYNC_ENABLED: 'false',
        API_USAGE_FLUSH_SECONDS: '1',
        ...(store === 'clickhouse' ? { CLICKHOUSE_URL, CLICKHOUSE_DATABASE: clickhouseDatabase } : {}),
      });
      const health = await system.http.get(operatorHealth.path, { headers: operatorHealth.headers });
      expect(health.body.checks.analytics.detail).to.equal(store);
      http = system.http;
      owner = await registerAccount(system, 'Counted');
      rival = await registerAccount(system, 'Rivals');
      await inviteMember(system, owner, 'member');
      calls.owner++; // POST /invitations (the acceptance is the invitee's, unauthenticated)
      const post = (path: string, body: unknown) => {
        calls.owner++;
        return http.post(path, body, { token: owner.accessToken });
      };
      // HubSpot connected (the callback is the browser's, unauthenticated: not an API call of the organization).
      const consent = await hubspot.authorize((await post('/integrations/hubspot/connect', {})).body.authorizationUrl);
      const connected = await http.get(
        `/integrations/oauth/callback?code=${encodeURIComponent(consent.code)}&state=${encodeURIComponent(consent.state)}`,
      );
      expect(connected.status, JSON.stringify(connected.body)).to.equal(201);

      const contacts: string[] = [];
      for (let i = 0; i < 4; i++) {
        const created = await post('/contacts', {
          email: uniqueEmail('lead'),
          firstName: `Lead${i}`,
          lastName: 'Tester',
          tags: i % 2 ? ['vip'] : [],
        });
        expect(created.status, JSON.stringify(created.body)).to.equal(201);
        contacts.push(created.body.id);
      }
      const workflow = async (name: string, steps: unknown[]) => {
        const created = await post('/workflows', { name, settings: { mailbox: 'sales@counted.test', exitOn: [] }, steps });
        expect(created.status, JSON.stringify(created.body)).to.equal(201);
        return created.body.id as string;
      };
      workflowA = await workflow('Welcome and sync', [
        { id: 'hello', type: 'send_email', config: { subject: 'Hello {{contact.firstName}}', body: 'Welcome!' }, next: 'compose' },
        { id: 'compose', type: 'ai_compose_email', config: { instructions: 'Thank them for signing up.' }, next: 'sync' },
        { id: 'sync', type: 'crm_action', config: { provider: 'hubspot', action: 'upsert_contact' }, next: null },
      ]);
      // A loopback target, which the outbound guard refuses (no OUTBOUND_ALLOW_CIDRS here): fails at once, with no retry.
      workflowB = await workflow('Broken webhook', [
        { id: 'notify', type: 'http_request', config: { url: 'http://127.0.0.1:9/hook', timeoutMs: 1000 }, retry: { maxAttempts: 1 }, next: null },
      ]);
      const runs = [...contacts.map((c) => [workflowA, c]), [workflowB, contacts[0]!]] as const;
      for (const [workflowId, contactId] of runs) {
        const started = await post(`/workflows/${workflowId}/run`, { contactId });
        expect(started.status, JSON.stringify(started.body)).to.equal(202);
        await eventually(
          () => {
            calls.owner++;
            return http.get(`/workflows/${workflowId}/executions/${started.body.executionId}`, { token: owner.accessToken });
          },
          (r) => r.status === 200 && ['completed', 'failed'].includes(r.body.status),
          30_000,
        );
      }
      const rivalContact = await http.post('/contacts', { email: uniqueEmail('rival') }, { token: rival.accessToken });
      calls.rival++;
      expect(rivalContact.status).to.equal(201);

      // Every window holding those requests is closed (API_USAGE_FLUSH_SECONDS=1) and recorded in the log
      // before `until`; no authenticated request is made from here until the tests read, so no later window
      // holds any (the meter records no empty window).
      await eventually(
        () => Promise.all([recordedCalls(owner), recordedCalls(rival)]),
        ([ownerCalls, rivalCalls]) => ownerCalls >= calls.owner && rivalCalls >= calls.rival,
        30_000,
      );
      // The embedder embeds the new contacts and the emails' subjects in the background, through the same
      // provider, each call's tokens recorded in the log once it is answered. `until` is set once every call the
      // provider has answered is in the log, and none was answered meanwhile: the tokens it counted up to then
      // are those the analytics must total (a call answered later is recorded later, after `until`).
      for (;;) {
        const answered = providerTokens();
        await eventually(recordedTokens, (recorded) => recorded >= answered, 30_000);
        until = new Date(Date.now() + 1).toISOString();
        spentUntil = providerTokens();
        if (spentUntil === answered) break;
      }
      head = (await system.process.platform.eventStore.headPosition())!;
    });
    after(async () => {
      await system?.stop();
      await hubspot?.close();
      await openai?.close();
      if (store === 'clickhouse') {
        const admin = createClient({ url: CLICKHOUSE_URL });
        await admin.command({ query: sql`DROP DATABASE IF EXISTS ${ident(clickhouseDatabase)}`.text });
        await admin.close();
      }
    });

    async function theWholeLog(): Promise<RecordedEvent[]> {
      const events: RecordedEvent[] = [];
      let after: string | null = null;
      for (;;) {
        const page: RecordedEvent[] = await system.process.platform.eventStore.readAll({ after, maxCount: 1_000 });
        events.push(...page);
        if (page.length < 1_000) break;
        after = page[page.length - 1]!.position;
      }
      return events;
    }

    /** The tokens the AI provider has counted so far (the workflow step's calls and the embedder's). */
    const providerTokens = () => openai.usages.reduce((sum, used) => sum + used.usage.total_tokens, 0);

    /** The tokens the AI service has recorded in the log so far, every organization's. */
    async function recordedTokens(): Promise<number> {
      return (await theWholeLog())
        .filter((event) => event.type === AI_TOKENS_USED)
        .reduce((sum, event) => sum + (event.data as { tokens: number }).tokens, 0);
    }

    /** The API calls of `account`'s organization the meter has recorded in the log so far. */
    async function recordedCalls(account: Account): Promise<number> {
      return (await theWholeLog())
        .filter((event) => event.type === 'ApiCallsCounted' && event.metadata.tenantId === account.organizationId)
        .reduce((sum, event) => sum + (event.data as { calls: number }).calls, 0);
    }

    /** The facts of `account`'s organization before `until`, straight from the log. */
    async function factsFromTheLog(account: Account): Promise<AnalyticsFact[]> {
      return (await theWholeLog())
        .map(analyticsFactOf)
        .filter((fact): fact is AnalyticsFact => fact !== null && fact.tenantId === account.organizationId && fact.occurredAt < until);
    }

    const get = (account: Account, path: string) => http.get(path, { token: account.accessToken, headers: { 'X-Min-Position': head } });
    const range = () => `from=${encodeURIComponent(new Date(Date.parse(until) - 86_400_000).toISOString())}&to=${encodeURIComponent(until)}`;

    it('totals usage metrics exactly as the events count them, API calls included, per organization', async () => {
      for (const account of [owner, rival]) {
        const facts = await factsFromTheLog(account);
        const expected = Object.fromEntries(metrics.map((m) => [m, facts.filter((f) => f.metric === m).reduce((sum, f) => sum + f.quantity, 0)]));
        const usage = await get(account, `/analytics/usage?${range()}`);
        expect(usage.status, JSON.stringify(usage.body)).to.equal(200);
        expect(usage.body.metrics).to.deep.equal(expected);
      }
      const usage = (await get(owner, `/analytics/usage?${range()}`)).body;
      expect(usage.metrics.api_calls, 'every authenticated request of the organization, once').to.equal(calls.owner);
      expect((await get(rival, `/analytics/usage?${range()}`)).body.metrics.api_calls).to.equal(calls.rival);
      expect(usage.metrics).to.include({
        executions: 5,
        executions_completed: 4,
        executions_failed: 1,
        emails_sent: 4,
        integration_syncs: 4,
        users_joined: 2,
      });
      // The AI calls' tokens (the step's and the embedder's) up to `until`, as the provider counted them: the AI
      // service recorded each call's once.
      expect(spentUntil).to.be.greaterThan(0);
      expect(usage.metrics.ai_tokens + (await get(rival, `/analytics/usage?${range()}`)).body.metrics.ai_tokens).to.equal(spentUntil);
      expect(usage.successRate).to.equal(0.8);
    });

    it('counts events by type, and gives daily series whose buckets add up to the totals', async () => {
      const facts = await factsFromTheLog(owner);
      const byType = new Map<string, number>();
      for (const fact of facts) byType.set(fact.type, (byType.get(fact.type) ?? 0) + 1);
      const events = await get(owner, `/analytics/events?${range()}`);
      expect(events.status).to.equal(200);
      expect(Object.fromEntries(events.body.data.map((row: { type: string; count: number }) => [row.type, row.count]))).to.deep.equal(
        Object.fromEntries(byType),
      );
      expect(events.body.total).to.equal(facts.length);
      const answered = events.body.data.map((row: { type: string }) => row.type);
      expect(answered).to.include.members([
        'ContactCreated',
        'WorkflowCreated',
        'ExecutionStarted',
        'StepCompleted',
        'ApiCallsCounted',
        'MemberJoined',
      ]);
      expect(answered, 'uniqueness bookkeeping is not activity').not.to.include('ValueClaimed');

      const series = await get(owner, `/analytics/series?metric=events&interval=day&timezone=Pacific/Auckland&${range()}`);
      expect(series.status, JSON.stringify(series.body)).to.equal(200);
      expect(series.body.timezone).to.equal('Pacific/Auckland');
      // A one-day range touches two local days somewhere; every bucket is listed, zeros included.
      expect(series.body.points.length).to.be.within(1, 2);
      expect(series.body.points.reduce((sum: number, p: { value: number }) => sum + p.value, 0)).to.equal(facts.length);
      const executions = await get(owner, `/analytics/series?metric=executions&interval=month&${range()}`);
      expect(executions.body.timezone, "the organization's zone by default").to.be.a('string');
      expect(executions.body.points.reduce((sum: number, p: { value: number }) => sum + p.value, 0)).to.equal(5);
    });

    it('ranks workflows with their success rates and names', async () => {
      const top = await get(owner, `/analytics/workflows?${range()}`);
      expect(top.status).to.equal(200);
      expect(top.body.data).to.deep.equal([
        { workflowId: workflowA, name: 'Welcome and sync', started: 4, completed: 4, failed: 0, successRate: 1 },
        { workflowId: workflowB, name: 'Broken webhook', started: 1, completed: 0, failed: 1, successRate: 0 },
      ]);
      expect((await get(rival, `/analytics/workflows?${range()}`)).body.data).to.deep.equal([]);
    });

    it('builds the sign-up cohort table', async () => {
      const retention = await get(owner, `/analytics/retention?interval=week&${range()}`);
      expect(retention.status).to.equal(200);
      expect(retention.body.cohorts).to.have.length(1);
      expect(retention.body.cohorts[0]).to.include({ size: 2 });
      expect(retention.body.cohorts[0].active[0]).to.equal(2);
      expect(retention.body.cohorts[0].rates[0]).to.equal(1);
    });

    it('exports every fact of the range as CSV (and JSON lines), one row per event', async () => {
      const facts = await factsFromTheLog(owner);
      const csv = await get(owner, `/analytics/export?${range()}`);
      expect(csv.status).to.equal(200);
      expect(csv.contentType).to.contain('text/csv');
      expect(csv.headers.get('content-disposition')).to.match(/attachment; filename="nexusflow-analytics-.*\.csv"/);
      const lines = (csv.body as string).trim().split('\n');
      expect(lines[0]).to.equal(
        'event_id,occurred_at,type,metric,quantity,actor_type,actor_id,user_id,workflow_id,execution_id,contact_id,step_type',
      );
      expect(
        lines
          .slice(1)
          .map((line) => line.split(',')[0])
          .sort(),
      ).to.deep.equal(facts.map((f) => f.eventId).sort());
      const jsonl = await fetch(`${http.baseUrl}/analytics/export?format=jsonl&${range()}`, {
        headers: { authorization: `Bearer ${owner.accessToken}` },
      });
      expect(jsonl.headers.get('content-type')).to.contain('application/x-ndjson');
      const rows = (await jsonl.text())
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(rows).to.have.length(facts.length);
      expect(rows.every((row) => facts.some((f) => f.eventId === row.event_id && f.type === row.type))).to.equal(true);
      const empty = await get(rival, `/analytics/export?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z`);
      expect(empty.status).to.equal(200);
      expect(empty.body, 'the header alone').to.equal(`${lines[0]}\n`);
    });

    it('answers bad parameters with a problem naming each one', async () => {
      const token = { token: owner.accessToken };
      expectProblem(await http.get('/analytics/series?metric=revenue', token), 400, ['metric']);
      expectProblem(await http.get('/analytics/series?timezone=Mars/Olympus', token), 400, ['timezone']);
      expectProblem(await http.get('/analytics/series?interval=day&from=2020-01-01T00:00:00Z&to=2021-06-01T00:00:00Z&timezone=UTC', token), 400, [
        'from',
      ]);
      expectProblem(await http.get('/analytics/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', token), 400, ['to']);
      expectProblem(await http.get('/analytics/usage?from=yesterday', token), 400, ['from']);
      expectProblem(await http.get('/analytics/workflows?limit=1000', token), 400, ['limit']);
      expectProblem(await http.get('/analytics/export?format=xlsx', token), 400, ['format']);
      expectProblem(await http.get('/analytics/usage?tenant=someone-else', token), 400, ['tenant']);
    });

    it('rebuilds analytics and search into a new generation while every query is answered, then follows new writes', async () => {
      // A rebuild as the operator starts one (`nexusflow projections rebuild`): the same modules, its own process.
      const operations = openServices(system, [readModelOperationsModule, ...projectionModules]);
      const tools = {
        rebuilder: await operations.get<ReadModelRebuilder>(TOKENS.ReadModelRebuilder),
        readModels: await operations.all<RebuildableReadModel>(TOKENS.RebuildableReadModels),
      };
      try {
        const usageBefore = (await get(owner, `/analytics/usage?${range()}`)).body;
        const searchBefore = (await get(owner, '/search/contacts?q=tester&sort=name')).body;
        expect(searchBefore.total).to.equal(4);
        let stop = false;
        let reads = 0;
        const failures: string[] = [];
        const load = (async () => {
          while (!stop) {
            const [usage, search] = await Promise.all([get(owner, `/analytics/usage?${range()}`), get(owner, '/search/contacts?q=tester&sort=name')]);
            reads++;
            if (usage.status !== 200 || JSON.stringify(usage.body) !== JSON.stringify(usageBefore))
              failures.push(`usage ${usage.status} ${JSON.stringify(usage.body)}`);
            if (search.status !== 200 || JSON.stringify(search.body.data) !== JSON.stringify(searchBefore.data))
              failures.push(`search ${search.status} ${JSON.stringify(search.body).slice(0, 300)}`);
          }
        })();
        const results = [];
        try {
          for (const model of tools.readModels) results.push(await tools.rebuilder.rebuild(model));
          // Reads after the switch, too: at least one whole round of them started after it.
          const readsAtSwitch = reads;
          await eventually(
            () => reads,
            (n) => n >= readsAtSwitch + 2,
          );
        } finally {
          stop = true;
          await load;
        }
        expect(failures).to.deep.equal([]);
        expect(reads).to.be.greaterThan(1);
        expect(results.map((r) => [r.readModel, r.from, r.to])).to.deep.equal([
          ['search', 1, 2],
          ['analytics', 1, 2],
        ]);
        expect(results.every((r) => r.eventsApplied > 0 && r.parked === 0)).to.equal(true);
        expect(system.process.platform.generations.generation('analytics')).to.equal(2);

        // The projector process carries generation 2 on: a new write shows up in both, read-your-writes.
        const created = await http.post(
          '/contacts',
          { email: uniqueEmail('after'), firstName: 'Fresh', lastName: 'Tester' },
          { token: owner.accessToken },
        );
        expect(created.status).to.equal(201);
        const found = await http.get('/search/contacts?q=fresh', { token: owner.accessToken, headers: { 'X-Min-Position': created.body.position } });
        expect(found.status).to.equal(200);
        expect(found.body.data.map((c: { id: string }) => c.id)).to.deep.equal([created.body.id]);
        const counted = await http.get('/analytics/events', { token: owner.accessToken, headers: { 'X-Min-Position': created.body.position } });
        const contactsCreated = counted.body.data.find((row: { type: string }) => row.type === 'ContactCreated');
        expect(contactsCreated.count).to.equal(5);

        // A second rebuild moves on to generation 3 (and drops generation 1).
        const again = await tools.rebuilder.rebuild(tools.readModels.find((m) => m.name === 'analytics')!);
        expect([again.from, again.to]).to.deep.equal([2, 3]);
        expect((await get(owner, `/analytics/usage?${range()}`)).body).to.deep.equal(usageBefore);
      } finally {
        await operations.close();
      }
    });
  });
}
