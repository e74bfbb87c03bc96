import { randomUUID } from 'node:crypto';
import type { WorkflowDefinition } from '../../domain/workflows/definition.ts';
import { workflowDecider, workflowStream } from '../../domain/workflows/workflow.ts';
import { at, entityStream, fact, projectionSpec, rowsOf } from '../../test/support/projection-spec.ts';
import { WorkflowViewSchema, type WorkflowView } from './workflow-views.ts';
import { workflowsProjection } from './workflows-projection.ts';

const manualDefinition = (subject: string): WorkflowDefinition => ({
  trigger: { type: 'manual' },
  settings: { timezone: 'UTC', exitOn: ['replied'], exitAction: 'stop', mailbox: 'sales@acme.test' },
  steps: [{ id: 'hello', type: 'send_email', config: { subject, body: 'Hi {{contact.firstName}}' }, next: null }],
});

const scheduledDefinition = (cron: string, timezone = 'Europe/Paris'): WorkflowDefinition => ({
  ...manualDefinition('Weekly'),
  trigger: { type: 'schedule', cron, timezone, audienceTag: 'newsletter', overlap: 'skip', catchUpWindowMinutes: 60 },
});

describe('workflows projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(workflowsProjection);

  function workflow(organizationId = randomUUID()) {
    const workflowId = randomUUID();
    const tenant = { tenantId: organizationId, actor: { type: 'user' as const, id: randomUUID() } };
    const ids = { workflowId, organizationId };
    const stream = entityStream(workflowDecider, workflowStream(workflowId), tenant);
    const created = stream.decide({
      type: 'CreateWorkflow',
      data: { ...ids, name: 'Nurture', description: null, definition: manualDefinition('Welcome') },
    });
    const row = (overrides: Partial<WorkflowView> = {}): WorkflowView => ({
      id: workflowId,
      organizationId,
      name: 'Nurture',
      description: null,
      status: 'active',
      version: 1,
      triggerType: 'manual',
      definition: manualDefinition('Welcome') as unknown as Record<string, unknown>,
      createdAt: new Date(at(0)),
      updatedAt: new Date(at(0)),
      revision: 0,
      ...overrides,
    });
    return { workflowId, organizationId, ids, tenant, stream, created, row, rows: rowsOf(WorkflowViewSchema, { tenant: organizationId }) };
  }

  it('adds a workflow with its first version, for its organization only', async () => {
    const nurture = workflow();
    const scenario = spec.given(nurture.created);
    await scenario.then(nurture.rows, [nurture.row()]);
    await scenario.then(rowsOf(WorkflowViewSchema, { tenant: randomUUID() }), []);
  });

  it("keeps the latest version's name, description, trigger and definition", async () => {
    const nurture = workflow();
    const scheduled = scheduledDefinition('0 9 * * 1');
    const updated = nurture.stream.decide(
      { type: 'UpdateWorkflow', data: { ...nurture.ids, name: 'Weekly nurture', description: 'Mondays', definition: scheduled } },
      10,
    );
    const expected = [
      nurture.row({
        name: 'Weekly nurture',
        description: 'Mondays',
        version: 2,
        triggerType: 'schedule',
        definition: scheduled as unknown as Record<string, unknown>,
        updatedAt: new Date(at(10)),
        revision: 1,
      }),
    ];
    await spec.given(nurture.created, updated).then(nurture.rows, expected);
    await spec.given(nurture.created).when(updated).then(nurture.rows, expected);
  });

  it('is paused, resumed and deleted (kept, marked deleted); a backfill request moves its revision only', async () => {
    const nurture = workflow();
    const paused = nurture.stream.decide({ type: 'PauseWorkflow', data: nurture.ids }, 1);
    const resumed = nurture.stream.decide({ type: 'ResumeWorkflow', data: nurture.ids }, 2);
    const pausedAgain = nurture.stream.decide({ type: 'PauseWorkflow', data: nurture.ids }, 3);
    await spec.given(nurture.created, paused).then(nurture.rows, [nurture.row({ status: 'paused', updatedAt: new Date(at(1)), revision: 1 })]);
    await spec.given(nurture.created, paused, resumed).then(nurture.rows, [nurture.row({ updatedAt: new Date(at(2)), revision: 2 })]);

    const weekly = workflow(nurture.organizationId);
    const update = weekly.stream.decide(
      { type: 'UpdateWorkflow', data: { ...weekly.ids, name: 'Nurture', description: null, definition: scheduledDefinition('0 9 * * 1') } },
      1,
    );
    const backfill = weekly.stream.decide({ type: 'BackfillSchedule', data: { ...weekly.ids, from: at(-600), to: at(-60), now: at(2) } }, 2);
    const deleted = nurture.stream.decide({ type: 'DeleteWorkflow', data: nurture.ids }, 4);
    const rows = rowsOf(WorkflowViewSchema, { tenant: nurture.organizationId, orderBy: { revision: 'asc' } });
    const expected = [
      weekly.row({
        version: 2,
        triggerType: 'schedule',
        definition: scheduledDefinition('0 9 * * 1') as unknown as Record<string, unknown>,
        updatedAt: new Date(at(2)),
        revision: 2,
      }),
      nurture.row({ status: 'deleted', updatedAt: new Date(at(4)), revision: 4 }),
    ];
    await spec.given(nurture.created, paused, resumed, pausedAgain, weekly.created, update, backfill, deleted).then(rows, expected);
    await spec
      .given(nurture.created, paused, weekly.created)
      .when(resumed, pausedAgain, update, backfill, deleted)
      .inBatchesOf(2)
      .then(rows, expected);
  });

  it('parks a second creation and a change to a workflow it never saw, and goes on', async () => {
    const nurture = workflow();
    const copy = fact(`${workflowStream(nurture.workflowId)}-copy`, nurture.created[0]!.event, nurture.tenant);
    const ghostId = randomUUID();
    const ghost = fact(
      workflowStream(ghostId),
      { type: 'WorkflowPaused', version: 1, data: { workflowId: ghostId, organizationId: nurture.organizationId } },
      nurture.tenant,
    );
    const paused = nurture.stream.decide({ type: 'PauseWorkflow', data: nurture.ids }, 5);
    const scenario = spec.given(nurture.created, copy, ghost, paused);
    await scenario.thenParked([
      { eventType: 'WorkflowCreated', error: /already exists/ },
      { eventType: 'WorkflowPaused', error: /is not in the read model/ },
    ]);
    await scenario.then(nurture.rows, [nurture.row({ status: 'paused', updatedAt: new Date(at(5)), revision: 1 })]);
  });
});
