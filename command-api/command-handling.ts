import { TOKENS } from '../infra/di/tokens.ts';
import { newEventId } from '../infra/eventstore/event-ids.ts';
import { inject, injectable, optional } from 'inversify';
import type { Decider } from '../domain/decider.ts';
import { DomainError, NotFoundError, UnstorableTextError } from '../domain/errors.ts';
import { unstorableTextIn } from '../domain/text.ts';
import { metadataFrom, type CommandContext, type DomainEvent, type NewEvent, type RecordedEvent } from '../domain/events.ts';
import type { Metrics } from '../infra/observability/metrics.ts';
import { retryPolicies, retrying } from '../infra/retry.ts';
import { WrongExpectedRevisionError, type AppendResult, type EventStreams, type StreamAppend } from './ports.ts';

export interface LoadedStream<State> {
  state: State;
  /** -1 when the stream does not exist. */
  revision: number;
  /** Position of the stream's last event, null when the stream does not exist. */
  position: string | null;
  events: RecordedEvent[];
}

/** A stream as its last writer left it (see the `known` option of CommandHandler.handle). */
export interface KnownStream<State> {
  state: State;
  revision: number;
  position: string | null;
}

export interface CommandOutcome<State> {
  state: State;
  revision: number;
  position: string | null;
  appended: NewEvent[];
}

export interface HandleOptions<State> {
  expectedRevision?: number;
  /**
   * The stream id was generated for this command (a fresh UUID), so there is nothing to read: start from
   * the initial state and let 'no_stream' catch the impossible collision.
   */
  newStream?: boolean;
  /**
   * Appends that must be stored with this command's events or not at all (e.g. the claim on a unique
   * email). A failed expectation on one of them is thrown as is, never retried here.
   */
  together?: StreamAppend[];
  /**
   * The stream as the caller last saw it (a process manager that just wrote it): decided on without a
   * read; if the stream moved on since, the append fails its expectation and the handler reads and
   * decides again (or throws, with expectedRevision).
   */
  known?: KnownStream<State>;
}

/**
 * Runs a command against one stream: read, fold, decide, append with the revision read as the expectation.
 * With `expectedRevision` (If-Match) a stale expectation is a conflict; without it, a concurrent write just
 * means deciding again on the fresh state.
 */
@injectable()
export class CommandHandler {
  constructor(
    @inject(TOKENS.EventStore) private readonly streams: EventStreams,
    @inject(TOKENS.Metrics) @optional() private readonly metrics?: Metrics,
  ) {}

  async load<State, Event extends DomainEvent>(
    streamId: string,
    decider: Pick<Decider<unknown, State, Event>, 'evolve' | 'initialState'>,
  ): Promise<LoadedStream<State>> {
    const events = await this.streams.readStream(streamId);
    const state = events.reduce((s, e) => decider.evolve(s, e as unknown as Event), decider.initialState);
    const last = events[events.length - 1];
    return { state, revision: last ? last.revision : -1, position: last ? last.position : null, events };
  }

  async handle<Command, State, Event extends DomainEvent>(
    streamId: string,
    decider: Decider<Command, State, Event>,
    command: Command,
    context: CommandContext,
    options: HandleOptions<State> = {},
  ): Promise<CommandOutcome<State>> {
    // Without a pinned revision, a concurrent append to this stream just means deciding again on the fresh state.
    const lostTheRace = (err: unknown) =>
      err instanceof WrongExpectedRevisionError && err.streamId === streamId && options.expectedRevision === undefined;
    const type = (command as { type?: unknown }).type;
    const counted = this.metrics
      ? (outcome: string) => this.metrics!.commands.inc({ type: typeof type === 'string' ? type : 'unknown', outcome })
      : null;
    const handled = this.metrics?.layer('command');
    try {
      // Most commands win their first try: it runs without the retry machinery (p-retry's per-call cost).
      let outcome: CommandOutcome<State>;
      try {
        outcome = await this.decideAndAppend(streamId, decider, command, context, options, true);
      } catch (err) {
        if (!lostTheRace(err)) throw err;
        outcome = await retrying(
          { ...retryPolicies.conflict, attempts: retryPolicies.conflict.attempts - 1 },
          () => this.decideAndAppend(streamId, decider, command, context, options, false),
          { retryIf: lostTheRace },
        );
      }
      counted?.(outcome.appended.length > 0 ? 'appended' : 'unchanged');
      return outcome;
    } catch (err) {
      counted?.(err instanceof WrongExpectedRevisionError ? 'conflict' : err instanceof DomainError ? 'refused' : 'failed');
      throw err;
    } finally {
      handled?.();
    }
  }

  /** One try: read (unless the first try may start from what the caller knows), decide, append. */
  private async decideAndAppend<Command, State, Event extends DomainEvent>(
    streamId: string,
    decider: Decider<Command, State, Event>,
    command: Command,
    context: CommandContext,
    options: HandleOptions<State>,
    firstTry: boolean,
  ): Promise<CommandOutcome<State>> {
    const {
      state,
      revision,
      position,
      events: history,
    } = options.newStream && firstTry
      ? { state: decider.initialState, revision: -1, position: null, events: [] }
      : options.known && firstTry
        ? { ...options.known, events: [] }
        : await this.load(streamId, decider);
    // A known state was read for this tenant by the caller already (with load/loadFor).
    requireSameTenant(streamId, history, context);
    // Decide first: a missing entity or one of another tenant is "not found", never a revision conflict.
    const events = decider.decide(command, state);
    if (options.expectedRevision !== undefined && options.expectedRevision !== revision) {
      throw new WrongExpectedRevisionError(streamId, options.expectedRevision, revision < 0 ? 'no_stream' : revision);
    }
    if (events.length === 0) return { state, revision, position, appended: [] };
    requireStorable(events);
    const metadata = metadataFrom(context);
    const appended = events.map((event) => ({ id: newEventId(), ...event, metadata }) as NewEvent);
    const result = await this.appendWith(options.together ?? [], {
      streamId,
      events: appended,
      expectedRevision: revision < 0 ? 'no_stream' : revision,
    });
    return { state: events.reduce(decider.evolve, state), revision: result.nextRevision, position: result.position, appended };
  }

  /** Loads a stream on behalf of a tenant: another tenant's stream is "not found", like a missing one. */
  async loadFor<State, Event extends DomainEvent>(
    streamId: string,
    decider: Pick<Decider<unknown, State, Event>, 'evolve' | 'initialState'>,
    context: Pick<CommandContext, 'tenantId'>,
  ): Promise<LoadedStream<State>> {
    const loaded = await this.load(streamId, decider);
    requireSameTenant(streamId, loaded.events, context);
    return loaded;
  }

  /**
   * One atomic append where the store offers it (one round trip, all or nothing). Otherwise the companions
   * go first and the command's own events last: if the last append fails, the caller undoes what it must
   * (a claim left behind is harmless anyway: the next claimant finds it stale).
   */
  private async appendWith(together: StreamAppend[], main: StreamAppend): Promise<AppendResult> {
    if (together.length === 0) return this.streams.append(main.streamId, main.events, main.expectedRevision);
    if (this.streams.appendAtomically) {
      const results = await this.streams.appendAtomically([...together, main]);
      return results[results.length - 1]!;
    }
    for (const { streamId, events, expectedRevision } of together) await this.streams.append(streamId, events, expectedRevision);
    return this.streams.append(main.streamId, main.events, main.expectedRevision);
  }
}

/** Nothing is appended that a projection could not store (it would be parked, or worse, stall the read model). */
function requireStorable(events: readonly DomainEvent[]): void {
  for (const event of events) {
    const field = unstorableTextIn(event.data);
    if (field !== null) throw new UnstorableTextError(event.type, field);
  }
}

const ENTITY_NAMES: Record<string, string> = {
  contact: 'Contact',
  organization: 'Organization',
  user: 'User',
  session: 'Session',
  apiKey: 'API key',
  signup: 'Sign-up',
  workflow: 'Workflow',
  execution: 'Execution',
  integration: 'Integration',
};

/**
 * Tenant isolation on the command side, in ONE place every command goes through: a stream recorded for one
 * organization is invisible to a command made for another, whatever the decider checks. Platform-level
 * contexts (tenant null: staff and system work) and platform-level streams (claims on login emails) are
 * not tenant-bound.
 */
function requireSameTenant(streamId: string, events: readonly RecordedEvent[], context: Pick<CommandContext, 'tenantId'>): void {
  if (context.tenantId === null || events.length === 0) return;
  const owner = events[0]!.metadata.tenantId;
  if (owner !== null && owner !== context.tenantId) {
    throw new NotFoundError(ENTITY_NAMES[streamId.slice(0, streamId.indexOf('-'))] ?? 'Entity');
  }
}
