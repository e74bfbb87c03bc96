import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { CommandHandler, CommandOutcome, KnownStream } from '../../../command-api/command-handling.ts';
import type { ContactCommands } from '../../../command-api/contacts/contact-commands.ts';
import { WrongExpectedRevisionError } from '../../../command-api/ports.ts';
import { contactDecider } from '../../../domain/contacts/decide.ts';
import { contactStream, type Contact, type ContactEvent } from '../../../domain/contacts/contact.ts';
import { DomainError } from '../../../domain/errors.ts';
import type { CommandContext } from '../../../domain/events.ts';
import { retryPolicyOf, stepOf, type ExitReason, type StepDefinition, type WorkflowDefinition } from '../../../domain/workflows/definition.ts';
import {
  executionDecider,
  executionStream,
  isActive,
  NotRunnableError,
  type Active,
  type Execution,
  type ExecutionCommand,
  type ExecutionEvent,
} from '../../../domain/workflows/execution.ts';
import { stepTypes } from '../../../domain/workflows/steps/index.ts';
import {
  contactSnapshotOf,
  StepError,
  type ContactSnapshot,
  type StepContext,
  type StepOutcome,
  type StepPorts,
  type StepType,
} from '../../../domain/workflows/steps/step-type.ts';
import { nextSendOpportunity } from '../../../domain/workflows/time.ts';
import { workflowDecider, workflowStream, type Workflow, type WorkflowEvent } from '../../../domain/workflows/workflow.ts';
import type { MailboxThrottle } from '../../../infra/workflows/mailbox-throttle.ts';
import { backoffDelayMs, retryPolicies, retrying } from '../../../infra/retry.ts';
import type { ClaimedExecution, ExecutionQueue } from './execution-queue.ts';

export interface WorkflowRunnerOptions {
  /** Executions worked on at once by this runner. */
  concurrency: number;
  /** How long a claim holds before another runner may take the execution over. */
  leaseMs: number;
  /** The longest the runner sleeps when nothing is due (it is also woken when the queue changes). */
  pollMs: number;
  /** Steps run back to back for one execution before it goes back to the queue (fairness). */
  maxStepsPerClaim: number;
  /**
   * The step budget: an execution that has started this many step visits (retries and takeovers of a visit
   * not counted again) fails with `step_budget_exhausted` instead of starting another.
   */
  maxStepsPerExecution: number;
  /** Identifies this runner's leases. */
  owner?: string;
}

export interface RunnerPorts {
  email: StepPorts['email'];
  http: StepPorts['http'];
  ai: StepPorts['ai'];
  crm: StepPorts['crm'];
}

type Registered = Exclude<Workflow, { status: 'absent' }>;

/** The execution as this runner last wrote it: the next step decides on it without reading it again. */
type Known = KnownStream<Execution>;

/** The step an execution is at, in the workflow version it runs. */
interface NextStep {
  definition: WorkflowDefinition;
  step: StepDefinition;
  type: StepType;
}

/** A step that may run now, for this contact, in this time zone. */
interface ReadyStep extends NextStep {
  contact: ContactSnapshot;
  zone: string;
}

/** A step whose start was recorded: its attempt and idempotency key, and the execution as the start left it. */
interface StartedStep {
  attempt: number;
  idempotencyKey: string;
  takeover: boolean;
  afterStart: Known;
}

/** What to record instead of running the step (cancel, pause, exit, defer). */
type Instead = { instead: ExecutionCommand };
const instead = (command: ExecutionCommand): Instead => ({ instead: command });
type DeferReason = Extract<ExecutionCommand, { type: 'DeferStep' }>['data']['reason'];

/** What a runner knows while it holds one claim. */
interface ClaimSession {
  /** The contact as last read or written during this claim (re-read before every send, for exit rules). */
  contact: KnownStream<Contact> | null;
}

/**
 * Runs workflow executions. It claims due executions from the queue (a lease per execution, so several
 * runners in several processes share the work), and for each runs steps until the execution waits, pauses
 * or ends:
 *
 * - StepStarted is recorded before a step's side effect, with the revision the runner read as expectation:
 *   of two runners that claimed the same execution (a lease that ran out), only one can start the step.
 * - A runner that dies mid-step leaves the step in flight; once its lease runs out another runner takes it
 *   over and runs it again with the same idempotency key, which every side effect deduplicates on.
 * - Waits, retries (exponential backoff with jitter), send windows and mailbox throttles are recorded as a
 *   later due time; the queue projection turns that into the moment the execution is claimed again, so a
 *   timer survives any restart and fires once.
 */
export class WorkflowRunner {
  private readonly owner: string;
  private readonly controller = new AbortController();
  private readonly active = new Set<Promise<void>>();
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly workflows = new LRUCache<string, Registered>({ max: 5_000, ttl: 2_000 });
  /** What the runner has done since start (for health and tests). */
  readonly stats = { claimed: 0, stepsRun: 0, takeovers: 0, conflicts: 0, errors: 0 };

  constructor(
    private readonly queue: ExecutionQueue,
    private readonly handler: CommandHandler,
    private readonly contacts: ContactCommands,
    private readonly ports: RunnerPorts,
    private readonly throttle: MailboxThrottle,
    private readonly logger: Logger,
    private readonly options: WorkflowRunnerOptions,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.owner = options.owner ?? `runner-${randomUUID().slice(0, 8)}`;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Something may have become due (the queue's projection moved): look now instead of at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.controller.abort();
    this.wake();
    await this.loop;
    await Promise.all([...this.active]);
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    while (!signal.aborted) {
      // Claiming fails only while the queue's database is unreachable: waited out until it is back, or until stopped.
      await retrying(retryPolicies.outage, () => this.claimDueWork(), {
        signal,
        retryIf: () => !signal.aborted,
        onRetry: (err, failures) => this.logger.warn({ err, failures }, 'workflow runner: could not claim work; retrying'),
      }).catch((err: unknown) => {
        if (!signal.aborted) throw err;
      });
    }
  }

  /** Claims due executions for the free slots and starts working on them; idles unless more may be due at once. */
  private async claimDueWork(): Promise<void> {
    const free = this.options.concurrency - this.active.size;
    const claimed = free > 0 ? await this.queue.claim(this.owner, this.now(), free, this.options.leaseMs) : [];
    for (const entry of claimed) {
      this.stats.claimed++;
      const work = this.work(entry).finally(() => {
        this.active.delete(work);
        this.wake();
      });
      this.active.add(work);
    }
    if (claimed.length === free && free > 0) return; // more may be due
    await this.idle(free === 0);
  }

  /** Sleeps until the next due time, a wake-up, a slot freeing, or the poll interval. */
  private async idle(full: boolean): Promise<void> {
    let delay = this.options.pollMs;
    if (!full) {
      const next = await this.queue.nextDueAt();
      if (next) delay = Math.max(0, Math.min(delay, next.getTime() - this.now().getTime()));
    }
    if (delay === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, delay);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
    this.wakeUp = null;
  }

  private async work(entry: ClaimedExecution): Promise<void> {
    const renewEvery = Math.max(50, Math.floor(this.options.leaseMs / 3));
    const renewal = setInterval(() => {
      this.queue
        .renew(entry.executionId, this.owner, this.options.leaseMs)
        .catch((err: unknown) => this.logger.warn({ err }, 'could not renew a lease'));
    }, renewEvery);
    try {
      let known: Known | null = null;
      const session: ClaimSession = { contact: null };
      for (let steps = 0; steps < this.options.maxStepsPerClaim; steps++) {
        known = await this.advance(entry.executionId, known, session);
        if (!known) break;
      }
    } catch (err) {
      this.stats.errors++;
      this.logger.error({ err, executionId: entry.executionId }, 'workflow runner: execution step failed unexpectedly; it will be retried');
    } finally {
      clearInterval(renewal);
      await this.queue.release(entry.executionId, this.owner, 250).catch((err: unknown) => this.logger.warn({ err }, 'could not release a lease'));
    }
  }

  /**
   * Runs the execution's next step if it is due. Answers the execution as it left it when another step may
   * be due at once (null: nothing more to do now).
   */
  private async advance(executionId: string, known: Known | null, session: ClaimSession): Promise<Known | null> {
    const loaded = known ?? (await this.handler.load<Execution, ExecutionEvent>(executionStream(executionId), executionDecider));
    const execution = loaded.state;
    if (!isActive(execution) || execution.status === 'paused') return null;
    const now = this.now();
    if (Date.parse(execution.dueAt) > now.getTime()) return null;
    const context = this.contextFor(execution, now);
    const record = (command: ExecutionCommand) => this.record(executionId, command, context, loaded);

    const next = await this.nextStep(execution, now);
    if ('instead' in next) return record(next.instead);
    const ready = await this.readyToRun(execution, next, session, now);
    if ('instead' in ready) return record(ready.instead);
    const started = await this.beginStep(execution, ready.step, context, loaded, now);
    if (started === null) return null;
    if ('budgetSpent' in started) return this.continuation(started.budgetSpent);
    return this.runStep(execution, ready, started, context, session, now);
  }

  /** The step the execution is at, in the workflow version it runs; or what to record when there is none to run. */
  private async nextStep(execution: Active, now: Date): Promise<NextStep | Instead> {
    const workflow = await this.workflow(execution.workflowId);
    if (!workflow || workflow.status === 'deleted') return instead({ type: 'CancelExecution', data: { reason: 'workflow deleted', now: iso(now) } });
    if (workflow.status === 'paused') return instead({ type: 'PauseExecution', data: { by: 'workflow', reason: 'workflow paused', now: iso(now) } });
    const definition = workflow.versions[execution.version];
    const step = definition ? stepOf(definition, execution.nextStepId) : undefined;
    const type = step ? stepTypes.get(step.type) : undefined;
    if (!definition || !step || !type) {
      // Cannot happen with a definition validated on save; if it does, stop rather than spin.
      const reason = `step ${execution.nextStepId} of workflow version ${execution.version} is unknown`;
      this.logger.error({ executionId: execution.id, reason }, 'workflow runner: cancelling an execution it cannot run');
      return instead({ type: 'CancelExecution', data: { reason, now: iso(now) } });
    }
    return { definition, step, type };
  }

  /**
   * Whether the step may run now, for which contact: not while the execution is queued behind another one
   * for the contact, never for a deleted contact, and a step that sends only if no exit rule ends the
   * execution, the send window is open and the mailbox has a free slot. Otherwise, what to record instead.
   */
  private async readyToRun(execution: Active, next: NextStep, session: ClaimSession, now: Date): Promise<ReadyStep | Instead> {
    const { definition, step, type } = next;
    const defer = (until: Date, reason: DeferReason) => instead({ type: 'DeferStep', data: { stepId: step.id, until: iso(until), reason } });
    if (execution.queuedBehind && !execution.inFlight && (await this.stillRunning(execution.queuedBehind))) {
      return defer(new Date(now.getTime() + 60_000), 'queued');
    }
    if (type.sends || !session.contact)
      session.contact = await this.handler.load<Contact, ContactEvent>(contactStream(execution.contactId), contactDecider);
    const contact = snapshotOf(session.contact.state, execution);
    if (!contact) return instead({ type: 'CancelExecution', data: { reason: 'contact deleted', now: iso(now) } });
    const zone = contact.timezone ?? definition.settings.timezone;
    if (type.sends && !execution.inFlight) {
      const exit = exitReasonFor(contact, definition, execution, now);
      if (exit)
        return instead({ type: 'ExitExecution', data: { reason: exit, action: definition.settings.exitAction, stepId: step.id, now: iso(now) } });
      if (definition.settings.sendWindow) {
        const opening = nextSendOpportunity(now, definition.settings.sendWindow, zone);
        if (opening.getTime() > now.getTime()) return defer(opening, 'send_window');
      }
      const slot = await this.throttle.reserve(definition.settings.mailbox, now);
      if (!slot.ok) return defer(slot.retryAt, 'throttle');
    }
    return { ...next, contact, zone };
  }

  /**
   * Records the step's start, expecting the revision read: of two runners that claimed the same execution,
   * only one can start it (null for the other). The decider fails the execution instead when its step budget
   * is spent: then there is nothing to run.
   */
  private async beginStep(
    execution: Active,
    step: StepDefinition,
    context: CommandContext,
    loaded: Known,
    now: Date,
  ): Promise<StartedStep | { budgetSpent: CommandOutcome<Execution> } | null> {
    const { maxStepsPerExecution } = this.options;
    let outcome: CommandOutcome<Execution>;
    try {
      outcome = await this.handler.handle(
        executionStream(execution.id),
        executionDecider,
        { type: 'BeginStep', data: { stepId: step.id, stepType: step.type, input: step.config, now: iso(now), maxStepsPerExecution } },
        context,
        { expectedRevision: loaded.revision, known: loaded },
      );
    } catch (err) {
      if (err instanceof WrongExpectedRevisionError || err instanceof NotRunnableError) {
        this.stats.conflicts++;
        return null;
      }
      throw err;
    }
    if (outcome.appended[0]?.type !== 'StepStarted') return { budgetSpent: outcome };
    const started = outcome.appended[0]!.data as { attempt: number; idempotencyKey: string; takeover: boolean };
    if (started.takeover) this.stats.takeovers++;
    this.stats.stepsRun++;
    return { ...started, afterStart: { state: outcome.state, revision: outcome.revision, position: outcome.position } };
  }

  /** Runs the started step's side effect, then records how it went: completed (and what is next), or failed. */
  private async runStep(
    execution: Active,
    ready: ReadyStep,
    started: StartedStep,
    context: CommandContext,
    session: ClaimSession,
    now: Date,
  ): Promise<Known | null> {
    const { definition, step, type, contact, zone } = ready;
    const stepContext: StepContext = {
      executionId: execution.id,
      workflowId: execution.workflowId,
      organizationId: execution.organizationId,
      stepId: step.id,
      idempotencyKey: started.idempotencyKey,
      now,
      contact,
      settings: definition.settings,
      zone,
      ports: { ...this.ports, contacts: this.contactPort(execution, context, session) },
    };
    let outcome: StepOutcome;
    try {
      outcome = await type.run(step.config, stepContext);
    } catch (err) {
      const retryable = err instanceof StepError ? err.retryable : !(err instanceof DomainError);
      const code = err instanceof StepError ? err.code : err instanceof DomainError ? err.code : 'step_error';
      return this.fail(
        execution.id,
        step,
        started.attempt,
        { code, message: (err as Error).message.slice(0, 1_000) },
        retryable,
        context,
        started.afterStart,
      );
    }
    const nextStepId = outcome.kind === 'done' && outcome.branch !== undefined ? (step.branches?.[outcome.branch] ?? null) : (step.next ?? null);
    const finishedAt = this.now();
    const completed = await this.handler.handle(
      executionStream(execution.id),
      executionDecider,
      {
        type: 'CompleteStep',
        data: {
          stepId: step.id,
          stepType: step.type,
          attempt: started.attempt,
          output: outcome.output ?? {},
          nextStepId,
          ...(outcome.kind === 'wait' ? { waitUntil: iso(outcome.until) } : {}),
          now: iso(finishedAt),
        },
      },
      { ...context, now: finishedAt },
      { known: started.afterStart },
    );
    return this.continuation(completed);
  }

  /** The execution as a command left it, when its next step is due at once. */
  private continuation(outcome: { state: Execution; revision: number; position: string | null }): Known | null {
    const state = outcome.state;
    const runnable = isActive(state) && state.status === 'running' && Date.parse(state.dueAt) <= this.now().getTime();
    return runnable ? { state, revision: outcome.revision, position: outcome.position } : null;
  }

  private async fail(
    executionId: string,
    step: StepDefinition,
    attempt: number,
    error: { code: string; message: string },
    retryable: boolean,
    context: CommandContext,
    known: Known,
  ): Promise<Known | null> {
    const now = this.now();
    const policy = retryPolicyOf(step);
    // The shared backoff from half the step's initial delay, with jitter: retry n waits between half and all of
    // initialDelayMs × 2^(n−1) (at most maxDelayMs), so the retries of executions that failed together spread out.
    const delay = backoffDelayMs({ initialDelayMs: policy.initialDelayMs / 2, maxDelayMs: policy.maxDelayMs, jitter: true }, attempt);
    return this.record(
      executionId,
      {
        type: 'FailStep',
        data: {
          stepId: step.id,
          stepType: step.type,
          attempt,
          error,
          retryable,
          maxAttempts: policy.maxAttempts,
          retryAt: iso(new Date(now.getTime() + delay)),
          now: iso(now),
        },
      },
      { ...context, now },
      known,
    );
  }

  /** Appends a decision (retrying on a concurrent change, judged again by the decider). */
  private async record(executionId: string, command: ExecutionCommand, context: CommandContext, known: Known): Promise<Known | null> {
    try {
      return this.continuation(await this.handler.handle(executionStream(executionId), executionDecider, command, context, { known }));
    } catch (err) {
      if (err instanceof NotRunnableError || (err instanceof DomainError && err.code === 'execution_ended')) return null;
      throw err;
    }
  }

  private contextFor(execution: Active, now: Date): CommandContext {
    return {
      tenantId: execution.organizationId,
      actor: { type: 'system', id: 'workflow-runner' },
      correlationId: execution.id,
      causationId: randomUUID(),
      now,
    };
  }

  private async workflow(workflowId: string): Promise<Registered | null> {
    const known = this.workflows.get(workflowId);
    if (known) return known;
    const { state } = await this.handler.load<Workflow, WorkflowEvent>(workflowStream(workflowId), workflowDecider);
    if (state.status === 'absent') return null;
    this.workflows.set(workflowId, state);
    return state;
  }

  private async stillRunning(executionId: string): Promise<boolean> {
    const { state } = await this.handler.load<Execution, ExecutionEvent>(executionStream(executionId), executionDecider);
    return isActive(state);
  }

  /**
   * Contact changes a step makes, as the workflow runner (a system actor) in the execution's organization,
   * decided on the contact as this claim knows it (re-read only if someone else changed it meanwhile).
   */
  private contactPort(execution: Active, context: CommandContext, session: ClaimSession): StepPorts['contacts'] {
    const remember = (outcome: { state: Contact; revision: number; position: string | null }) => {
      session.contact = { state: outcome.state, revision: outcome.revision, position: outcome.position };
    };
    return {
      update: async (changes) => {
        remember(
          await this.contacts.update(context, execution.organizationId, execution.contactId, changes, undefined, session.contact ?? undefined),
        );
      },
      changeTags: async (tags) => {
        remember(
          await this.contacts.changeTags(context, execution.organizationId, execution.contactId, tags, undefined, session.contact ?? undefined),
        );
      },
    };
  }
}

function snapshotOf(state: Contact, execution: Active): ContactSnapshot | null {
  if (state.status !== 'active' || state.organizationId !== execution.organizationId) return null;
  return contactSnapshotOf(state);
}

function iso(date: Date): string {
  return date.toISOString();
}

/** Which engagement, if any, ends this execution before its next send. */
function exitReasonFor(contact: ContactSnapshot, definition: WorkflowDefinition, execution: Active, now: Date): ExitReason | null {
  const rules = new Set(definition.settings.exitOn);
  const { repliedAt, bouncedAt, unsubscribedAt, outOfOfficeUntil } = contact.engagement;
  const since = (at: string | null) => at !== null && Date.parse(at) >= Date.parse(execution.startedAt);
  if (rules.has('unsubscribed') && unsubscribedAt !== null) return 'unsubscribed';
  if (rules.has('bounced') && bouncedAt !== null) return 'bounced';
  if (rules.has('replied') && since(repliedAt)) return 'replied';
  if (rules.has('out_of_office') && outOfOfficeUntil !== null && Date.parse(outOfOfficeUntil) > now.getTime()) return 'out_of_office';
  return null;
}
