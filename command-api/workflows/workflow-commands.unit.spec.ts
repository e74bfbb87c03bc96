import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { NotFoundError, RuleViolationError, ValidationError } from '../../domain/errors.ts';
import { workflowStream, type Workflow } from '../../domain/workflows/workflow.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { commandSpec, rejection, type CommandSpec } from '../../test/support/command-spec.ts';
import { WrongExpectedRevisionError } from '../ports.ts';
import { workflowCommandsModule } from './module.ts';
import type { WorkflowCommands, WorkflowInput } from './workflow-commands.ts';

const email = (id: string, subject: string, next: string | null = null) => ({
  id,
  type: 'send_email',
  config: { subject, body: 'Hi {{contact.firstName}}' },
  next,
});

/** A workflow as a client sends it: a welcome email, a wait, a follow-up. */
const nurture = (subject = 'Welcome'): WorkflowInput => ({
  name: 'Nurture',
  description: 'New leads',
  steps: [
    email('welcome', subject, 'pause'),
    { id: 'pause', type: 'wait', config: { duration: 'P2D' }, next: 'follow-up' },
    email('follow-up', 'Still there?'),
  ],
});

describe('workflow commands (in-memory event store)', () => {
  let commands: CommandSpec;
  let workflows: WorkflowCommands;
  const acme = randomUUID();

  beforeEach(async () => {
    commands = commandSpec([workflowCommandsModule]);
    workflows = await commands.get<WorkflowCommands>(TOKENS.WorkflowCommands);
  });

  const live = (state: Workflow) => state as Exclude<Workflow, { status: 'absent' }>;

  it('creates version 1 with the definition as validated (defaults filled in)', async () => {
    const created = await workflows.create(commands.context(acme), acme, nurture());
    expect(created).to.include({ version: 1, revision: 0 });
    const [event] = await commands.events(workflowStream(created.id));
    expect(event!.type).to.equal('WorkflowCreated');
    expect(event!.data).to.deep.include({ workflowId: created.id, organizationId: acme, name: 'Nurture', description: 'New leads', version: 1 });
    const definition = (event!.data as { definition: { trigger: unknown; settings: { timezone: string }; steps: unknown[] } }).definition;
    expect(definition.trigger).to.deep.equal({ type: 'manual' });
    expect(definition.settings.timezone).to.equal('UTC');
    expect(definition.steps).to.have.length(3);
  });

  it('records every edit as a new version and keeps the earlier ones for running executions; an unchanged edit records nothing', async () => {
    const context = commands.context(acme);
    const created = await workflows.create(context, acme, nurture('Welcome'));
    const second = await workflows.update(context, acme, created.id, nurture('Welcome!'));
    const third = await workflows.update(context, acme, created.id, { ...nurture('Welcome!'), name: 'Nurture (EMEA)' });
    expect([second.version, second.revision, third.version, third.revision]).to.deep.equal([2, 1, 3, 2]);
    expect(Object.keys(live(third.state).versions)).to.deep.equal(['1', '2', '3']);
    expect(live(third.state).name).to.equal('Nurture (EMEA)');

    const unchanged = await workflows.update(context, acme, created.id, { ...nurture('Welcome!'), name: 'Nurture (EMEA)' });
    expect(unchanged).to.include({ version: 3, revision: 2 });
    expect(unchanged.appended).to.deep.equal([]);
    expect((await commands.events(workflowStream(created.id))).map((e) => [e.type, (e.data as { version?: number }).version])).to.deep.equal([
      ['WorkflowCreated', 1],
      ['WorkflowUpdated', 2],
      ['WorkflowUpdated', 3],
    ]);
  });

  it('updates with If-Match: a stale revision is WrongExpectedRevisionError and records nothing', async () => {
    const context = commands.context(acme);
    const created = await workflows.create(context, acme, nurture());
    await workflows.update(context, acme, created.id, nurture('Hello'), 0);
    const stale = await rejection(workflows.update(context, acme, created.id, nurture('Hi there'), 0));
    expect(stale).to.be.instanceOf(WrongExpectedRevisionError);
    expect(stale).to.include({ streamId: workflowStream(created.id), expected: 0, actual: 1 });
    expect(await commands.events(workflowStream(created.id))).to.have.length(2);
  });

  it('refuses an invalid definition with a ValidationError naming each problem by its path, and records nothing', async () => {
    const context = commands.context(acme);
    const dangling = await rejection(workflows.create(context, acme, { name: 'Broken', steps: [email('welcome', 'Hi', 'nowhere')] }));
    expect(dangling).to.be.instanceOf(ValidationError);
    expect((dangling as ValidationError).invalidParams.map((p) => p.name)).to.deep.equal(['steps.0.next']);

    const several = await rejection(
      workflows.create(context, acme, {
        name: 'Broken',
        steps: [
          { id: 'a', type: 'teleport', config: {} },
          { id: 'b', type: 'wait', config: { duration: 'soon' } },
        ],
      }),
    );
    expect((several as ValidationError).invalidParams.map((p) => p.name)).to.include.members(['steps.0.type', 'steps.1.config.duration']);
    expect(await commands.log()).to.deep.equal([]);

    const created = await workflows.create(context, acme, nurture());
    const badEdit = await rejection(workflows.update(context, acme, created.id, { name: 'Nurture', steps: [] }));
    expect((badEdit as ValidationError).invalidParams.map((p) => p.name)).to.deep.equal(['steps']);
    expect(await commands.log()).to.deep.equal(['WorkflowCreated']);
  });

  it('pauses, resumes and deletes (each once); a deleted workflow or one of another organization is not found', async () => {
    const context = commands.context(acme);
    const created = await workflows.create(context, acme, nurture());
    expect((await workflows.change(context, acme, created.id, 'PauseWorkflow')).state.status).to.equal('paused');
    expect((await workflows.change(context, acme, created.id, 'PauseWorkflow')).appended, 'already paused').to.deep.equal([]);
    expect((await workflows.change(context, acme, created.id, 'ResumeWorkflow')).state.status).to.equal('active');

    // Another organization's workflow is refused exactly as one that does not exist (ids never leak).
    const globex = randomUUID();
    const missing = await rejection(workflows.update(commands.context(globex), globex, randomUUID(), nurture('Mine now')));
    expect(missing).to.be.instanceOf(NotFoundError);
    for (const refused of [
      await rejection(workflows.update(commands.context(globex), globex, created.id, nurture('Mine now'))),
      await rejection(workflows.change(commands.context(globex), acme, created.id, 'DeleteWorkflow')),
    ]) {
      expect(refused).to.be.instanceOf(NotFoundError);
      expect(refused).to.include({ message: (missing as Error).message, code: (missing as NotFoundError).code });
    }

    await workflows.change(context, acme, created.id, 'DeleteWorkflow');
    expect(await rejection(workflows.update(context, acme, created.id, nurture('Back')))).to.be.instanceOf(NotFoundError);
    expect(await rejection(workflows.change(context, acme, created.id, 'ResumeWorkflow'))).to.be.instanceOf(NotFoundError);
    expect((await commands.events(workflowStream(created.id))).map((e) => e.type)).to.deep.equal([
      'WorkflowCreated',
      'WorkflowPaused',
      'WorkflowResumed',
      'WorkflowDeleted',
    ]);
  });

  it('backfills only a scheduled workflow, and only the past', async () => {
    const context = commands.context(acme, { type: 'user', id: randomUUID() }, new Date('2026-03-10T12:00:00Z'));
    const manual = await workflows.create(context, acme, nurture());
    const notScheduled = await rejection(workflows.backfill(context, acme, manual.id, { from: '2026-03-01T00:00:00Z', to: '2026-03-02T00:00:00Z' }));
    expect(notScheduled).to.be.instanceOf(RuleViolationError);
    expect(notScheduled).to.include({ code: 'not_scheduled' });

    const weekly = await workflows.create(context, acme, {
      ...nurture(),
      trigger: {
        type: 'schedule',
        cron: '0 9 * * 1',
        timezone: 'Europe/Paris',
        audienceTag: 'newsletter',
        overlap: 'skip',
        catchUpWindowMinutes: 60,
      },
    });
    const backfilled = await workflows.backfill(context, acme, weekly.id, { from: '2026-03-01T00:00:00Z', to: '2026-03-09T00:00:00+01:00' });
    expect(backfilled.appended.map((e) => [e.type, e.data])).to.deep.equal([
      [
        'WorkflowBackfillRequested',
        { workflowId: weekly.id, organizationId: acme, from: '2026-03-01T00:00:00.000Z', to: '2026-03-08T23:00:00.000Z' },
      ],
    ]);
    const future = await rejection(workflows.backfill(context, acme, weekly.id, { from: '2026-03-01T00:00:00Z', to: '2026-03-11T00:00:00Z' }));
    expect(future).to.include({ code: 'backfill_in_future', field: 'to' });
  });
});
