import { newEventId } from '../../../infra/eventstore/event-ids.ts';
import type { KnownStream } from '../../../command-api/command-handling.ts';
import type { StreamAppend } from '../../../command-api/ports.ts';
import { contactDecider, type ContactCommand } from '../../../domain/contacts/decide.ts';
import { contactStream, type Contact, type ContactEvent } from '../../../domain/contacts/contact.ts';
import { UnstorableTextError } from '../../../domain/errors.ts';
import { metadataFrom, type CommandContext, type NewEvent } from '../../../domain/events.ts';
import { unstorableTextIn } from '../../../domain/text.ts';
import { executionDecider, type Execution, type ExecutionCommand, type ExecutionEvent } from '../../../domain/workflows/execution.ts';

/**
 * What a runner decided during one claim and has not appended yet, and the states those decisions lead to.
 * Decisions are made on the state the previous ones left (the deciders are pure), and appended together
 * when something outside the log is about to happen (a step's start must be stored before its side effect)
 * or when the claim ends: one append, with the execution's revision as expectation, and the contact's
 * changes in the same transaction. Either all of it is stored or none of it.
 */
export class ClaimBatch {
  /** The execution as stored: what the next append expects. Null once a conflict made it unknown. */
  durable: KnownStream<Execution> | null;
  /** The execution after the decisions not appended yet. */
  state: Execution;
  /** Execution commands decided on `durable`, in order. */
  commands: ExecutionCommand[] = [];
  /** This claim paused the execution because its workflow was paused (see the runner's unlessWorkflowResumed). */
  pausedForWorkflow = false;
  /** The first command completes (or fails) a step whose side effect already happened. */
  completesSideEffect = false;
  /** The contact as stored, once read in this claim. */
  contact: KnownStream<Contact> | null = null;
  private contactId: string | null = null;
  /** The contact after the changes not appended yet. */
  contactState: Contact | null = null;
  contactEvents: ContactEvent[] = [];
  /**
   * The contact state is current as of the last thing stored: just read, or just written with the execution
   * (the append checked its revision), and no side effect ran since. A send uses it instead of reading again.
   */
  private contactFresh = false;

  constructor(loaded: KnownStream<Execution>) {
    this.durable = loaded;
    this.state = loaded.state;
  }

  get pending(): boolean {
    return this.commands.length > 0;
  }

  /** Decides `command` on the current state (throws what the decider throws) and moves the state on. */
  decide(command: ExecutionCommand): ExecutionEvent[] {
    const events = executionDecider.decide(command, this.state);
    this.state = events.reduce(executionDecider.evolve, this.state);
    this.commands.push(command);
    return events;
  }

  /**
   * The contact as stored, read anew or as a change outside the batch left it (no change of the batch may
   * be pending then).
   */
  contactRead(contactId: string, contact: KnownStream<Contact>): void {
    if (this.contactEvents.length > 0) throw new Error('the contact was read again with changes of this claim not appended');
    this.contactId = contactId;
    this.contact = contact;
    this.contactState = contact.state;
    this.contactFresh = true;
  }

  /**
   * Whether a send may check the contact as known (see contactFresh), with the changes of this claim not
   * appended yet: they go with the send's start, in an append that expects the contact's revision.
   */
  get contactCurrent(): boolean {
    return this.contactFresh && this.contactState !== null;
  }

  /** Whether a send may check the contact as known (see contactCurrent); a send uses that up. */
  useFreshContact(): boolean {
    const fresh = this.contactCurrent;
    this.contactFresh = false;
    return fresh;
  }

  /** A side effect is about to run (it may take a while): the next send reads the contact again. */
  contactStale(): void {
    this.contactFresh = false;
  }

  /**
   * Decides a change of the contact on its current state, to be appended with the execution's next append.
   * Refuses what a projection could not store, as the command handler does before every append.
   */
  decideContact(command: ContactCommand): void {
    if (!this.contactState) throw new Error('the contact was not read in this claim');
    const events = contactDecider.decide(command, this.contactState) as ContactEvent[];
    for (const event of events) {
      const field = unstorableTextIn(event.data);
      if (field !== null) throw new UnstorableTextError(event.type, field);
    }
    this.contactState = events.reduce(contactDecider.evolve, this.contactState);
    this.contactEvents.push(...events);
  }

  /** The contact's changes as an append for the execution's command to carry (none: empty). */
  contactAppend(context: CommandContext): StreamAppend[] {
    if (this.contactEvents.length === 0 || !this.contact || !this.contactId) return [];
    const metadata = metadataFrom(context);
    return [
      {
        streamId: contactStream(this.contactId),
        events: this.contactEvents.map((event) => ({ id: newEventId(), ...event, metadata }) as NewEvent),
        expectedRevision: this.contact.revision < 0 ? 'no_stream' : this.contact.revision,
      },
    ];
  }

  /** The batch was stored: `outcome` is the execution as the append left it. */
  stored(outcome: KnownStream<Execution>, contactPosition: string | null): void {
    this.durable = outcome;
    this.state = outcome.state;
    if (this.contact && this.contactState && this.contactEvents.length > 0) {
      this.contact = { state: this.contactState, revision: this.contact.revision + this.contactEvents.length, position: contactPosition };
      // The append expected the contact's revision: no one changed it meanwhile.
      this.contactFresh = true;
    }
    this.clear();
  }

  /** Nothing of the batch was stored, and the execution is now as `known` says (null: unknown). */
  lost(known: KnownStream<Execution> | null): void {
    this.durable = known;
    if (known) this.state = known.state;
    this.contactState = this.contact?.state ?? null;
    this.contactFresh = false;
    this.clear();
  }

  private clear(): void {
    this.commands = [];
    this.contactEvents = [];
    this.completesSideEffect = false;
  }
}
