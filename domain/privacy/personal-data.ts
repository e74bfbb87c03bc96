import { contactFieldNames, contactFieldSpecs } from '../contacts/fields.ts';

/**
 * Where personal data sits in events, and whose it is. Fields listed here are sealed with the person's own
 * key before they reach the log (infra/privacy); erasing the person destroys the key, so the log keeps every
 * event (and its hash chain) while the person's data in it can never be read again.
 */
export interface PersonalDataLocation {
  /** The person the data is about (the key's owner). */
  subject(data: Record<string, unknown>): string;
  /** Paths of the fields holding personal data; `changes.email` is `email` inside `changes`. */
  fields: readonly string[];
}

/** A contact's fields that hold personal data (domain/contacts/fields.ts: all but the time zone). */
const contactFields = contactFieldNames.filter((name) => contactFieldSpecs[name].personal);
const contactSubject = (data: Record<string, unknown>) => String(data.contactId);

export const personalData: Readonly<Record<string, PersonalDataLocation>> = {
  ContactCreated: { subject: contactSubject, fields: contactFields },
  ContactUpdated: { subject: contactSubject, fields: contactFields.map((field) => `changes.${field}`) },
  ContactDeleted: { subject: contactSubject, fields: ['email'] },
  /** A CRM sync's conflict on one field: the three values it weighed are the contact's data. */
  ContactFieldConflictResolved: { subject: contactSubject, fields: ['base', 'ours.value', 'theirs.value'] },
};

/** What a sealed text field reads as once its person was erased. */
export const ERASED = '[erased]';

/** What a sealed field reads as once its person was erased: "[erased]", or an empty map of custom fields. */
export function erasedValue(field: string): unknown {
  return field.endsWith('customFields') ? {} : ERASED;
}
