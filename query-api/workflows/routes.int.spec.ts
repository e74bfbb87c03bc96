import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Reply } from '../../test/support/http.ts';
import { expectProblem } from '../../test/support/problems.ts';
import { at } from '../../test/support/projection-spec.ts';
import { manualWorkflow, queryApiSpec, tenant, type Tenant } from '../../test/support/query-api-spec.ts';

describe('query API: workflows (GET /workflows…, executions, stats)', function () {
  this.timeout(30_000);
  const api = queryApiSpec();

  const ids = (reply: { body: { data: { id: string }[] } }) => reply.body.data.map((item) => item.id);

  /** Three workflows (minutes 1, 2, 3): the first edited twice, the second paused, the third deleted. */
  function workflows(org: Tenant) {
    const nurture = org.workflow('Nurture', 1);
    const onboarding = org.workflow('Onboarding', 2);
    const retired = org.workflow('Retired', 3);
    const update = (name: string, subject: string, minutes: number) =>
      nurture.stream.decide(
        {
          type: 'UpdateWorkflow',
          data: { workflowId: nurture.id, organizationId: org.id, name, description: subject, definition: manualWorkflow(subject) },
        },
        minutes,
      );
    const facts = [
      ...nurture.facts,
      ...onboarding.facts,
      ...retired.facts,
      ...update('Nurture v2', 'Second', 10),
      ...update('Nurture v3', 'Third', 11),
      ...onboarding.stream.decide({ type: 'PauseWorkflow', data: { workflowId: onboarding.id, organizationId: org.id } }, 12),
      ...retired.stream.decide({ type: 'DeleteWorkflow', data: { workflowId: retired.id, organizationId: org.id } }, 13),
    ];
    return { nurture, onboarding, retired, facts };
  }

  /**
   * Runs of `workflowId` (started at minutes 20, 21, 22, 23): two completed (after 1 and 3 minutes), one
   * failed, one still running.
   */
  function runs(org: Tenant, workflowId: string) {
    const ada = org.contact({ email: 'ada@example.com', firstName: 'Ada' }, 1);
    const grace = org.contact({ email: 'grace@example.com', firstName: 'Grace' }, 1);
    const quick = org.execution(workflowId, ada.id, 20);
    const slow = org.execution(workflowId, grace.id, 21);
    const failed = org.execution(workflowId, ada.id, 22);
    const running = org.execution(workflowId, grace.id, 23);
    const facts = [
      ...ada.facts,
      ...grace.facts,
      ...quick.facts,
      ...slow.facts,
      ...failed.facts,
      ...running.facts,
      ...quick.complete(1),
      ...slow.complete(3),
      ...failed.fail('mailbox refused the address', 1),
    ];
    return { ada, grace, quick, slow, failed, running, facts };
  }

  it('lists live workflows oldest first with their latest version, filtered by status, a page at a time', async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const flows = workflows(acme);
    await api.given(acme.signup, globex.signup, flows.facts, globex.workflow('Theirs', 1).facts);

    const all = await api.get(acme.owner, '/workflows');
    expect(all.status).to.equal(200);
    expect(all.body.data).to.deep.equal([
      {
        id: flows.nurture.id,
        name: 'Nurture v3',
        description: 'Third',
        status: 'active',
        version: 3,
        triggerType: 'manual',
        createdAt: at(1),
        updatedAt: at(11),
      },
      {
        id: flows.onboarding.id,
        name: 'Onboarding',
        description: null,
        status: 'paused',
        version: 1,
        triggerType: 'manual',
        createdAt: at(2),
        updatedAt: at(12),
      },
    ]);
    expect(all.body.page).to.deep.equal({ limit: 50, hasMore: false, nextCursor: null });
    expect(ids(await api.get(acme.owner, '/workflows?status=paused'))).to.deep.equal([flows.onboarding.id]);
    expect(ids(await api.get(acme.owner, '/workflows?status=active'))).to.deep.equal([flows.nurture.id]);

    const first = await api.get(acme.owner, '/workflows?limit=1');
    expect(ids(first)).to.deep.equal([flows.nurture.id]);
    expect(first.body.page).to.include({ limit: 1, hasMore: true });
    const second = await api.get(acme.owner, `/workflows?limit=1&cursor=${first.body.page.nextCursor}`);
    expect(ids(second)).to.deep.equal([flows.onboarding.id]);
    expect(second.body.page).to.deep.equal({ limit: 1, hasMore: false, nextCursor: null });
  });

  it('answers one workflow with its latest definition and revision (ETag); 404 once deleted or for another organization', async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const flows = workflows(acme);
    const theirs = globex.workflow('Theirs', 1);
    await api.given(acme.signup, globex.signup, flows.facts, theirs.facts);

    const reply = await api.get(acme.owner, `/workflows/${flows.nurture.id}`);
    expect(reply.status).to.equal(200);
    expect(reply.body).to.include({ id: flows.nurture.id, name: 'Nurture v3', version: 3, revision: 2, status: 'active' });
    expect(reply.body.definition).to.deep.equal(manualWorkflow('Third'));
    expect(reply.headers.get('etag')).to.equal('"2"');

    expectProblem(await api.get(acme.owner, `/workflows/${flows.retired.id}`), 404);
    expectProblem(await api.get(acme.owner, `/workflows/${theirs.id}`), 404);
    expectProblem(await api.get(acme.owner, `/workflows/${randomUUID()}`), 404);
    expectProblem(await api.get(acme.owner, '/workflows/nurture'), 404);
    expect((await api.get(globex.owner, `/workflows/${theirs.id}`)).status).to.equal(200);
  });

  it("lists a workflow's executions newest first, by status, contact and start time, a page at a time", async () => {
    const acme = tenant();
    const flow = acme.workflow('Nurture', 1);
    const other = acme.workflow('Other', 2);
    const run = runs(acme, flow.id);
    const elsewhere = acme.execution(other.id, run.ada.id, 30);
    await api.given(acme.signup, flow.facts, other.facts, run.facts, elsewhere.facts);

    const path = `/workflows/${flow.id}/executions`;
    const all = await api.get(acme.owner, path);
    expect(all.status).to.equal(200);
    expect(ids(all)).to.deep.equal([run.running.id, run.failed.id, run.slow.id, run.quick.id]);
    expect(all.body.data[2]).to.deep.include({
      id: run.slow.id,
      workflowId: flow.id,
      version: 1,
      contactId: run.grace.id,
      status: 'completed',
      error: null,
      startedAt: at(21),
      endedAt: at(24),
      durationMs: 3 * 60_000,
    });
    expect(all.body.data[1]).to.deep.include({ status: 'failed', error: { code: 'mail_rejected', message: 'mailbox refused the address' } });

    expect(ids(await api.get(acme.owner, `${path}?status=completed`))).to.deep.equal([run.slow.id, run.quick.id]);
    expect(ids(await api.get(acme.owner, `${path}?contactId=${run.ada.id.toUpperCase()}`))).to.deep.equal([run.failed.id, run.quick.id]);
    const window = `startedFrom=${encodeURIComponent(at(21))}&startedTo=${encodeURIComponent(at(23))}`;
    expect(ids(await api.get(acme.owner, `${path}?${window}`))).to.deep.equal([run.failed.id, run.slow.id]);
    expect(ids(await api.get(acme.owner, `/workflows/${other.id}/executions`))).to.deep.equal([elsewhere.id]);

    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const page: Reply = await api.get(acme.owner, `${path}?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(ids(page));
      cursor = page.body.page.nextCursor;
    } while (cursor && pages.length < 5);
    expect(pages).to.deep.equal([[run.running.id, run.failed.id, run.slow.id], [run.quick.id]]);
  });

  it('answers one execution with every step attempt and its timeline; 404 under another workflow or organization', async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const flow = acme.workflow('Nurture', 1);
    const other = acme.workflow('Other', 2);
    const run = runs(acme, flow.id);
    const theirFlow = globex.workflow('Theirs', 1);
    await api.given(acme.signup, globex.signup, flow.facts, other.facts, run.facts, theirFlow.facts);

    const reply = await api.get(acme.owner, `/workflows/${flow.id}/executions/${run.failed.id}`);
    expect(reply.status).to.equal(200);
    expect(reply.body).to.include({ id: run.failed.id, status: 'failed', contactId: run.ada.id, currentStepId: 'hello' });
    expect(reply.body.steps).to.have.length(1);
    expect(reply.body.steps[0]).to.deep.include({
      seq: 1,
      stepId: 'hello',
      stepType: 'send_email',
      attempt: 1,
      status: 'failed',
      idempotencyKey: `${run.failed.id}:hello:1`,
      takeover: false,
      input: { subject: 'Welcome' },
      output: null,
      error: { code: 'mail_rejected', message: 'mailbox refused the address' },
      startedAt: at(23),
      endedAt: at(23),
      durationMs: 0,
    });
    expect(reply.body.timeline.map((entry: { type: string }) => entry.type)).to.include('started');
    expect(reply.body.revision).to.be.a('number');

    expectProblem(await api.get(acme.owner, `/workflows/${other.id}/executions/${run.failed.id}`), 404);
    expectProblem(await api.get(acme.owner, `/workflows/${flow.id}/executions/${randomUUID()}`), 404);
    expectProblem(await api.get(globex.owner, `/workflows/${flow.id}/executions/${run.failed.id}`), 404);
    expectProblem(await api.get(globex.owner, `/workflows/${flow.id}/executions`), 404);
    expectProblem(await api.get(globex.owner, `/workflows/${theirFlow.id}/executions/${run.failed.id}`), 404);
  });

  it("answers a workflow's statistics: runs by status, success rate and median duration of completed runs", async () => {
    const acme = tenant();
    const flow = acme.workflow('Nurture', 1);
    const idle = acme.workflow('Idle', 2);
    const run = runs(acme, flow.id);
    await api.given(acme.signup, flow.facts, idle.facts, run.facts);

    const stats = await api.get(acme.owner, `/workflows/${flow.id}/stats`);
    expect(stats.status).to.equal(200);
    expect(stats.body).to.deep.equal({
      runs: 4,
      byStatus: { running: 1, waiting: 0, paused: 0, completed: 2, failed: 1, cancelled: 0, exited: 0 },
      successRate: 2 / 3,
      medianDurationMs: 2 * 60_000,
    });
    const none = await api.get(acme.owner, `/workflows/${idle.id}/stats`);
    expect(none.body).to.include({ runs: 0, successRate: null, medianDurationMs: null });
    expectProblem(await api.get(tenant().owner, `/workflows/${flow.id}/stats`), 404);
  });

  it('answers 400 naming each bad query parameter', async () => {
    const acme = tenant();
    const flow = acme.workflow('Nurture', 1);
    await api.given(acme.signup, flow.facts);
    const cases: [string, string][] = [
      ['/workflows?status=deleted', 'status'],
      ['/workflows?limit=0', 'limit'],
      ['/workflows?limit=many', 'limit'],
      ['/workflows?cursor=garbage', 'cursor'],
      ['/workflows?sort=name', 'sort'],
      [`/workflows/${flow.id}/executions?status=done`, 'status'],
      [`/workflows/${flow.id}/executions?contactId=ada`, 'contactId'],
      [`/workflows/${flow.id}/executions?startedFrom=monday`, 'startedFrom'],
      [`/workflows/${flow.id}/executions?startedTo=2026-13-01`, 'startedTo'],
      [`/workflows/${flow.id}/executions?limit=101`, 'limit'],
    ];
    for (const [path, name] of cases) expectProblem(await api.get(acme.owner, path), 400, [name]);
  });

  it('waits for X-Min-Position on the read models a route reads (workflows, and executions too)', async () => {
    const acme = tenant();
    const flow = acme.workflow('Nurture', 1);
    const contact = acme.contact({ email: 'ada@example.com' }, 1);
    await api.given(acme.signup, flow.facts, contact.facts);
    const started = acme.execution(flow.id, contact.id, 5);
    const position = await api.append(started.facts);

    const executions = api.get(acme.owner, `/workflows/${flow.id}/executions`, { 'X-Min-Position': position });
    await api.project();
    expect(ids(await executions)).to.deep.equal([started.id]);
    const beyond = (BigInt(await api.head()) + 10n).toString();
    expectProblem(await api.get(acme.owner, `/workflows/${flow.id}`, { 'X-Min-Position': beyond }), 400, ['X-Min-Position']);
  });
});
