import { randomUUID } from 'node:crypto';
import type { WorkflowDefinition } from '../../domain/workflows/definition.ts';
import { workflowDecider, workflowStream } from '../../domain/workflows/workflow.ts';
import { entityStream, projectionSpec, rowsOf } from '../../test/support/projection-spec.ts';
import { schedulesProjection } from './schedules-projection.ts';
import { ScheduleSchema, type ScheduleEntry } from './workflow-views.ts';

const manual: WorkflowDefinition = {
  trigger: { type: 'manual' },
  settings: { timezone: 'UTC', exitOn: [], exitAction: 'stop', mailbox: 'sales@acme.test' },
  steps: [{ id: 'hello', type: 'send_email', config: { subject: 'Hi', body: 'x' }, next: null }],
};
const scheduled = (cron: string, timezone: string): WorkflowDefinition => ({
  ...manual,
  trigger: { type: 'schedule', cron, timezone, audienceTag: 'newsletter', overlap: 'skip', catchUpWindowMinutes: 60 },
});
const MONDAYS_9_PARIS = scheduled('0 9 * * 1', 'Europe/Paris');
const DAILY_7_30_UTC = scheduled('30 7 * * *', 'UTC');
const FOUR_WEEKS = 28 * 24 * 60;

describe('workflow schedules projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(schedulesProjection);
  // The scheduler reads every organization's schedules: the table has no tenant filter, each row names its own.
  const schedules = rowsOf(ScheduleSchema, { orderBy: { revision: 'asc', cron: 'asc' } });

  // at(0) is Monday 2 March 2026, 09:00 UTC (10:00 in Paris): the Monday 09:00 Paris firing has passed.
  function workflow(definition: WorkflowDefinition, organizationId = randomUUID()) {
    const workflowId = randomUUID();
    const ids = { workflowId, organizationId };
    const stream = entityStream(workflowDecider, workflowStream(workflowId), { tenantId: organizationId });
    const created = stream.decide({ type: 'CreateWorkflow', data: { ...ids, name: 'Newsletter', description: null, definition } });
    const update = (next: WorkflowDefinition, minutes: number, name = 'Newsletter') =>
      stream.decide({ type: 'UpdateWorkflow', data: { ...ids, name, description: null, definition: next } }, minutes);
    const pause = (minutes: number) => stream.decide({ type: 'PauseWorkflow', data: ids }, minutes);
    const resume = (minutes: number) => stream.decide({ type: 'ResumeWorkflow', data: ids }, minutes);
    const remove = (minutes: number) => stream.decide({ type: 'DeleteWorkflow', data: ids }, minutes);
    const row = (overrides: Partial<ScheduleEntry> = {}): ScheduleEntry => ({
      workflowId,
      organizationId,
      cron: '0 9 * * 1',
      timezone: 'Europe/Paris',
      status: 'active',
      nextFireAt: new Date('2026-03-09T08:00:00.000Z'),
      lastFiredAt: null,
      leaseUntil: null,
      revision: 0,
      ...overrides,
    });
    return { created, update, pause, resume, remove, row };
  }

  it('schedules a workflow with a schedule trigger from when it was created, and no other workflow', async () => {
    const weekly = workflow(MONDAYS_9_PARIS);
    const other = workflow(manual, randomUUID());
    await spec.given(weekly.created, other.created).then(schedules, [weekly.row()]);
  });

  it('moves the next firing when the cron or the time zone changes, and keeps it when they do not', async () => {
    const weekly = workflow(MONDAYS_9_PARIS);
    const daily = weekly.update(DAILY_7_30_UTC, 10);
    const renamed = weekly.update(DAILY_7_30_UTC, 20, 'Daily digest');
    const expected = [weekly.row({ cron: '30 7 * * *', timezone: 'UTC', nextFireAt: new Date('2026-03-03T07:30:00.000Z'), revision: 2 })];
    await spec.given(weekly.created, daily, renamed).then(schedules, expected);
    await spec.given(weekly.created, daily).when(renamed).then(schedules, expected);
  });

  it('pauses, and on resume fires from the resume on (09:00 in Paris is 07:00 UTC after the change to summer time)', async () => {
    const weekly = workflow(MONDAYS_9_PARIS);
    const paused = weekly.pause(60);
    const resumed = weekly.resume(FOUR_WEEKS);
    await spec.given(weekly.created, paused).then(schedules, [weekly.row({ status: 'paused' })]);
    await spec
      .given(weekly.created, paused)
      .when(resumed)
      .then(schedules, [weekly.row({ nextFireAt: new Date('2026-04-06T07:00:00.000Z') })]);
  });

  it('is marked deleted when its workflow is deleted or stops being scheduled, and a schedule trigger brings it back', async () => {
    const deleted = workflow(MONDAYS_9_PARIS);
    const unscheduled = workflow(MONDAYS_9_PARIS);
    const toManual = unscheduled.update(manual, 10);
    const scenario = [deleted.created, unscheduled.created, deleted.remove(5), toManual];
    await spec.given(...scenario).then(schedules, [deleted.row({ status: 'deleted' }), unscheduled.row({ status: 'deleted' })]);
    const backOn = unscheduled.update(DAILY_7_30_UTC, 30);
    await spec
      .given(...scenario)
      .when(backOn)
      .then(schedules, [
        deleted.row({ status: 'deleted' }),
        unscheduled.row({ cron: '30 7 * * *', timezone: 'UTC', nextFireAt: new Date('2026-03-03T07:30:00.000Z'), revision: 2 }),
      ]);
  });

  it('ignores pauses, resumes and deletions of workflows without a schedule (nothing parked)', async () => {
    const plain = workflow(manual);
    await spec.given(plain.created, plain.pause(1), plain.resume(2), plain.remove(3)).then(schedules, []);
  });

  it('builds the same rows whether the events come in one batch, one by one, or across a restart', async () => {
    const weekly = workflow(MONDAYS_9_PARIS);
    const daily = workflow(DAILY_7_30_UTC);
    const facts = [
      weekly.created,
      daily.created,
      weekly.pause(10),
      daily.update(MONDAYS_9_PARIS, 20),
      weekly.resume(FOUR_WEEKS),
      daily.remove(FOUR_WEEKS + 1),
    ].flat();
    const together = await spec.given(facts).rows(schedules);
    await spec.given(facts).inBatchesOf(1).then(schedules, together);
    await spec.given(facts.slice(0, 3)).when(facts.slice(3)).then(schedules, together);
  });
});
