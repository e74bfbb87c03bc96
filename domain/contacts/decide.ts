import { ConflictError, NotFoundError, RuleViolationError } from '../errors.ts';
import type { ContactFieldConflictResolved } from '../integrations/conflicts.ts';
import type { Decider } from '../decider.ts';
import {
  evolveContact,
  initialContact,
  type Contact,
  type ContactChanges,
  type ContactEvent,
  type ContactFields,
  type EngagementKind,
} from './contact.ts';

export type CreateContact = {
  type: 'CreateContact';
  data: { contactId: string; organizationId: string; fields: ContactFields; tags: string[] };
};
export type UpdateContact = {
  type: 'UpdateContact';
  data: {
    contactId: string;
    organizationId: string;
    changes: ContactChanges;
    /** A CRM sync's conflict decisions that these changes carry out: recorded before the update, in one append. */
    conflicts?: ContactFieldConflictResolved['data'][];
  };
};
export type ChangeContactTags = {
  type: 'ChangeContactTags';
  data: { contactId: string; organizationId: string; add: string[]; remove: string[] };
};
export type DeleteContact = { type: 'DeleteContact'; data: { contactId: string; organizationId: string } };

export type RecordEngagement = {
  type: 'RecordEngagement';
  data: { contactId: string; organizationId: string; kind: EngagementKind; at: string; until?: string };
};

/** Erasure of a deleted contact's personal data (delete first: the claim on the email is released then). */
export type EraseContact = { type: 'EraseContact'; data: { contactId: string } };
export type ContactCommand = CreateContact | UpdateContact | ChangeContactTags | DeleteContact | RecordEngagement | EraseContact;

/**
 * A contact of another organization is reported exactly like a missing one, so ids never leak across
 * tenants.
 */
function requireOwnActive(state: Contact, organizationId: string) {
  if (state.status !== 'active' || state.organizationId !== organizationId) throw new NotFoundError('Contact');
  return state;
}

const unique = (values: string[]) => [...new Set(values)];

export function decideContact(command: ContactCommand, state: Contact): ContactEvent[] {
  switch (command.type) {
    case 'CreateContact': {
      if (state.status !== 'absent') throw new ConflictError('Contact already exists', 'contact_exists');
      const { contactId, organizationId, fields, tags } = command.data;
      return [
        {
          type: 'ContactCreated',
          version: 1,
          data: { contactId, organizationId, ...fields, tags: unique(tags) },
        },
      ];
    }
    case 'UpdateContact': {
      const contact = requireOwnActive(state, command.data.organizationId);
      const changes = effectiveChanges(contact, command.data.changes);
      const conflicts: ContactEvent[] = (command.data.conflicts ?? [])
        .filter((conflict) => conflict.contactId === contact.id && conflict.organizationId === contact.organizationId)
        .map((data) => ({ type: 'ContactFieldConflictResolved', version: 1, data }));
      if (Object.keys(changes).length === 0) return conflicts;
      return [...conflicts, { type: 'ContactUpdated', version: 1, data: { contactId: contact.id, changes } }];
    }
    case 'ChangeContactTags': {
      const contact = requireOwnActive(state, command.data.organizationId);
      // Adding and removing one tag at once has no order a client could rely on: refuse it.
      if (command.data.remove.some((tag) => command.data.add.includes(tag))) {
        throw new RuleViolationError('A tag cannot be both added and removed', 'contradictory_tags', 'remove');
      }
      const events: ContactEvent[] = [];
      let tags = contact.tags;
      for (const tag of unique(command.data.remove)) {
        if (!tags.includes(tag)) continue;
        tags = tags.filter((t) => t !== tag);
        events.push({ type: 'ContactUntagged', version: 1, data: { contactId: contact.id, tag } });
      }
      for (const tag of unique(command.data.add)) {
        if (tags.includes(tag)) continue;
        tags = [...tags, tag];
        events.push({ type: 'ContactTagged', version: 1, data: { contactId: contact.id, tag } });
      }
      return events;
    }
    case 'DeleteContact': {
      const contact = requireOwnActive(state, command.data.organizationId);
      return [{ type: 'ContactDeleted', version: 1, data: { contactId: contact.id, email: contact.email } }];
    }
    case 'EraseContact': {
      if (state.status === 'absent') throw new NotFoundError('Contact');
      if (state.status === 'erased') return [];
      if (state.status === 'active') throw new ConflictError('Delete the contact before erasing it', 'contact_active');
      return [{ type: 'ContactErased', version: 1, data: { contactId: state.id, organizationId: state.organizationId } }];
    }
    case 'RecordEngagement': {
      const contact = requireOwnActive(state, command.data.organizationId);
      const { kind, at, until } = command.data;
      if (kind === 'out_of_office' && !until)
        throw new RuleViolationError('Out of office needs the date the contact is back', 'until_required', 'until');
      return [{ type: 'ContactEngagementRecorded', version: 1, data: { contactId: contact.id, kind, at, ...(until ? { until } : {}) } }];
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

/** Keeps only the changes that differ from the current state, so a no-op update records nothing. */
function effectiveChanges(contact: ContactFields, requested: ContactChanges): ContactChanges {
  const changes: ContactChanges = {};
  const { customFields, ...plain } = requested;
  for (const [key, value] of Object.entries(plain) as [keyof typeof plain, unknown][]) {
    if (value !== undefined && contact[key] !== value) (changes as Record<string, unknown>)[key] = value;
  }
  if (customFields) {
    const custom: Record<string, string | number | boolean | null> = {};
    for (const [key, value] of Object.entries(customFields)) {
      const current = contact.customFields[key];
      if (value === null ? current !== undefined : current !== value) custom[key] = value;
    }
    if (Object.keys(custom).length > 0) changes.customFields = custom;
  }
  return changes;
}

export const contactDecider: Decider<ContactCommand, Contact, ContactEvent> = {
  decide: decideContact,
  evolve: evolveContact,
  initialState: initialContact,
};
