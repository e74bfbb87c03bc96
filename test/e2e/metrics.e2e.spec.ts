import { expect } from 'chai';
import { registerAccount, startTestSystem, TEST_OPERATOR_TOKEN, uniqueEmail, type Account, type TestSystem } from '../support/http.ts';

const operator = { Authorization: `Bearer ${TEST_OPERATOR_TOKEN}` };

/** The value of one sample (`name{labels}`) in an exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/**
 * Prometheus metrics as operators scrape them: GET /metrics, only with the operator token (or on METRICS_PORT),
 * the series of issue 19 after a command, a projection batch and a workflow step.
 */
describe('Metrics at /metrics (real PostgreSQL and Redis)', function () {
  this.timeout(60_000);
  let system: TestSystem;
  let owner: Account;

  before(async () => {
    system = await startTestSystem(undefined, { WORKFLOW_POLL_MS: '200' });
    owner = await registerAccount(system, 'Measured');
  });
  after(async () => system?.stop());

  const scrape = async () => {
    const reply = await system.http.get('/metrics', { headers: operator });
    expect(reply.status).to.equal(200);
    expect(reply.contentType).to.match(/^text\/plain/);
    return reply.body as string;
  };

  it('is not public: no token 401, a wrong one 401', async () => {
    expect((await system.http.get('/metrics')).status).to.equal(401);
    expect((await system.http.get('/metrics', { headers: { Authorization: 'Bearer not-the-operator-token-at-all-0000000000' } })).status).to.equal(
      401,
    );
  });

  it('counts a command: the request by route template, the command by type and outcome, the append and its batch, one Redis round trip for the gateway', async () => {
    const before = await scrape();
    const gatewayBefore = sample(before, 'nexusflow_redis_round_trips_total', { operation: 'gateway' }) ?? 0;
    const created = await system.http.post('/contacts', { email: uniqueEmail('measured') }, { token: owner.accessToken });
    expect(created.status).to.equal(201);
    const text = await scrape();
    expect(sample(text, 'nexusflow_http_request_duration_seconds_count', { route: '/contacts', method: 'POST', status: '201' })).to.be.at.least(1);
    expect(sample(text, 'nexusflow_commands_total', { type: 'CreateContact', outcome: 'appended' })).to.be.at.least(1);
    expect(sample(text, 'nexusflow_event_store_append_duration_seconds_count')).to.be.at.least(1);
    expect(sample(text, 'nexusflow_event_store_append_batch_events_count')).to.be.at.least(1);
    expect(sample(text, 'nexusflow_request_layer_duration_seconds_count', { layer: 'sealing' })).to.be.at.least(1);
    // The POST and the first scrape's own request: the scrape needs no gateway, so exactly one more round.
    expect((sample(text, 'nexusflow_redis_round_trips_total', { operation: 'gateway' }) ?? 0) - gatewayBefore).to.equal(1);
    // No series per entity: routes are templates.
    expect(text).not.to.include(created.body.id);
    expect(text).to.match(/^nexusflow_process_cpu_seconds_total /m);
  });

  it('times the idempotency layer of a command sent with an Idempotency-Key: its claim and its kept answer, a Redis round trip each', async () => {
    const before = await scrape();
    const passes = (text: string) => sample(text, 'nexusflow_request_layer_duration_seconds_count', { layer: 'idempotency' }) ?? 0;
    const sets = (text: string) => sample(text, 'nexusflow_redis_round_trips_total', { operation: 'set' }) ?? 0;
    const created = await system.http.post(
      '/contacts',
      { email: uniqueEmail('keyed') },
      { token: owner.accessToken, headers: { 'Idempotency-Key': `measured-${Date.now()}` } },
    );
    expect(created.status).to.equal(201);
    const text = await scrape();
    expect(passes(text) - passes(before)).to.equal(2);
    expect(sets(text) - sets(before)).to.equal(2);
  });

  it('counts a refused command as refused, and a 404 under its template', async () => {
    const missing = await system.http.patch('/contacts/00000000-0000-4000-8000-000000000000', { title: 'x' }, { token: owner.accessToken });
    expect(missing.status).to.equal(404);
    const text = await scrape();
    expect(sample(text, 'nexusflow_commands_total', { type: 'UpdateContact', outcome: 'refused' })).to.be.at.least(1);
    expect(sample(text, 'nexusflow_http_request_duration_seconds_count', { route: '/contacts/:id', method: 'PATCH', status: '404' })).to.be.at.least(
      1,
    );
  });
});
