import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { analyticsFactOf, type AnalyticsFact } from '../../domain/analytics/analytics-facts.ts';
import type { Actor, RecordedEvent } from '../../domain/events.ts';
import type { AnalyticsWriter } from '../../projectors/analytics/ports.ts';
import type { GenerationalStore } from '../../projectors/rebuild/ports.ts';
import type { AnalyticsReader } from '../../query-api/analytics/ports.ts';

export type AnalyticsStoreUnderTest = AnalyticsWriter & AnalyticsReader & GenerationalStore<AnalyticsWriter>;

let position = 0;
function event(
  tenantId: string,
  type: string,
  data: Record<string, unknown>,
  occurredAt: string,
  actor: Actor = { type: 'user', id: 'u-1' },
): RecordedEvent {
  position++;
  return {
    id: randomUUID(),
    type,
    version: 1,
    data,
    metadata: { tenantId, actor, correlationId: randomUUID(), causationId: randomUUID(), occurredAt },
    streamId: `s-${randomUUID()}`,
    revision: 0,
    position: String(position),
    recordedAt: occurredAt,
  } as RecordedEvent;
}

const facts = (events: RecordedEvent[]) => events.map(analyticsFactOf).filter((f): f is AnalyticsFact => f !== null);

/**
 * What every analytics store behind the analytics port must answer, checked against counts made from the
 * events themselves. Each test works in a tenant of its own.
 */
export function analyticsStoreContract(
  name: string,
  /** `served`: the generation the store under test serves, as the generation registry would tell it. */
  open: (served: () => number) => Promise<{ store: AnalyticsStoreUnderTest; close(): Promise<void> }>,
): void {
  describe(`analytics store contract: ${name}`, function () {
    this.timeout(30_000);
    let served = 1;
    let store: AnalyticsStoreUnderTest;
    let close: () => Promise<void>;
    before(async () => ({ store, close } = await open(() => served)));
    after(async () => close?.());

    const tenant = randomUUID();
    const other = randomUUID();
    const wfA = randomUUID();
    const wfB = randomUUID();
    const range = { tenantId: tenant, from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z' };
    const started = (wf: string, at: string) =>
      event(tenant, 'ExecutionStarted', { executionId: randomUUID(), workflowId: wf, contactId: randomUUID(), organizationId: tenant }, at, {
        type: 'system',
        id: 'runner',
      });
    const ended = (type: 'ExecutionCompleted' | 'ExecutionFailed', wf: string, at: string) =>
      event(tenant, type, { executionId: randomUUID(), workflowId: wf }, at, { type: 'system', id: 'runner' });
    const step = (stepType: string, at: string, output: Record<string, unknown> = {}) =>
      event(
        tenant,
        'StepCompleted',
        { executionId: randomUUID(), workflowId: wfA, stepId: 's', stepType, attempt: 1, output, nextStepId: null },
        at,
        { type: 'system', id: 'runner' },
      );
    const events: RecordedEvent[] = [
      started(wfA, '2026-11-02T10:00:00.000Z'),
      started(wfA, '2026-11-02T23:30:00.000Z'), // 3 November in Paris, 2 November in UTC
      started(wfA, '2026-11-09T08:00:00.000Z'),
      started(wfB, '2026-11-10T08:00:00.000Z'),
      ended('ExecutionCompleted', wfA, '2026-11-02T11:00:00.000Z'),
      ended('ExecutionCompleted', wfA, '2026-11-09T09:00:00.000Z'),
      ended('ExecutionFailed', wfA, '2026-11-09T09:30:00.000Z'),
      ended('ExecutionFailed', wfB, '2026-11-10T09:00:00.000Z'),
      step('send_email', '2026-11-02T10:01:00.000Z'),
      step('send_email', '2026-11-09T08:01:00.000Z'),
      step('ai_compose_email', '2026-11-09T08:02:00.000Z', { tokens: 120 }),
      step('ai_compose_email', '2026-11-10T08:02:00.000Z', { tokens: 80 }),
      // The AI service's record of those steps' tokens: what ai_tokens counts (the steps are only tracked).
      event(tenant, 'AiTokensUsed', { organizationId: tenant, tokens: 120, endpoint: 'workflow/ai_compose_email' }, '2026-11-09T08:02:00.000Z', {
        type: 'system',
        id: 'workflow-runner',
      }),
      event(tenant, 'AiTokensUsed', { organizationId: tenant, tokens: 80, endpoint: 'workflow/ai_compose_email' }, '2026-11-10T08:02:00.000Z', {
        type: 'system',
        id: 'workflow-runner',
      }),
      step('crm_action', '2026-11-10T08:03:00.000Z'),
      step('wait', '2026-11-10T08:04:00.000Z'),
      event(tenant, 'ApiCallsCounted', { organizationId: tenant, calls: 40 }, '2026-11-03T00:00:00.000Z', { type: 'system', id: 'meter' }),
      event(tenant, 'ApiCallsCounted', { organizationId: tenant, calls: 2 }, '2026-11-30T23:59:59.999Z', { type: 'system', id: 'meter' }),
      // Outside the range (its end is exclusive): counted nowhere.
      event(tenant, 'ApiCallsCounted', { organizationId: tenant, calls: 1000 }, '2026-12-01T00:00:00.000Z', { type: 'system', id: 'meter' }),
      // Cohorts: the owner joins in week 45 (2–8 Nov), a member in week 46; activity in later weeks.
      event(tenant, 'OrganizationCreated', { organizationId: tenant, ownerUserId: 'owner', name: 'x', timezone: 'UTC' }, '2026-11-02T09:00:00.000Z', {
        type: 'user',
        id: 'owner',
      }),
      event(tenant, 'SessionStarted', { userId: 'owner', organizationId: tenant, sessionId: 's1' }, '2026-11-02T09:01:00.000Z', {
        type: 'anonymous',
        id: 'ip',
      }),
      event(
        tenant,
        'MemberJoined',
        { organizationId: tenant, userId: 'member', invitationId: 'i', email: 'm@x.test', role: 'member' },
        '2026-11-10T09:00:00.000Z',
        { type: 'user', id: 'member' },
      ),
      event(tenant, 'ContactCreated', { contactId: randomUUID() }, '2026-11-17T09:00:00.000Z', { type: 'user', id: 'owner' }),
      event(tenant, 'ContactCreated', { contactId: randomUUID() }, '2026-11-18T09:00:00.000Z', { type: 'user', id: 'member' }),
      // Another tenant's facts: never counted for `tenant`.
      event(other, 'ExecutionStarted', { executionId: randomUUID(), workflowId: wfA, contactId: randomUUID() }, '2026-11-02T10:00:00.000Z'),
      event(other, 'ApiCallsCounted', { calls: 500 }, '2026-11-02T10:00:00.000Z'),
      // A platform event (no tenant) is not an analytics fact at all.
      event(null as unknown as string, 'StaffSignedIn', {}, '2026-11-02T10:00:00.000Z'),
    ];
    const inRange = events.filter((e) => e.metadata.tenantId === tenant && e.metadata.occurredAt < range.to);

    before(async () => {
      const all = facts(events);
      // In two batches, the second overlapping the first: a replay.
      await store.insert(all.slice(0, 15));
      await store.insert(all);
    });

    it('totals every usage metric as the events count it, each event once', async () => {
      const totals = await store.totals(range);
      const count = (type: string) => inRange.filter((e) => e.type === type).length;
      expect(totals).to.include({
        executions: count('ExecutionStarted'),
        executions_completed: count('ExecutionCompleted'),
        executions_failed: count('ExecutionFailed'),
        emails_sent: 2,
        ai_tokens: 200,
        integration_syncs: 1,
        api_calls: 42,
        logins: 1,
        users_joined: 2,
      });
    });

    it('gives the same counts after the whole log is delivered again', async () => {
      const before = await store.totals(range);
      const beforeEvents = await store.eventCounts(range);
      await store.insert(facts(events));
      await store.insert(facts(events).reverse());
      expect(await store.totals(range)).to.deep.equal(before);
      expect(await store.eventCounts(range)).to.deep.equal(beforeEvents);
    });

    it('counts events by type (event tracking), most frequent first, within the tenant', async () => {
      const counts = await store.eventCounts(range);
      const expected = new Map<string, number>();
      for (const e of inRange) expected.set(e.type, (expected.get(e.type) ?? 0) + 1);
      expect(Object.fromEntries(counts.map((c) => [c.type, c.count]))).to.deep.equal(Object.fromEntries(expected));
      expect(counts[0]!.type).to.equal('StepCompleted');
    });

    it('buckets series by day, week and month in the tenant’s time zone', async () => {
      expect(await store.series(range, 'executions', 'day', 'UTC')).to.deep.equal([
        { bucket: '2026-11-02', value: 2 },
        { bucket: '2026-11-09', value: 1 },
        { bucket: '2026-11-10', value: 1 },
      ]);
      expect(await store.series(range, 'executions', 'day', 'Europe/Paris')).to.deep.equal([
        { bucket: '2026-11-02', value: 1 },
        { bucket: '2026-11-03', value: 1 },
        { bucket: '2026-11-09', value: 1 },
        { bucket: '2026-11-10', value: 1 },
      ]);
      expect(await store.series(range, 'executions', 'week', 'UTC')).to.deep.equal([
        { bucket: '2026-11-02', value: 2 },
        { bucket: '2026-11-09', value: 2 },
      ]);
      expect(await store.series(range, 'api_calls', 'month', 'UTC')).to.deep.equal([{ bucket: '2026-11-01', value: 42 }]);
      // 23:59:59.999 on 30 November UTC is already 1 December in Tokyo.
      expect(await store.series(range, 'api_calls', 'month', 'Asia/Tokyo')).to.deep.equal([
        { bucket: '2026-11-01', value: 40 },
        { bucket: '2026-12-01', value: 2 },
      ]);
      const all = await store.series(range, 'events', 'month', 'UTC');
      expect(all).to.deep.equal([{ bucket: '2026-11-01', value: inRange.length }]);
    });

    it('gives success rates and the top workflows', async () => {
      expect(await store.workflowOutcomes(range, 10)).to.deep.equal([
        { workflowId: wfA, started: 3, completed: 2, failed: 1 },
        { workflowId: wfB, started: 1, completed: 0, failed: 1 },
      ]);
      expect((await store.workflowOutcomes(range, 1)).map((w) => w.workflowId)).to.deep.equal([wfA]);
    });

    it('builds the signup-cohort retention table', async () => {
      expect(await store.retention(range, 'week', 'UTC')).to.deep.equal([
        { cohort: '2026-11-02', size: 1, active: [1, 0, 1] },
        { cohort: '2026-11-09', size: 1, active: [1, 1] },
      ]);
    });

    it('streams every fact of the range, oldest first, exactly once', async () => {
      const streamed: AnalyticsFact[] = [];
      for await (const fact of store.facts(range)) streamed.push(fact);
      expect(streamed.map((f) => f.eventId).sort()).to.deep.equal(inRange.map((e) => e.id).sort());
      const times = streamed.map((f) => f.occurredAt);
      expect(times).to.deep.equal([...times].sort());
      const ai = streamed.find((f) => f.quantity === 120)!;
      expect(ai).to.include({
        tenantId: tenant,
        type: 'AiTokensUsed',
        metric: 'ai_tokens',
        occurredAt: '2026-11-09T08:02:00.000Z',
      });
      const step = streamed.find((f) => f.type === 'StepCompleted' && f.stepType === 'ai_compose_email')!;
      expect(step).to.include({ metric: '', workflowId: wfA, quantity: 1 });
    });

    it('answers zeros and empty lists for a tenant with no facts', async () => {
      const empty = { ...range, tenantId: randomUUID() };
      expect(Object.values(await store.totals(empty)).every((v) => v === 0)).to.equal(true);
      expect(await store.series(empty, 'events', 'day', 'UTC')).to.deep.equal([]);
      expect(await store.workflowOutcomes(empty, 10)).to.deep.equal([]);
      expect(await store.retention(empty, 'month', 'UTC')).to.deep.equal([]);
    });

    // Last: it moves the store under test to another generation.
    it('fills a new generation beside the served one, which answers alone until the switch; the old one can go', async () => {
      const before = await store.totals(range);
      const next = served + 1;
      await store.dropGeneration(next);
      await store.ensureGeneration(next);
      await store.ensureGeneration(next);
      const rebuilt = store.writerFor(next);
      // A rebuild delivers the log again from the start (twice here, as a crashed rebuild resumed would).
      await rebuilt.insert(facts(events).slice(0, 10));
      expect(await store.totals(range), 'the served generation, untouched').to.deep.equal(before);
      await rebuilt.insert(facts(events));
      await store.promoteGeneration(next);
      const previous = served;
      served = next;
      expect(await store.totals(range)).to.deep.equal(before);
      await store.dropGeneration(previous);
      expect(await store.totals(range), 'dropping the previous generation takes nothing from the served one').to.deep.equal(before);
      expect(await store.workflowOutcomes(range, 10)).to.have.length(2);
    });
  });
}
