import { expect } from 'chai';
import { stepStartIn } from '../../domain/workflows/execution.ts';
import { eventually } from '../support/events.ts';
import { registerAccount, startTestSystem, uniqueEmail, type Account, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';

/**
 * Limits on what a workflow may ask for: refused on save with the path of the field (so a saved workflow does
 * not fail every run for them), and a step budget per execution that ends even a cycle through waits.
 */
describe('Workflow limits end to end (real PostgreSQL and Redis)', function () {
  this.timeout(90_000);
  const budget = 6;
  let system: TestSystem;
  let owner: Account;

  before(async () => {
    system = await startTestSystem(undefined, { WORKFLOW_POLL_MS: '200', WORKFLOW_MAX_STEPS_PER_EXECUTION: String(budget) });
    owner = await registerAccount(system, 'Limits');
  });
  after(async () => system?.stop());

  const body = (steps: unknown[]) => ({ name: 'Limits', settings: { mailbox: 'limits@acme.test', exitOn: [] }, steps });
  const save = (steps: unknown[]) => system.http.post('/workflows', body(steps), { token: owner.accessToken });
  const reasonFor = (reply: { body: { 'invalid-params'?: { name: string; reason: string }[] } }, name: string) =>
    reply.body['invalid-params']?.find((p) => p.name === name)?.reason;

  it('refuses a wait of 300,000 years, or of nothing, naming the path', async () => {
    const tooLong = await save([
      { id: 'hello', type: 'add_tag', config: { tag: 'x' }, next: 'pause' },
      { id: 'pause', type: 'wait', config: { duration: 'P300000Y' }, next: null },
    ]);
    expectProblem(tooLong, 400, ['steps.1.config.duration']);
    expect(reasonFor(tooLong, 'steps.1.config.duration')).to.equal('must be at most 1 year (P1Y, or 365 days)');

    const zero = await save([{ id: 'pause', type: 'wait', config: { duration: 'PT0S' }, next: null }]);
    expectProblem(zero, 400, ['steps.0.config.duration']);
    expect(reasonFor(zero, 'steps.0.config.duration')).to.equal('must be at least 1 second (PT1S)');

    const year = await save([{ id: 'pause', type: 'wait', config: { duration: 'P1Y' }, next: null }]);
    expect(year.status, JSON.stringify(year.body)).to.equal(201);
  });

  it('refuses a template that does not compile, naming the step field and the error, on create and on edit', async () => {
    const good = [
      { id: 'hello', type: 'send_email', config: { subject: 'Hello {{contact.firstName}}', body: 'Welcome' }, next: 'again' },
      { id: 'again', type: 'send_email', config: { subject: 'Again', body: 'Hi {{contact.firstName}}, still there?' }, next: null },
    ];
    const broken = structuredClone(good);
    broken[1]!.config.body = 'Hi {{#contact.firstName}}, still there?';
    const created = await save(broken);
    expectProblem(created, 400, ['steps.1.config.body']);
    expect(reasonFor(created, 'steps.1.config.body')).to.equal('Unclosed section "contact.firstName" at 39');

    const saved = await save(good);
    expect(saved.status, JSON.stringify(saved.body)).to.equal(201);
    const edited = await system.http.put(`/workflows/${saved.body.id}`, body(broken), { token: owner.accessToken });
    expectProblem(edited, 400, ['steps.1.config.body']);
    const read = await system.http.get(`/workflows/${saved.body.id}`, {
      token: owner.accessToken,
      headers: { 'X-Min-Position': saved.body.position },
    });
    expect(read.body.version, 'the broken edit was not saved').to.equal(1);
  });

  it(`fails an execution cycling through the shortest wait once it has run ${budget} steps, with the reason in its history`, async () => {
    const saved = await save([
      { id: 'mark', type: 'add_tag', config: { tag: 'looped' }, next: 'pause' },
      { id: 'pause', type: 'wait', config: { duration: 'PT1S' }, next: 'mark' },
    ]);
    expect(saved.status, JSON.stringify(saved.body)).to.equal(201);
    const contact = await system.http.post('/contacts', { email: uniqueEmail('loop'), firstName: 'Lou' }, { token: owner.accessToken });
    const run = await system.http.post(`/workflows/${saved.body.id}/run`, { contactId: contact.body.id }, { token: owner.accessToken });
    expect(run.status, JSON.stringify(run.body)).to.equal(202);
    const executionId = run.body.executionId as string;

    const failed = await eventually(
      () => system.http.get(`/workflows/${saved.body.id}/executions/${executionId}`, { token: owner.accessToken }),
      (r) => r.status === 200 && !['running', 'waiting'].includes(r.body.status),
      30_000,
    );
    expect(failed.body.status).to.equal('failed');
    expect(failed.body.error).to.deep.equal({ code: 'step_budget_exhausted', message: `ran ${budget} steps, the limit per execution` });
    expect(failed.body.steps.map((s: { stepId: string; status: string }) => `${s.stepId}:${s.status}`)).to.deep.equal([
      'mark:completed',
      'pause:completed',
      'mark:completed',
      'pause:completed',
      'mark:completed',
      'pause:completed',
    ]);
    const events = await system.process.platform.eventStore.readStream(`execution-${executionId}`);
    // Each visit's start: a StepStarted, or the StepCompleted of a step whose effects are all in the log.
    expect(events.filter((e) => stepStartIn(e) !== null)).to.have.length(budget);
    expect(events.at(-1)!.type).to.equal('ExecutionFailed');
    expect((events.at(-1)!.data as { error: { code: string } }).error.code).to.equal('step_budget_exhausted');
  });
});
