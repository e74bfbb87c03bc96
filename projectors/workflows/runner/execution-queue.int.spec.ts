import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RecordedEvent } from '../../../domain/events.ts';
import { executionDecider, type Execution, type ExecutionCommand } from '../../../domain/workflows/execution.ts';
import { testMetadata } from '../../../test/support/events.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/support/postgres.ts';
import { openStores } from '../../../test/support/stores.ts';
import { executionsProjection } from '../executions-projection.ts';
import { ExecutionQueue, queueDueOf } from './execution-queue.ts';

describe('workflow execution queue: claims, leases, releases, and the projection (real PostgreSQL)', function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let stores: Awaited<ReturnType<typeof openStores>>;
  const organizationId = randomUUID();
  const seconds = (n: number, from = Date.now()) => new Date(from + n * 1_000);

  before(async function () {
    this.timeout(60_000);
    database = await createTestDatabase('nf_test_queue');
    stores = await openStores(database.url);
  });
  after(async () => {
    await stores?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    await stores.pool.query('DELETE FROM workflow_execution_queue; DELETE FROM workflow_executions; DELETE FROM workflow_execution_steps');
  });

  async function queued(dueAt: Date | null, revision = 0): Promise<string> {
    const id = randomUUID();
    await stores.pool.query('INSERT INTO workflow_execution_queue (execution_id, organization_id, due_at, revision) VALUES ($1, $2, $3, $4)', [
      id,
      organizationId,
      dueAt,
      revision,
    ]);
    return id;
  }

  async function row(id: string) {
    const { rows } = await stores.pool.query<{ due_at: Date | null; revision: number; lease_owner: string | null; lease_until: Date | null }>(
      'SELECT due_at, revision, lease_owner, lease_until FROM workflow_execution_queue WHERE execution_id = $1',
      [id],
    );
    return rows[0]!;
  }

  it('claims the due rows in due order for the free slots in one statement; leased and future rows are not claimable', async () => {
    const now = new Date();
    const thirdDue = seconds(-1, now.getTime());
    const [first, second, third] = [await queued(seconds(-3, now.getTime())), await queued(seconds(-2, now.getTime())), await queued(thirdDue)];
    await queued(seconds(60));
    await queued(null);
    const a = new ExecutionQueue(stores.pool, 'runner-a');
    const b = new ExecutionQueue(stores.pool, 'runner-b');
    expect((await a.claim(now, 2, 30_000)).map((c) => c.executionId)).to.deep.equal([first, second]);
    expect(await a.dueNotClaimed(now)).to.equal(1);
    const claimedByB = await b.claim(now, 10, 30_000);
    expect(claimedByB.map((c) => c.executionId)).to.deep.equal([third]);
    // When it was due, for the lateness of the claim.
    expect(claimedByB[0]!.dueAt).to.deep.equal(thirdDue);
    expect(await row(third)).to.deep.include({ lease_owner: 'runner-b', lease_until: new Date(now.getTime() + 30_000) });
    expect(await b.claim(now, 10, 30_000)).to.deep.equal([]);
    // Once a lease has run out, another runner takes the execution over.
    const later = new Date(now.getTime() + 31_000);
    expect((await b.claim(later, 10, 30_000)).map((c) => c.executionId)).to.have.members([first, second, third]);
  });

  it('claims ahead what comes due within a window, but never a lease another runner holds', async () => {
    const now = new Date();
    const soon = await queued(seconds(5, now.getTime()));
    const sooner = await queued(seconds(2, now.getTime()));
    const later = await queued(seconds(60, now.getTime()));
    const held = await queued(seconds(-1, now.getTime()));
    const a = new ExecutionQueue(stores.pool, 'runner-a');
    const b = new ExecutionQueue(stores.pool, 'runner-b');
    expect((await b.claim(now, 1, 3_000)).map((c) => c.executionId)).to.deep.equal([held]);
    // runner-b's lease ends within a's window: still b's.
    // (The statement answers in no particular order: the runner sorts what it claimed ahead by due time.)
    const ahead = (await a.claim(now, 10, 30_000, seconds(10, now.getTime()))).sort((x, y) => x.dueAt.getTime() - y.dueAt.getTime());
    expect(ahead.map((c) => c.executionId)).to.deep.equal([sooner, soon]);
    expect(ahead.map((c) => c.dueAt)).to.deep.equal([seconds(2, now.getTime()), seconds(5, now.getTime())]);
    expect(await row(later)).to.deep.include({ lease_owner: null });
    expect(await row(held)).to.deep.include({ lease_owner: 'runner-b' });
    // A claim ahead holds until the due time, then for the lease: no renewal needed before it is due.
    expect(await row(soon)).to.deep.include({ lease_owner: 'runner-a', lease_until: seconds(35, now.getTime()) });
    // Once b's lease ran out, a claim ahead may take it over.
    const afterLease = new Date(now.getTime() + 4_000);
    expect((await a.claim(afterLease, 10, 30_000, seconds(10, afterLease.getTime()))).map((c) => c.executionId)).to.deep.equal([held]);
  });

  it('renews the leases it holds together, and tells which ones it lost', async () => {
    const now = new Date();
    const mine = await queued(seconds(-1));
    const theirs = await queued(seconds(-1));
    const a = new ExecutionQueue(stores.pool, 'runner-a');
    await a.claim(now, 1, 1_000);
    await new ExecutionQueue(stores.pool, 'runner-b').claim(now, 1, 1_000);
    expect(await a.renew([mine, theirs], 60_000)).to.deep.equal([theirs]);
    expect((await row(mine)).lease_until!.getTime()).to.be.greaterThan(Date.now() + 50_000);
  });

  it('lets executions go with the due time of the state the runner wrote, at once; a row known at a later revision keeps its due time', async () => {
    const now = new Date();
    const waiting = await queued(seconds(-1), 2);
    const ended = await queued(seconds(-1), 2);
    const stale = await queued(seconds(-1), 9);
    const a = new ExecutionQueue(stores.pool, 'runner-a');
    expect(await a.claim(now, 3, 30_000)).to.have.length(3);
    const until = seconds(3_600);
    await Promise.all([
      a.release({ executionId: waiting, known: { dueAt: until, revision: 5 } }),
      a.release({ executionId: ended, known: { dueAt: null, revision: 7 } }),
      // The projection already knows a later revision (someone paused it meanwhile, say): its due time stays.
      a.release({ executionId: stale, known: { dueAt: until, revision: 6 } }),
    ]);
    expect(await row(waiting)).to.deep.include({ due_at: until, revision: 5, lease_owner: null, lease_until: null });
    expect(await row(ended)).to.deep.include({ due_at: null, revision: 7, lease_owner: null, lease_until: null });
    expect(await row(stale)).to.deep.include({ revision: 9, lease_owner: null, lease_until: null });
    expect((await row(stale)).due_at!.getTime()).to.be.below(Date.now());
    expect((await a.nextDueAt())!.getTime()).to.be.below(Date.now());
  });

  it('holds an execution whose state the runner does not know for a moment, as the log says', async () => {
    const now = new Date();
    const id = await queued(seconds(-1), 3);
    const a = new ExecutionQueue(stores.pool, 'runner-a');
    await a.claim(now, 1, 30_000);
    await a.release({ executionId: id, known: null, holdMs: 5_000 });
    const released = await row(id);
    expect(released).to.deep.include({ revision: 3, lease_owner: null });
    expect(released.lease_until!.getTime()).to.be.within(Date.now() + 3_000, Date.now() + 6_000);
    expect(await a.claim(new Date(), 1, 30_000)).to.deep.equal([]);
    expect((await a.nextDueAt())!.getTime()).to.equal(released.lease_until!.getTime());
  });

  it('the executions projection never puts back an older due time than the one a runner recorded', async () => {
    // An execution the runner drove to its end (revision 5) before the projection saw any of it.
    const executionId = randomUUID();
    const events = decided(executionId, [
      { type: 'BeginStep', data: { stepId: 'hello', stepType: 'add_tag', now: at(1), maxStepsPerExecution: 10 } },
      { type: 'CompleteStep', data: { stepId: 'hello', stepType: 'add_tag', attempt: 1, output: {}, nextStepId: 'bye', now: at(1) } },
      { type: 'BeginStep', data: { stepId: 'bye', stepType: 'add_tag', now: at(2), maxStepsPerExecution: 10 } },
      { type: 'CompleteStep', data: { stepId: 'bye', stepType: 'add_tag', attempt: 1, output: {}, nextStepId: null, now: at(2) } },
    ]);
    expect(events.map((e) => `${e.revision}:${e.type}`)).to.deep.equal([
      '0:ExecutionStarted',
      '1:StepStarted',
      '2:StepCompleted',
      '3:StepStarted',
      '4:StepCompleted',
      '5:ExecutionCompleted',
    ]);
    const project = (batch: RecordedEvent[]) => stores.orm.em.fork().transactional((em) => executionsProjection.apply(batch, em));
    await project(events.slice(0, 1));
    expect(await row(executionId)).to.deep.include({ due_at: new Date(at(0)), revision: 0 });
    const queue = new ExecutionQueue(stores.pool, 'runner-a');
    expect(await queue.claim(new Date(), 1, 30_000)).to.have.length(1);
    await queue.release({ executionId, known: { dueAt: null, revision: 5 } });
    // The projection catches up in two batches: the first would make it due again, the second ends it.
    await project(events.slice(1, 3));
    expect(await row(executionId)).to.deep.include({ due_at: null, revision: 5 });
    await project(events.slice(3));
    expect(await row(executionId)).to.deep.include({ due_at: null, revision: 5 });
    expect(await queue.claim(new Date(), 1, 30_000)).to.deep.equal([]);
  });

  it('answers the due time of a state: none while paused or once ended', () => {
    const running = { status: 'running', dueAt: at(3) } as Execution;
    expect(queueDueOf(running)).to.deep.equal(new Date(at(3)));
    expect(queueDueOf({ ...running, status: 'paused' } as Execution)).to.equal(null);
    expect(queueDueOf({ status: 'completed' } as Execution)).to.equal(null);
  });

  /** An execution started at at(0), then `commands`, decided in order: its events as the log records them. */
  function decided(executionId: string, commands: ExecutionCommand[]): RecordedEvent[] {
    let state = executionDecider.initialState;
    const all: ExecutionCommand[] = [
      {
        type: 'StartExecution',
        data: {
          executionId,
          organizationId,
          workflowId: randomUUID(),
          version: 1,
          contactId: randomUUID(),
          cause: { type: 'manual', id: randomUUID() },
          entryStepId: 'hello',
          startedAt: at(0),
        },
      },
      ...commands,
    ];
    const out: RecordedEvent[] = [];
    for (const command of all) {
      for (const event of executionDecider.decide(command, state)) {
        state = executionDecider.evolve(state, event);
        const revision = out.length;
        out.push({
          ...event,
          id: randomUUID(),
          streamId: `execution-${executionId}`,
          revision,
          position: String(revision + 1),
          recordedAt: at(revision),
          metadata: testMetadata({ tenantId: organizationId, occurredAt: at(revision) }),
        } as RecordedEvent);
      }
    }
    return out;
  }
});

function at(minutes: number): string {
  return new Date(Date.UTC(2026, 2, 2, 9, 0) + minutes * 60_000).toISOString();
}
