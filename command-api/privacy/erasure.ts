import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable } from 'inversify';
import { contactDecider } from '../../domain/contacts/decide.ts';
import { contactStream, type Contact, type ContactEvent } from '../../domain/contacts/contact.ts';
import { NotFoundError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { ContactCommands } from '../contacts/contact-commands.ts';

export interface PersonalDataKeyStore {
  erase(subject: string): Promise<void>;
}

export interface ErasureOutcome {
  contactId: string;
  organizationId: string;
  /** Whether this call erased them (false: they were erased already; the key is destroyed again anyway). */
  erased: boolean;
  deletedNow: boolean;
  position: string | null;
}

/**
 * The right to be forgotten, keeping the log: the contact is deleted (which releases their email), the
 * erasure is recorded as a fact of their stream, then their key is destroyed, so every earlier event of
 * theirs reads as "[erased]" while the log and its hash chains stay as they were. The projections scrub the
 * read models, search and analytics when they meet the erasure. Safe to run again after a crash.
 */
@injectable()
export class PersonalDataErasure {
  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    @inject(TOKENS.ContactCommands) private readonly contacts: ContactCommands,
    @inject(TOKENS.PersonalDataKeys) private readonly keys: PersonalDataKeyStore,
  ) {}

  async eraseContact(context: CommandContext, contactId: string, organizationId?: string): Promise<ErasureOutcome> {
    const { state } = await this.handler.load<Contact, ContactEvent>(contactStream(contactId), contactDecider);
    if (state.status === 'absent' || (organizationId !== undefined && state.organizationId !== organizationId)) throw new NotFoundError('Contact');
    const tenant = { ...context, tenantId: state.organizationId };
    let deletedNow = false;
    if (state.status === 'active') {
      await this.contacts.delete(tenant, state.organizationId, contactId);
      deletedNow = true;
    }
    const outcome = await this.handler.handle(contactStream(contactId), contactDecider, { type: 'EraseContact', data: { contactId } }, tenant);
    await this.keys.erase(contactId);
    return { contactId, organizationId: state.organizationId, erased: outcome.appended.length > 0, deletedNow, position: outcome.position };
  }
}
