import { expect } from 'chai';
import { metrics } from '../../domain/analytics/analytics-facts.ts';
import { expectProblem } from '../../test/support/problems.ts';
import type { Fact } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant, type Tenant } from '../../test/support/query-api-spec.ts';

describe('query API: analytics (GET /analytics/*)', function () {
  this.timeout(30_000);
  const api = queryApiSpec();

  /** The facts' day is 2026-03-02 (a Monday), from 09:00 UTC: this range holds all of them. */
  const range = `from=${encodeURIComponent('2026-03-01T00:00:00Z')}&to=${encodeURIComponent('2026-03-04T00:00:00Z')}`;

  /**
   * A week of activity: the owner's sign-up, a member who joined, two sign-ins, two contacts, two workflows,
   * and four runs (one completed with its email sent, one failed, two running).
   */
  function activity(org: Tenant) {
    const member = org.member('member', 1);
    const ada = org.contact({ email: 'ada@example.com' }, 3);
    const grace = org.contact({ email: 'grace@example.com' }, 3);
    const nurture = org.workflow('Nurture', 4);
    const welcome = org.workflow('Welcome', 4);
    const sent = org.execution(nurture.id, ada.id, 10);
    const refused = org.execution(nurture.id, grace.id, 11);
    const running = org.execution(nurture.id, grace.id, 12);
    const other = org.execution(welcome.id, ada.id, 13);
    const facts: Fact[] = [
      ...org.signup,
      ...member.facts,
      ...org.signIn(org.owner, 5),
      ...org.signIn(member.member, 6),
      ...[ada, grace, nurture, welcome, sent, refused, running, other].flatMap((entity) => entity.facts),
      ...sent.complete(2),
      ...refused.fail('mailbox refused the address', 2),
    ];
    return { member, nurture, welcome, facts };
  }

  /** How many facts of each type: what /analytics/events must count, from the log itself. */
  function countsByType(facts: Fact[]): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const fact of facts) counts[fact.event.type] = (counts[fact.event.type] ?? 0) + 1;
    return counts;
  }

  it('totals usage metrics over a range, with the success rate of finished executions, for the caller’s organization only', async () => {
    const acme = tenant('Acme', 'Pacific/Honolulu');
    const globex = tenant('Globex');
    const acmeActivity = activity(acme);
    await api.given(acmeActivity.facts, activity(globex).facts, globex.signIn(globex.owner, 20));

    const usage = await api.get(acme.owner, `/analytics/usage?${range}`);
    expect(usage.status, JSON.stringify(usage.body)).to.equal(200);
    expect(usage.body).to.deep.equal({
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-04T00:00:00.000Z',
      metrics: {
        executions: 4,
        executions_completed: 1,
        executions_failed: 1,
        emails_sent: 1,
        api_calls: 0,
        ai_tokens: 0,
        integration_syncs: 0,
        logins: 2,
        users_joined: 2,
      },
      successRate: 0.5,
    });
    expect(Object.keys(usage.body.metrics)).to.have.members([...metrics]);
    // A range the facts are not in: zeros, no rate.
    const before = await api.get(acme.owner, `/analytics/usage?from=2026-02-01T00:00:00Z&to=2026-03-02T00:00:00Z`);
    expect(Object.values(before.body.metrics)).to.deep.equal(metrics.map(() => 0));
    expect(before.body.successRate).to.equal(null);
  });

  it('counts each event type of the range (event tracking), as many as the log holds', async () => {
    const acme = tenant();
    const { facts } = activity(acme);
    await api.given(facts, activity(tenant('Globex')).facts);

    const events = await api.get(acme.owner, `/analytics/events?${range}`);
    expect(events.status).to.equal(200);
    const expected = countsByType(facts);
    expect(Object.fromEntries(events.body.data.map((row: { type: string; count: number }) => [row.type, row.count]))).to.deep.equal(expected);
    expect(events.body.total).to.equal(facts.length);
    const counts = events.body.data.map((row: { count: number }) => row.count);
    expect(counts, 'most frequent first').to.deep.equal([...counts].sort((a, b) => b - a));
  });

  it("buckets a series in the organization's time zone by default (or the one asked), zeros included, weeks from Monday", async () => {
    // In Honolulu (UTC-10) the facts' morning in UTC is the evening before.
    const acme = tenant('Acme', 'Pacific/Honolulu');
    await api.given(activity(acme).facts);

    const local = await api.get(acme.owner, `/analytics/series?metric=executions&interval=day&${range}`);
    expect(local.status, JSON.stringify(local.body)).to.equal(200);
    expect(local.body).to.include({ metric: 'executions', interval: 'day', timezone: 'Pacific/Honolulu' });
    expect(local.body.points).to.deep.equal([
      { bucket: '2026-02-28', value: 0 },
      { bucket: '2026-03-01', value: 4 },
      { bucket: '2026-03-02', value: 0 },
      { bucket: '2026-03-03', value: 0 },
    ]);
    const utc = await api.get(acme.owner, `/analytics/series?metric=logins&interval=day&timezone=UTC&${range}`);
    expect(utc.body.points).to.deep.equal([
      { bucket: '2026-03-01', value: 0 },
      { bucket: '2026-03-02', value: 2 },
      { bucket: '2026-03-03', value: 0 },
    ]);
    const weeks = await api.get(
      acme.owner,
      '/analytics/series?metric=users_joined&interval=week&timezone=UTC&from=2026-02-20T00:00:00Z&to=2026-03-10T00:00:00Z',
    );
    expect(weeks.body.points).to.deep.equal([
      { bucket: '2026-02-16', value: 0 },
      { bucket: '2026-02-23', value: 0 },
      { bucket: '2026-03-02', value: 2 },
      { bucket: '2026-03-09', value: 0 },
    ]);
  });

  it('ranks workflows by executions started, with completions, failures and success rate', async () => {
    const acme = tenant();
    const { nurture, welcome, facts } = activity(acme);
    await api.given(facts);

    const top = await api.get(acme.owner, `/analytics/workflows?${range}`);
    expect(top.status).to.equal(200);
    expect(top.body.data).to.deep.equal([
      { workflowId: nurture.id, name: 'Nurture', started: 3, completed: 1, failed: 1, successRate: 0.5 },
      { workflowId: welcome.id, name: 'Welcome', started: 1, completed: 0, failed: 0, successRate: null },
    ]);
    expect((await api.get(acme.owner, `/analytics/workflows?limit=1&${range}`)).body.data.map((w: { name: string }) => w.name)).to.deep.equal([
      'Nurture',
    ]);
  });

  it('answers sign-up cohorts with the members active in each later period', async () => {
    const acme = tenant();
    await api.given(activity(acme).facts);
    const retention = await api.get(acme.owner, '/analytics/retention?interval=week&timezone=UTC&from=2026-02-23T00:00:00Z&to=2026-03-16T00:00:00Z');
    expect(retention.status, JSON.stringify(retention.body)).to.equal(200);
    expect(retention.body).to.include({ interval: 'week', timezone: 'UTC' });
    // Periods end with the cohort's last active one (as the stores' contract has it), not with the range.
    expect(retention.body.cohorts).to.deep.equal([{ cohort: '2026-03-02', size: 2, active: [2], rates: [1] }]);
    const later = acme.signIn(acme.owner, 8 * 24 * 60);
    await api.given(later);
    const again = await api.get(acme.owner, '/analytics/retention?interval=week&timezone=UTC&from=2026-02-23T00:00:00Z&to=2026-03-16T00:00:00Z');
    expect(again.body.cohorts).to.deep.equal([{ cohort: '2026-03-02', size: 2, active: [2, 1], rates: [1, 0.5] }]);
  });

  it('exports every fact of the range as CSV or JSON lines, streamed, without the tenant', async () => {
    const acme = tenant();
    const { facts } = activity(acme);
    await api.given(facts, activity(tenant('Globex')).facts);
    const token = await api.tokenFor(acme.owner);

    const csv = await api.http.get(`/analytics/export?${range}`, { token });
    expect(csv.status).to.equal(200);
    expect(csv.contentType).to.match(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).to.equal('attachment; filename="nexusflow-analytics-2026-03-01-2026-03-04.csv"');
    const lines = (csv.body as string).trim().split('\n');
    expect(lines[0]).to.equal('event_id,occurred_at,type,metric,quantity,actor_type,actor_id,user_id,workflow_id,execution_id,contact_id,step_type');
    expect(lines.slice(1).map((line) => line.split(',')[0])).to.have.members(facts.map((f) => f.id));

    const jsonl = await api.http.get(`/analytics/export?format=jsonl&${range}`, { token });
    expect(jsonl.contentType).to.match(/^application\/x-ndjson/);
    const rows = (jsonl.body as string)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows.map((row) => row.event_id)).to.have.members(facts.map((f) => f.id));
    expect(rows.every((row) => !('tenant_id' in row))).to.equal(true);
    const occurred = rows.map((row) => row.occurred_at as string);
    expect(occurred, 'oldest first').to.deep.equal([...occurred].sort());
    expect(rows.find((row) => row.type === 'SessionStarted')).to.include({ metric: 'logins', quantity: 1 });
  });

  it('answers 400 naming each bad parameter, and needs analytics:read (an API key without it gets 403)', async () => {
    const acme = tenant();
    const contactsOnly = acme.apiKey('Contacts', ['contacts:read'], 1);
    const dashboards = acme.apiKey('Dashboards', ['analytics:read'], 2);
    await api.given(acme.signup, contactsOnly.facts, dashboards.facts);
    const cases: [string, string][] = [
      ['/analytics/usage?from=2026-03-04T00:00:00Z&to=2026-03-01T00:00:00Z', 'to'],
      ['/analytics/usage?from=2024-01-01T00:00:00Z&to=2026-03-01T00:00:00Z', 'from'],
      ['/analytics/usage?from=yesterday', 'from'],
      ['/analytics/usage?period=week', 'period'],
      ['/analytics/series?metric=revenue', 'metric'],
      ['/analytics/series?interval=year', 'interval'],
      ['/analytics/series?timezone=Mars%2FOlympus', 'timezone'],
      ['/analytics/workflows?limit=0', 'limit'],
      ['/analytics/events?to=soon', 'to'],
      ['/analytics/retention?interval=hour', 'interval'],
      ['/analytics/export?format=xml', 'format'],
    ];
    for (const [path, name] of cases) expectProblem(await api.get(acme.owner, path), 400, [name]);

    expect((await api.get({ ...acme.owner, role: 'viewer' }, `/analytics/usage?${range}`)).status).to.equal(200);
    expect((await api.http.get(`/analytics/usage?${range}`, { token: dashboards.key })).status).to.equal(200);
    expectProblem(await api.http.get(`/analytics/usage?${range}`, { token: contactsOnly.key }), 403);
  });

  it('waits for X-Min-Position on the analytics read model', async () => {
    const acme = tenant();
    await api.given(acme.signup);
    const position = await api.append(acme.signIn(acme.owner, 30));
    const waiting = api.get(acme.owner, `/analytics/usage?${range}`, { 'X-Min-Position': position });
    await api.project();
    const reply = await waiting;
    expect(reply.status).to.equal(200);
    expect(reply.body.metrics).to.include({ logins: 1, users_joined: 1 });
  });
});
