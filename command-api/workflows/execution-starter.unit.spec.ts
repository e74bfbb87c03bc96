import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { ConflictError, NotFoundError } from '../../domain/errors.ts';
import { executionStream } from '../../domain/workflows/execution.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { commandSpec, rejection, type CommandSpec } from '../../test/support/command-spec.ts';
import type { ContactCommands } from '../contacts/contact-commands.ts';
import { contactServicesModule } from '../contacts/module.ts';
import type { ExecutionCommands } from './execution-commands.ts';
import type { ExecutionStarter } from './execution-starter.ts';
import { executionStarterModule, workflowCommandsModule } from './module.ts';
import type { WorkflowCommands } from './workflow-commands.ts';

const steps = [
  { id: 'welcome', type: 'send_email', config: { subject: 'Welcome', body: 'Hi {{contact.firstName}}' }, next: 'pause' },
  { id: 'pause', type: 'wait', config: { duration: 'P1D' }, next: null },
];

describe('starting and steering executions (in-memory event store)', () => {
  let commands: CommandSpec;
  let starter: ExecutionStarter;
  let executions: ExecutionCommands;
  let workflows: WorkflowCommands;
  let contacts: ContactCommands;
  const acme = randomUUID();
  const globex = randomUUID();

  beforeEach(async () => {
    commands = commandSpec([contactServicesModule, workflowCommandsModule, executionStarterModule]);
    [starter, executions, workflows, contacts] = await Promise.all([
      commands.get<ExecutionStarter>(TOKENS.ExecutionStarter),
      commands.get<ExecutionCommands>(TOKENS.ExecutionCommands),
      commands.get<WorkflowCommands>(TOKENS.WorkflowCommands),
      commands.get<ContactCommands>(TOKENS.ContactCommands),
    ]);
  });

  /** A workflow (edited once: version 2) and a contact of `organizationId`. */
  async function world(organizationId = acme) {
    const context = commands.context(organizationId);
    const workflow = await workflows.create(context, organizationId, { name: 'Nurture', steps });
    await workflows.update(context, organizationId, workflow.id, { name: 'Nurture v2', steps });
    const contact = await contacts.create(context, organizationId, { email: `${randomUUID()}@example.com` });
    return { context, workflowId: workflow.id, contactId: contact.id };
  }

  it("starts an execution on the workflow's current version, at its first step", async () => {
    const { context, workflowId, contactId } = await world();
    const started = await starter.start(context, { organizationId: acme, workflowId, contactId, cause: { type: 'manual', id: randomUUID() } });
    expect(started.created).to.equal(true);
    const [event] = await commands.events(executionStream(started.executionId));
    expect(event!.type).to.equal('ExecutionStarted');
    expect(event!.data).to.deep.include({
      executionId: started.executionId,
      organizationId: acme,
      workflowId,
      contactId,
      version: 2,
      entryStepId: 'welcome',
    });
    expect(event!.position).to.equal(started.position);
  });

  it('starts one execution per cause, even when the cause arrives many times at once', async () => {
    const { context, workflowId, contactId } = await world();
    const cause = { type: 'event' as const, id: randomUUID() };
    const results = await Promise.all(
      Array.from({ length: 10 }, () => starter.start(context, { organizationId: acme, workflowId, contactId, cause })),
    );
    expect(results.filter((r) => r.created)).to.have.length(1);
    expect(new Set(results.map((r) => r.executionId)).size).to.equal(1);
    expect((await commands.log()).filter((type) => type === 'ExecutionStarted')).to.have.length(1);
    // Another cause is another execution.
    const other = await starter.start(context, { organizationId: acme, workflowId, contactId, cause: { type: 'event', id: randomUUID() } });
    expect(other.created).to.equal(true);
    expect(other.executionId).not.to.equal(results[0]!.executionId);
  });

  it('refuses a paused workflow (ConflictError), and a deleted one, an unknown one or another organization’s (NotFoundError)', async () => {
    const { context, workflowId, contactId } = await world();
    const cause = () => ({ type: 'manual' as const, id: randomUUID() });
    await workflows.change(context, acme, workflowId, 'PauseWorkflow');
    const paused = await rejection(starter.start(context, { organizationId: acme, workflowId, contactId, cause: cause() }));
    expect(paused).to.be.instanceOf(ConflictError);
    expect(paused).to.include({ code: 'workflow_paused' });

    const theirs = await world(globex);
    for (const request of [
      { organizationId: acme, workflowId: randomUUID(), contactId },
      { organizationId: acme, workflowId: theirs.workflowId, contactId },
      // The workflow answers first, even with the contact (read at the same time) another organization's.
      { organizationId: acme, workflowId: randomUUID(), contactId: theirs.contactId },
    ]) {
      const refused = await rejection(starter.start(context, { ...request, cause: cause() }));
      expect(refused).to.be.instanceOf(NotFoundError);
      expect((refused as Error).message).to.equal('Workflow not found');
    }
    await workflows.change(context, acme, workflowId, 'DeleteWorkflow');
    expect(await rejection(starter.start(context, { organizationId: acme, workflowId, contactId, cause: cause() }))).to.be.instanceOf(NotFoundError);
    expect((await commands.log()).filter((type) => type === 'ExecutionStarted')).to.deep.equal([]);
  });

  it('refuses a contact that is deleted or of another organization (NotFoundError)', async () => {
    const { context, workflowId, contactId } = await world();
    const theirs = await world(globex);
    const start = (id: string) =>
      starter.start(context, { organizationId: acme, workflowId, contactId: id, cause: { type: 'manual', id: randomUUID() } });
    expect(((await rejection(start(theirs.contactId))) as Error).message).to.equal('Contact not found');
    await contacts.delete(context, acme, contactId);
    expect(((await rejection(start(contactId))) as Error).message).to.equal('Contact not found');
  });

  it('pauses, resumes and cancels one execution of its own workflow; another workflow’s or organization’s is not found', async () => {
    const { context, workflowId, contactId } = await world();
    const { executionId } = await starter.start(context, {
      organizationId: acme,
      workflowId,
      contactId,
      cause: { type: 'manual', id: randomUUID() },
    });

    expect((await executions.act(context, workflowId, executionId, 'pause', 'holiday')).appended.map((e) => e.type)).to.deep.equal([
      'ExecutionPaused',
    ]);
    expect((await executions.act(context, workflowId, executionId, 'pause', 'again')).appended, 'already paused').to.deep.equal([]);
    expect((await executions.act(context, workflowId, executionId, 'resume', '')).appended.map((e) => e.type)).to.deep.equal(['ExecutionResumed']);
    // Refused exactly as an execution that does not exist (ids never leak across organizations).
    const missing = await rejection(executions.act(context, workflowId, randomUUID(), 'cancel', 'nothing'));
    for (const refused of [
      missing,
      await rejection(executions.act(context, randomUUID(), executionId, 'cancel', 'wrong workflow')),
      await rejection(executions.act(commands.context(globex), workflowId, executionId, 'cancel', 'not mine')),
    ]) {
      expect(refused).to.be.instanceOf(NotFoundError);
      expect((refused as Error).message).to.equal('Execution not found');
    }

    const cancelled = await executions.act(context, workflowId, executionId, 'cancel', 'no longer needed');
    expect(cancelled.appended.map((e) => [e.type, (e.data as { reason: string }).reason])).to.deep.equal([
      ['ExecutionCancelled', 'no longer needed'],
    ]);
    expect((await commands.events(executionStream(executionId))).map((e) => e.type)).to.deep.equal([
      'ExecutionStarted',
      'ExecutionPaused',
      'ExecutionResumed',
      'ExecutionCancelled',
    ]);
  });
});
