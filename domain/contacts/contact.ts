import type { DomainEvent } from '../events.ts';
import type { ContactFieldConflictResolved } from '../integrations/conflicts.ts';
import type { ContactFields, CustomFieldValue } from './fields.ts';

export type { ContactFields, CustomFieldValue } from './fields.ts';

/** Merge-patch of a contact's fields: absent unchanged, null clears (a custom field: null removes its key). */
export type ContactChanges = Partial<Omit<ContactFields, 'customFields'>> & {
  customFields?: Record<string, CustomFieldValue>;
};

export type ContactCreated = DomainEvent<'ContactCreated', { contactId: string; organizationId: string; tags: string[] } & ContactFields>;
export type ContactUpdated = DomainEvent<'ContactUpdated', { contactId: string; changes: ContactChanges }>;
export type ContactTagged = DomainEvent<'ContactTagged', { contactId: string; tag: string }>;
export type ContactUntagged = DomainEvent<'ContactUntagged', { contactId: string; tag: string }>;
export type ContactDeleted = DomainEvent<'ContactDeleted', { contactId: string; email: string }>;
/**
 * The person's data was erased (GDPR): their key is destroyed, so every earlier event of theirs reads as
 * "[erased]" from now on; this fact itself holds no personal data.
 */
export type ContactErased = DomainEvent<'ContactErased', { contactId: string; organizationId: string }>;

/** How a contact answered outreach (from the mail provider, the CRM or a person): exit rules watch these. */
export type EngagementKind = 'replied' | 'bounced' | 'unsubscribed' | 'out_of_office';
export type ContactEngagementRecorded = DomainEvent<
  'ContactEngagementRecorded',
  { contactId: string; kind: EngagementKind; at: string; /** out_of_office: back on */ until?: string }
>;

export type ContactEvent =
  | ContactCreated
  | ContactUpdated
  | ContactTagged
  | ContactUntagged
  | ContactDeleted
  | ContactEngagementRecorded
  | ContactErased
  | ContactFieldConflictResolved;

export interface Engagement {
  repliedAt: string | null;
  bouncedAt: string | null;
  unsubscribedAt: string | null;
  outOfOfficeUntil: string | null;
}

export const noEngagement: Engagement = { repliedAt: null, bouncedAt: null, unsubscribedAt: null, outOfOfficeUntil: null };

export const contactEventTypes = [
  'ContactCreated',
  'ContactUpdated',
  'ContactTagged',
  'ContactUntagged',
  'ContactDeleted',
  'ContactEngagementRecorded',
  'ContactErased',
] as const satisfies readonly ContactEvent['type'][];

export type Contact =
  | { status: 'absent' }
  | ({ status: 'active'; id: string; organizationId: string; tags: string[]; engagement: Engagement } & ContactFields)
  | { status: 'deleted'; id: string; organizationId: string; email: string }
  | { status: 'erased'; id: string; organizationId: string };

export const initialContact: Contact = { status: 'absent' };

export const contactStream = (contactId: string) => `contact-${contactId}`;

export function applyChanges(fields: ContactFields, changes: ContactChanges): ContactFields {
  const { customFields: customChanges, ...plain } = changes;
  const next: ContactFields = { ...fields, ...plain };
  if (customChanges) {
    const customFields = { ...fields.customFields };
    for (const [key, value] of Object.entries(customChanges)) {
      if (value === null) delete customFields[key];
      else customFields[key] = value;
    }
    next.customFields = customFields;
  }
  return next;
}

export function evolveContact(state: Contact, event: ContactEvent): Contact {
  switch (event.type) {
    case 'ContactCreated': {
      const { contactId, ...rest } = event.data;
      return { status: 'active', id: contactId, ...rest, tags: [...rest.tags], engagement: noEngagement };
    }
    case 'ContactUpdated':
      if (state.status !== 'active') return state;
      return { ...state, ...applyChanges(state, event.data.changes) };
    case 'ContactTagged':
      if (state.status !== 'active' || state.tags.includes(event.data.tag)) return state;
      return { ...state, tags: [...state.tags, event.data.tag] };
    case 'ContactUntagged':
      if (state.status !== 'active') return state;
      return { ...state, tags: state.tags.filter((t) => t !== event.data.tag) };
    case 'ContactDeleted':
      if (state.status !== 'active') return state;
      return { status: 'deleted', id: state.id, organizationId: state.organizationId, email: state.email };
    case 'ContactErased':
      return { status: 'erased', id: event.data.contactId, organizationId: event.data.organizationId };
    case 'ContactFieldConflictResolved':
      // A record for the contact's history; the value it settled on arrives in the ContactUpdated beside it.
      return state;
    case 'ContactEngagementRecorded': {
      if (state.status !== 'active') return state;
      const { kind, at, until } = event.data;
      const field = { replied: 'repliedAt', bounced: 'bouncedAt', unsubscribed: 'unsubscribedAt', out_of_office: 'outOfOfficeUntil' } as const;
      return { ...state, engagement: { ...state.engagement, [field[kind]]: kind === 'out_of_office' ? (until ?? at) : at } };
    }
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}
