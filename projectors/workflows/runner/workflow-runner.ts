import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { CommandHandler, KnownStream } from '../../../command-api/command-handling.ts';
import type { ContactCommands } from '../../../command-api/contacts/contact-commands.ts';
import { WrongExpectedRevisionError } from '../../../command-api/ports.ts';
import { contactDecider } from '../../../domain/contacts/decide.ts';
import { contactStream, type Contact, type ContactEvent } from '../../../domain/contacts/contact.ts';
import { sequenceOf } from '../../../domain/decider.ts';
import { DomainError } from '../../../domain/errors.ts';
import type { CommandContext } from '../../../domain/events.ts';
import { retryPolicyOf, stepOf, type ExitReason, type StepDefinition, type WorkflowDefinition } from '../../../domain/workflows/definition.ts';
import {
  executionDecider,
  executionStream,
  isActive,
  NotRunnableError,
  recordedTogether,
  stepStartIn,
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
import type { Metrics } from '../../../infra/observability/metrics.ts';
import type { MailboxThrottle } from '../../../infra/workflows/mailbox-throttle.ts';
import { backoffDelayMs, retryPolicies, retrying } from '../../../infra/retry.ts';
import type { WorkflowBacklog } from '../../backlog.ts';
import { ClaimBatch } from './claim-batch.ts';
import { queueDueOf, type ClaimedExecution, type ExecutionQueue, type Release } from './execution-queue.ts';

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
  /**
   * The event store appends to several streams in one transaction: a step whose effects are all in the log
   * (logOnly) is then recorded with them in one append. Without it, its start is appended first, as for
   * any other step.
   */
  atomicAppends: boolean;
  /**
   * Claims ahead: executions due within this many milliseconds are claimed (leased) and loaded before their
   * due time, so that when it comes only their steps remain to run (0: never ahead).
   */
  prefetchMs: number;
  /** The most executions held loaded ahead of their due time. */
  prefetchMax: number;
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

/**
 * The decisions of a claim are appended as one command (see ClaimBatch), a step started and completed in it
 * recorded as one event (recordedTogether).
 */
const sequence = sequenceOf(executionDecider);
const decisions: typeof sequence = { ...sequence, decide: (commands, state) => recordedTogether(sequence.decide(commands, state)) };

/** A release whose state is unknown leaves the row as the log says, claimable again after this pause. */
const UNKNOWN_STATE_HOLD_MS = 250;
/** Executions claimed ahead in one statement (then loaded together) while filling the prefetch. */
const PREFETCH_CLAIM = 1_000;
/** How often the number of due executions no runner holds is sampled (nexusflow_workflow_executions_due). */
const DUE_SAMPLE_MS = 5_000;

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

/** What to record instead of running the step (cancel, pause, exit, defer). */
type Instead = { instead: ExecutionCommand };
const instead = (command: ExecutionCommand): Instead => ({ instead: command });
type DeferReason = Extract<ExecutionCommand, { type: 'DeferStep' }>['data']['reason'];

/**
 * Runs workflow executions. It claims due executions from the queue (a lease per execution, so several
 * runners in several processes share the work; one statement claims for every free slot), and for each runs
 * steps until the execution waits, pauses or ends, deciding each on the state the previous one left:
 *
 * - StepStarted is stored before a step's side effect, with the revision the runner read as expectation:
 *   of two runners that claimed the same execution (a lease that ran out), only one can start the step.
 * - A step whose effects are all in the log (tags, contact fields, conditions, waits) is appended with its
 *   start, its contact changes and its outcome in one transaction, together with what the claim decided
 *   before it: it happens entirely or not at all, so it needs no separate start.
 * - A runner that dies mid-step leaves the step in flight; once its lease runs out another runner takes it
 *   over and runs it again with the same idempotency key, which every side effect deduplicates on.
 * - Waits, retries (exponential backoff with jitter), send windows and mailbox throttles are recorded as a
 *   later due time. The runner writes it to the queue as it lets the execution go (and the executions
 *   projection writes what the log says; the newer revision wins), so a timer survives any restart and
 *   fires once, and the runner never waits for the projection to see its own progress.
 */
export class WorkflowRunner {
  private readonly controller = new AbortController();
  private readonly active = new Set<Promise<void>>();
  /**
   * The executions this runner holds a lease on, and when (as far as it knows) each lease ends: those ending
   * before the renewal after next are renewed together.
   */
  private readonly held = new Map<string, number>();
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private readonly workflows = new LRUCache<string, Registered>({ max: 5_000, ttl: 2_000 });
  /** Executions claimed and loaded ahead of their due time, earliest first (see prefetchMs). */
  private ahead: { entry: ClaimedExecution; batch: ClaimBatch }[] = [];
  /** What the runner has done since start (for health and tests). */
  readonly stats = { claimed: 0, stepsRun: 0, takeovers: 0, conflicts: 0, errors: 0 };

  constructor(
    private readonly queue: ExecutionQueue,
    private readonly handler: CommandHandler,
    private readonly contacts: ContactCommands,
    private readonly ports: RunnerPorts,
    private readonly throttle: MailboxThrottle,
    private readonly logger: Logger,
    private readonly metrics: Metrics | null,
    private readonly options: WorkflowRunnerOptions,
    /** Told after each claim whether due work may be waiting beyond the free slots (background work yields). */
    private readonly backlog: WorkflowBacklog | null = null,
    private readonly now: () => Date = () => new Date(),
  ) {}

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
    // A renewal every third of the lease, of the leases that would run out before the one after.
    const renewal = setInterval(() => void this.renewLeases(), Math.max(50, Math.floor(this.options.leaseMs / 3)));
    const sampling = setInterval(() => void this.sampleDue(), DUE_SAMPLE_MS);
    renewal.unref();
    sampling.unref();
    this.timers = [renewal, sampling];
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
    // What was claimed ahead goes back as it is: claimable again at its due time.
    const ahead = this.ahead;
    this.ahead = [];
    await Promise.all(
      ahead.map(({ entry }) =>
        this.queue
          .release({ executionId: entry.executionId, known: null, holdMs: 0 })
          .catch((err: unknown) => this.logger.warn({ err }, 'could not release a lease')),
      ),
    );
    for (const timer of this.timers) clearInterval(timer);
    await this.queue.drain();
    this.backlog?.set(false);
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

  /**
   * Starts work for the free slots: executions claimed ahead that are now due first, then due executions
   * claimed in one statement. With nothing more due now, claims ahead what comes due within prefetchMs; then
   * idles. Slots that free up while a claim is under way are filled by the next one together.
   */
  private async claimDueWork(): Promise<void> {
    const free = this.options.concurrency - this.active.size;
    if (free <= 0) return this.idle(true);
    const now = this.now();
    let due = 0;
    while (due < free && this.ahead.length > 0 && this.ahead[0]!.entry.dueAt.getTime() <= now.getTime()) {
      const { entry, batch } = this.ahead.shift()!;
      this.begin(entry, now, batch);
      due++;
    }
    if (due === free) {
      this.backlog?.set(true);
      return; // more may be due
    }
    const claimed = await this.queue.claim(now, free - due, this.options.leaseMs);
    this.backlog?.set(claimed.length === free - due);
    for (const entry of claimed) this.begin(entry, now, null);
    if (claimed.length === free - due) return; // more may be due
    if (await this.prefetch(now)) return;
    await this.idle(false);
  }

  /** Works on a claimed execution (loaded ahead, or not yet) in a slot of its own. */
  private begin(entry: ClaimedExecution, now: Date, loaded: ClaimBatch | null): void {
    this.stats.claimed++;
    this.metrics?.runnerClaimed.inc();
    this.metrics?.timerLateness.observe(Math.max(0, now.getTime() - entry.dueAt.getTime()) / 1000);
    this.held.set(entry.executionId, Math.max(this.held.get(entry.executionId) ?? 0, leaseEndOf(entry, now, this.options.leaseMs)));
    const work = this.work(entry, loaded).finally(() => {
      this.held.delete(entry.executionId);
      this.active.delete(work);
      this.wake();
    });
    this.active.add(work);
  }

  /**
   * Claims what comes due within prefetchMs (up to prefetchMax held) and loads it, with its contact: when the
   * due time comes, only the steps remain to run (10,000 waits ending at 09:00 start together instead of
   * being claimed and read one slot at a time). The leases are renewed with the others; a change made to an
   * execution meanwhile fails the expectation of its first append, and it is then read again (as after any
   * conflict). A send reads its contact again anyway. Answers whether it claimed anything.
   */
  private async prefetch(now: Date): Promise<boolean> {
    const room = Math.min(PREFETCH_CLAIM, this.options.prefetchMax - this.ahead.length);
    if (this.options.prefetchMs <= 0 || room <= 0 || this.controller.signal.aborted) return false;
    const claimed = await this.queue.claim(now, room, this.options.leaseMs, new Date(now.getTime() + this.options.prefetchMs));
    for (const entry of claimed) this.held.set(entry.executionId, leaseEndOf(entry, now, this.options.leaseMs));
    const loaded = await Promise.all(
      claimed.map(async (entry) => {
        try {
          return { entry, batch: await this.load(entry) };
        } catch (err) {
          this.logger.warn(
            { err, executionId: entry.executionId },
            'workflow runner: could not load an execution ahead; it is claimed again when due',
          );
          this.held.delete(entry.executionId);
          await this.queue.release({ executionId: entry.executionId, known: null, holdMs: 0 }).catch(() => undefined);
          return null;
        }
      }),
    );
    for (const item of loaded) if (item) this.ahead.push(item);
    this.ahead.sort((a, b) => a.entry.dueAt.getTime() - b.entry.dueAt.getTime());
    return claimed.length > 0;
  }

  /**
   * The execution as stored, and its contact (read again before a send), for a claim ahead: their states
   * only (not the events they were folded from), since thousands may be held until they are due.
   */
  private async load(entry: ClaimedExecution): Promise<ClaimBatch> {
    const batch = new ClaimBatch(known(await this.handler.load<Execution, ExecutionEvent>(executionStream(entry.executionId), executionDecider)));
    const execution = batch.state;
    if (isActive(execution)) {
      batch.contactRead(
        execution.contactId,
        known(await this.handler.load<Contact, ContactEvent>(contactStream(execution.contactId), contactDecider)),
      );
      batch.contactStale();
    }
    return batch;
  }

  /** Sleeps until the next due time (in the queue, or of what was claimed ahead), a wake-up, a slot freeing, or the poll interval. */
  private async idle(full: boolean): Promise<void> {
    let delay = this.options.pollMs;
    if (!full) {
      const next = await this.queue.nextDueAt();
      const ahead = this.ahead[0]?.entry.dueAt;
      for (const at of [next, ahead]) if (at) delay = Math.max(0, Math.min(delay, at.getTime() - this.now().getTime()));
    }
    if (delay === 0 || this.controller.signal.aborted) return;
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

  private async renewLeases(): Promise<void> {
    const { leaseMs } = this.options;
    const renewedAt = this.now().getTime();
    const ending = [...this.held].filter(([, end]) => end - renewedAt <= (leaseMs * 2) / 3).map(([executionId]) => executionId);
    if (ending.length === 0) return;
    try {
      const lost = await this.queue.renew(ending, leaseMs);
      for (const executionId of ending) if (this.held.has(executionId)) this.held.set(executionId, renewedAt + leaseMs);
      if (lost.length > 0) this.logger.warn({ executionIds: lost }, 'workflow runner: leases ran out before they were renewed');
    } catch (err) {
      this.logger.warn({ err }, 'could not renew leases');
    }
  }

  private async sampleDue(): Promise<void> {
    if (!this.metrics) return;
    try {
      this.metrics.runnerDueNotStarted.set(await this.queue.dueNotClaimed(this.now()));
    } catch (err) {
      this.logger.debug({ err }, 'could not count the due executions');
    }
  }

  /**
   * Runs the execution's steps while they are due at once, deciding each on the state the previous one
   * left (no read in between, and no wait for the projection), then lets it go with the due time of that
   * state, so the queue is right the moment the lease ends. The slot is free once the decisions are stored:
   * the release goes with the next group of releases (until it lands the row stays leased to this runner,
   * so nobody claims it meanwhile, and stopping waits for it).
   */
  private async work(entry: ClaimedExecution, loaded: ClaimBatch | null): Promise<void> {
    let release: Release = { executionId: entry.executionId, known: null, holdMs: UNKNOWN_STATE_HOLD_MS };
    try {
      const batch =
        loaded ?? new ClaimBatch(await this.handler.load<Execution, ExecutionEvent>(executionStream(entry.executionId), executionDecider));
      try {
        for (let steps = 0; steps < this.options.maxStepsPerClaim; steps++) {
          if (!(await this.advance(batch))) break;
        }
      } finally {
        // What was decided is stored even when a step failed unexpectedly after it.
        await this.store(batch);
      }
      let known = batch.durable;
      if (known && batch.pausedForWorkflow) known = await this.unlessWorkflowResumed(known);
      if (known) release = { executionId: entry.executionId, known: { dueAt: queueDueOf(known.state), revision: known.revision } };
    } catch (err) {
      this.stats.errors++;
      this.logger.error({ err, executionId: entry.executionId }, 'workflow runner: execution step failed unexpectedly; it will be retried');
    } finally {
      // Due again at once (the claim's step limit): claimable when the release lands, not when the slot frees.
      const dueAgain = release.known?.dueAt != null && release.known.dueAt.getTime() <= this.now().getTime();
      void this.queue.release(release).then(
        () => dueAgain && this.wake(),
        (err: unknown) => this.logger.warn({ err }, 'could not release a lease'),
      );
    }
  }

  /**
   * Decides the execution's next step if it is due, and runs it. A step whose effects are all in the log is
   * only decided (appended with the next batch); any other is started first: the batch so far, its start
   * included, is appended with the revision read as expectation (of two runners that claimed the execution,
   * only one can start it), then its side effect runs. Answers whether another step may be due at once.
   */
  private async advance(batch: ClaimBatch): Promise<boolean> {
    const execution = batch.state;
    if (!isActive(execution) || execution.status === 'paused') return false;
    const now = this.now();
    if (Date.parse(execution.dueAt) > now.getTime()) return false;

    const next = await this.nextStep(execution, now);
    if ('instead' in next) {
      if (next.instead.type === 'PauseExecution') batch.pausedForWorkflow = true;
      return this.decideInstead(batch, next.instead);
    }
    // A send's checks (exit rules, window, throttle) look at the contact as stored, after what came before: as
    // this claim knows it when that is current (its changes of this claim are then appended with the send's
    // start, expecting its revision), or else read again, after what is pending has been stored.
    if (next.type.sends && !batch.contactCurrent && !(await this.store(batch))) return false;
    const ready = await this.readyToRun(execution, next, batch, now);
    if ('instead' in ready) return this.decideInstead(batch, ready.instead);
    const { step, type } = ready;
    let begun: ExecutionEvent[];
    try {
      begun = batch.decide({
        type: 'BeginStep',
        data: { stepId: step.id, stepType: step.type, input: step.config, now: iso(now), maxStepsPerExecution: this.options.maxStepsPerExecution },
      });
    } catch (err) {
      if (err instanceof NotRunnableError) return false;
      throw err;
    }
    const started = begun[0]?.type === 'StepStarted' ? (begun[0].data as { attempt: number; idempotencyKey: string }) : null;
    // The step budget is spent: the execution failed instead.
    if (!started) return this.dueAtOnce(batch);
    const atomic = type.logOnly === true && this.options.atomicAppends;
    if (!atomic) {
      if (!(await this.store(batch))) return false;
      batch.contactStale();
    }
    await this.runStep(execution, ready, started, batch, now, atomic);
    return this.dueAtOnce(batch);
  }

  /**
   * This claim paused the execution because its workflow was paused. The workflow may have been resumed
   * since it was read, and the lifecycle reactor, which resumes what the workflow's pause paused, may have
   * looked at the executions before this pause was stored: the workflow is read once more after the pause is
   * stored, and the execution resumed if the workflow is active again (one of the two sees the other's write).
   */
  private async unlessWorkflowResumed(known: Known): Promise<Known | null> {
    const state = known.state;
    if (!isActive(state) || state.status !== 'paused' || state.pausedBy !== 'workflow') return known;
    const workflow = await this.workflow(state.workflowId, true);
    if (workflow?.status !== 'active') return known;
    const now = this.now();
    return this.decide(
      state.id,
      { type: 'ResumeExecution', data: { now: iso(now), onlyIfPausedBy: 'workflow' } },
      this.contextFor(state, now),
      known,
    );
  }

  /** Records what to do instead of the step (cancel, pause, exit, defer), unless it no longer applies. */
  private decideInstead(batch: ClaimBatch, command: ExecutionCommand): boolean {
    try {
      batch.decide(command);
    } catch (err) {
      if (err instanceof NotRunnableError || (err instanceof DomainError && err.code === 'execution_ended')) return false;
      throw err;
    }
    return this.dueAtOnce(batch);
  }

  /** Whether the execution's next step is due at once, as the decisions so far left it. */
  private dueAtOnce(batch: ClaimBatch): boolean {
    const state = batch.state;
    return isActive(state) && state.status === 'running' && Date.parse(state.dueAt) <= this.now().getTime();
  }

  /**
   * Appends the batch's decisions, with the contact's changes, in one append expecting the execution's
   * revision. True when stored (or nothing was pending). On a conflict nothing of it was stored: a step whose
   * side effect already happened is still recorded as completed or failed (decided again on the execution as
   * it is now), and the rest is left for the next claim, which decides again from the log.
   */
  private async store(batch: ClaimBatch): Promise<boolean> {
    const durable = batch.durable;
    if (!batch.pending || !durable || !isActive(durable.state)) return !batch.pending;
    const context = this.contextFor(durable.state, this.now());
    try {
      const outcome = await this.handler.handle(
        executionStream(durable.state.id),
        decisions,
        { type: 'RecordRunnerDecisions', commands: batch.commands },
        context,
        { known: durable, expectedRevision: durable.revision, together: batch.contactAppend(context) },
      );
      for (const event of outcome.appended) {
        const start = stepStartIn(event);
        if (!start) continue;
        this.stats.stepsRun++;
        if (start.takeover) this.stats.takeovers++;
      }
      batch.stored({ state: outcome.state, revision: outcome.revision, position: outcome.position }, outcome.position);
      return true;
    } catch (err) {
      if (!(err instanceof WrongExpectedRevisionError || err instanceof NotRunnableError)) throw err;
      this.stats.conflicts++;
      const completion = batch.completesSideEffect ? batch.commands[0]! : null;
      batch.lost(null);
      if (completion) {
        const outcome = await this.decide(durable.state.id, completion, context, durable);
        batch.lost(outcome ? { state: outcome.state, revision: outcome.revision, position: outcome.position } : null);
      }
      return false;
    }
  }

  /** The step the execution is at, in the workflow version it runs; or what to record when there is none to run. */
  private async nextStep(execution: Active, now: Date): Promise<NextStep | Instead> {
    let workflow = await this.workflow(execution.workflowId);
    // A pause is decided on the workflow as stored, never on a cached status it may have left since.
    if (workflow?.status === 'paused') workflow = await this.workflow(execution.workflowId, true);
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
  private async readyToRun(execution: Active, next: NextStep, batch: ClaimBatch, now: Date): Promise<ReadyStep | Instead> {
    const { definition, step, type } = next;
    const defer = (until: Date, reason: DeferReason) => instead({ type: 'DeferStep', data: { stepId: step.id, until: iso(until), reason } });
    if (execution.queuedBehind && !execution.inFlight && (await this.stillRunning(execution.queuedBehind))) {
      return defer(new Date(now.getTime() + 60_000), 'queued');
    }
    // Read once per claim, and again before every send (the batch is stored by then: no change is pending),
    // unless what the claim stored just now proved the contact current (its append expected the revision).
    if (type.sends ? !batch.useFreshContact() : !batch.contactState) {
      batch.contactRead(execution.contactId, await this.handler.load<Contact, ContactEvent>(contactStream(execution.contactId), contactDecider));
    }
    const contact = snapshotOf(batch.contactState!, execution);
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
   * Runs the started step, then decides how it went: completed (and what is next), or failed (retried with
   * backoff, or for good). The step's duration is observed with its outcome: completed, waiting, retried or
   * failed. `atomic`: its effects go into the batch, to be appended with its start and outcome.
   */
  private async runStep(
    execution: Active,
    ready: ReadyStep,
    started: { attempt: number; idempotencyKey: string },
    batch: ClaimBatch,
    now: Date,
    atomic: boolean,
  ): Promise<void> {
    const { definition, step, type, contact, zone } = ready;
    const context = this.contextFor(execution, now);
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
      ports: { ...this.ports, contacts: atomic ? this.batchedContactPort(execution, batch) : this.contactPort(execution, context, batch) },
    };
    // From here on the batch completes (or fails) a step whose side effect happened: kept even on a conflict.
    batch.completesSideEffect = !atomic;
    const began = performance.now();
    const observe = (outcome: 'completed' | 'waiting' | 'retried' | 'failed') =>
      this.metrics?.stepDuration.observe({ type: step.type, outcome }, (performance.now() - began) / 1000);
    let outcome: StepOutcome;
    try {
      outcome = await type.run(step.config, stepContext);
    } catch (err) {
      const retryable = err instanceof StepError ? err.retryable : !(err instanceof DomainError);
      const code = err instanceof StepError ? err.code : err instanceof DomainError ? err.code : 'step_error';
      const failed = batch.decide(this.failure(step, started.attempt, { code, message: (err as Error).message.slice(0, 1_000) }, retryable));
      const retried = failed.some((event) => event.type === 'RetryScheduled');
      observe(retried ? 'retried' : 'failed');
      if (retried) this.metrics?.stepRetries.inc({ type: step.type });
      return;
    }
    observe(outcome.kind === 'wait' ? 'waiting' : 'completed');
    const nextStepId = outcome.kind === 'done' && outcome.branch !== undefined ? (step.branches?.[outcome.branch] ?? null) : (step.next ?? null);
    batch.decide({
      type: 'CompleteStep',
      data: {
        stepId: step.id,
        stepType: step.type,
        attempt: started.attempt,
        output: outcome.output ?? {},
        nextStepId,
        ...(outcome.kind === 'wait' ? { waitUntil: iso(outcome.until) } : {}),
        now: iso(this.now()),
      },
    });
  }

  /**
   * A failed attempt: retried after the shared backoff from half the step's initial delay, with jitter (retry
   * n waits between half and all of initialDelayMs × 2^(n−1), at most maxDelayMs, so the retries of
   * executions that failed together spread out), or failed for good.
   */
  private failure(step: StepDefinition, attempt: number, error: { code: string; message: string }, retryable: boolean): ExecutionCommand {
    const now = this.now();
    const policy = retryPolicyOf(step);
    const delay = backoffDelayMs({ initialDelayMs: policy.initialDelayMs / 2, maxDelayMs: policy.maxDelayMs, jitter: true }, attempt);
    return {
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
    };
  }

  /** Appends one decision (decided again on a concurrent change); null when it no longer applies. */
  private async decide(executionId: string, command: ExecutionCommand, context: CommandContext, known: Known): Promise<Known | null> {
    try {
      const outcome = await this.handler.handle(executionStream(executionId), executionDecider, command, context, { known });
      return { state: outcome.state, revision: outcome.revision, position: outcome.position };
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

  /** The workflow, cached for a moment (`fresh`: read from its stream). */
  private async workflow(workflowId: string, fresh = false): Promise<Registered | null> {
    const known = fresh ? undefined : this.workflows.get(workflowId);
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
   * appended at once, decided on the contact as this claim knows it (re-read only if someone else changed it
   * meanwhile).
   */
  private contactPort(execution: Active, context: CommandContext, batch: ClaimBatch): StepPorts['contacts'] {
    const remember = (outcome: { state: Contact; revision: number; position: string | null }) =>
      batch.contactRead(execution.contactId, { state: outcome.state, revision: outcome.revision, position: outcome.position });
    return {
      update: async (changes) => {
        remember(await this.contacts.update(context, execution.organizationId, execution.contactId, changes, undefined, batch.contact ?? undefined));
      },
      changeTags: async (tags) => {
        remember(await this.contacts.changeTags(context, execution.organizationId, execution.contactId, tags, undefined, batch.contact ?? undefined));
      },
    };
  }

  /** Contact changes of a step recorded with it: decided now, appended in the same transaction as the step. */
  private batchedContactPort(execution: Active, batch: ClaimBatch): StepPorts['contacts'] {
    const { contactId, organizationId } = execution;
    return {
      update: async (changes) => batch.decideContact({ type: 'UpdateContact', data: { contactId, organizationId, changes } }),
      changeTags: async (tags) => batch.decideContact({ type: 'ChangeContactTags', data: { contactId, organizationId, ...tags } }),
    };
  }
}

/**
 * When a claim's lease ends: a lease's length after the claim, or after the due time for a claim ahead of it
 * (see ExecutionQueue.claim), so that executions held ahead need no renewal before they are due.
 */
function leaseEndOf(entry: ClaimedExecution, claimedAt: Date, leaseMs: number): number {
  return Math.max(claimedAt.getTime(), entry.dueAt.getTime()) + leaseMs;
}

function snapshotOf(state: Contact, execution: Active): ContactSnapshot | null {
  if (state.status !== 'active' || state.organizationId !== execution.organizationId) return null;
  return contactSnapshotOf(state);
}

/** A stream as loaded, without the events it was folded from. */
function known<State>({ state, revision, position }: KnownStream<State>): KnownStream<State> {
  return { state, revision, position };
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
