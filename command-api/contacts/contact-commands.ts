import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { contactStream, type Contact, type ContactChanges, type ContactEvent, type EngagementKind } from '../../domain/contacts/contact.ts';
import { contactDecider } from '../../domain/contacts/decide.ts';
import { contactFieldsOf, type NewContact } from '../../domain/contacts/fields.ts';
import { NotFoundError } from '../../domain/errors.ts';
import type { ContactFieldConflictResolved } from '../../domain/integrations/conflicts.ts';
import type { CommandContext } from '../../domain/events.ts';
import type { CommandHandler, CommandOutcome, KnownStream } from '../command-handling.ts';
import { WrongExpectedRevisionError, type StreamAppend } from '../ports.ts';
import { claimStreamId, type ValueClaims } from '../uniqueness/value-claims.ts';
import type { QuotaGate } from '../billing/quota-gate.ts';

const emailClaimStream = (organizationId: string, email: string) => claimStreamId('contactEmail', organizationId, email);

/**
 * Contact commands. The email of a live contact is unique within its organization: creating or changing to
 * an email first claims it (the claim is the rule, enforced by the event store's concurrency check), then
 * changes the contact, then releases the old email. A new contact takes a unit of the plan's contacts
 * limit (QuotaGate) in the same append; a deleted one gives it back.
 */
export class ContactCommands {
  constructor(
    private readonly handler: CommandHandler,
    private readonly claims: ValueClaims,
    private readonly logger: Logger,
    /** The plan limits (null where a role does not enforce them: a test's command spec). */
    private readonly quotas: QuotaGate | null = null,
  ) {}

  async create(context: CommandContext, organizationId: string, input: NewContact): Promise<CommandOutcome<Contact> & { id: string }> {
    const contactId = randomUUID();
    const fields = contactFieldsOf(input);
    const create = (together: StreamAppend[]) =>
      this.handler.handle(
        contactStream(contactId),
        contactDecider,
        { type: 'CreateContact', data: { contactId, organizationId, fields, tags: input.tags ?? [] } },
        context,
        { newStream: true, together },
      );
    const createTaking = async (quota: StreamAppend[]) => {
      const claimStream = emailClaimStream(organizationId, fields.email);
      try {
        // Usual case, one atomic append: an email never used in this organization is claimed with the contact.
        return await create([...quota, this.claims.firstClaim(claimStream, contactId, context)]);
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError && err.streamId === claimStream)) {
          await this.releaseEmail(context, organizationId, contactId, fields.email);
          throw err;
        }
      }
      // The email was claimed before: by a live contact (409), or one deleted or renamed since (take it over).
      await this.claimEmail(context, organizationId, contactId, fields.email);
      try {
        return await create(quota);
      } catch (err) {
        await this.releaseEmail(context, organizationId, contactId, fields.email);
        throw err;
      }
    };
    const outcome = this.quotas ? await this.quotas.taking(context, organizationId, 'contacts', contactId, createTaking) : await createTaking([]);
    return { ...outcome, id: contactId };
  }

  async update(
    context: CommandContext,
    organizationId: string,
    contactId: string,
    changes: ContactChanges,
    expectedRevision?: number,
    known?: KnownStream<Contact>,
    /** A CRM sync's conflict decisions these changes carry out (recorded in the same append). */
    conflicts?: ContactFieldConflictResolved['data'][],
  ): Promise<CommandOutcome<Contact>> {
    const update = () =>
      this.handler.handle(
        contactStream(contactId),
        contactDecider,
        { type: 'UpdateContact', data: { contactId, organizationId, changes, ...(conflicts?.length ? { conflicts } : {}) } },
        context,
        { ...(expectedRevision === undefined ? {} : { expectedRevision }), ...(known ? { known } : {}) },
      );
    if (changes.email === undefined) return update();

    const current = await this.handler.load<Contact, ContactEvent>(contactStream(contactId), contactDecider);
    if (current.state.status !== 'active' || current.state.organizationId !== organizationId) {
      throw new NotFoundError('Contact');
    }
    const previousEmail = current.state.email;
    if (changes.email === previousEmail) return update();

    await this.claimEmail(context, organizationId, contactId, changes.email);
    let outcome: CommandOutcome<Contact>;
    try {
      outcome = await update();
    } catch (err) {
      await this.releaseEmail(context, organizationId, contactId, changes.email);
      throw err;
    }
    await this.releaseEmail(context, organizationId, contactId, previousEmail);
    return outcome;
  }

  changeTags(
    context: CommandContext,
    organizationId: string,
    contactId: string,
    tags: { add: string[]; remove: string[] },
    expectedRevision?: number,
    known?: KnownStream<Contact>,
  ): Promise<CommandOutcome<Contact>> {
    return this.handler.handle(
      contactStream(contactId),
      contactDecider,
      { type: 'ChangeContactTags', data: { contactId, organizationId, ...tags } },
      context,
      { ...(expectedRevision === undefined ? {} : { expectedRevision }), ...(known ? { known } : {}) },
    );
  }

  recordEngagement(
    context: CommandContext,
    organizationId: string,
    contactId: string,
    engagement: { kind: EngagementKind; at: string; until?: string },
  ): Promise<CommandOutcome<Contact>> {
    return this.handler.handle(
      contactStream(contactId),
      contactDecider,
      { type: 'RecordEngagement', data: { contactId, organizationId, ...engagement } },
      context,
    );
  }

  async delete(context: CommandContext, organizationId: string, contactId: string, expectedRevision?: number): Promise<CommandOutcome<Contact>> {
    const together = this.quotas ? await this.quotas.releasing(context, organizationId, 'contacts', contactId) : [];
    const outcome = await this.handler.handle(
      contactStream(contactId),
      contactDecider,
      { type: 'DeleteContact', data: { contactId, organizationId } },
      context,
      { together, ...(expectedRevision === undefined ? {} : { expectedRevision }) },
    );
    const deleted = outcome.appended.find((event) => event.type === 'ContactDeleted');
    if (deleted) await this.releaseEmail(context, organizationId, contactId, (deleted.data as { email: string }).email);
    return outcome;
  }

  private claimEmail(context: CommandContext, organizationId: string, contactId: string, email: string): Promise<void> {
    return this.claims.claim(
      emailClaimStream(organizationId, email),
      {
        ownerId: contactId,
        field: 'email',
        duplicateMessage: 'Another contact in this organization already has this email',
        ownerStatus: async (ownerId) => {
          const { state } = await this.handler.load<Contact, ContactEvent>(contactStream(ownerId), contactDecider);
          if (state.status === 'absent') return 'absent';
          const holds = state.status === 'active' && state.organizationId === organizationId && state.email === email;
          return holds ? 'holds' : 'released';
        },
      },
      context,
    );
  }

  /** Never fails the command: a claim left behind is recognised as stale by the next claimant. */
  private async releaseEmail(context: CommandContext, organizationId: string, contactId: string, email: string): Promise<void> {
    try {
      await this.claims.release(emailClaimStream(organizationId, email), contactId, context);
    } catch (err) {
      this.logger.warn({ err, contactId }, 'could not release an email claim; the next claimant will find it stale');
    }
  }
}
