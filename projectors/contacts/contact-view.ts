import { EntitySchema } from '@mikro-orm/core';
import { contactFieldNames, mapContactFields, type ContactFields } from '../../domain/contacts/fields.ts';
import { tenantFilter } from '../tenant-scope.ts';

/** One row per live contact; deleted contacts are removed. Its fields are the contact's (domain/contacts/fields.ts). */
export interface ContactView extends ContactFields {
  id: string;
  organizationId: string;
  tags: string[];
  /** Lower-cased "last first" (never null), so sorting by name pages with a stable keyset cursor. */
  sortName: string;
  createdAt: Date;
  updatedAt: Date;
  /** Stream revision this row reflects: the ETag clients send back with If-Match. */
  revision: number;
}

export function sortNameOf(contact: { firstName: string | null; lastName: string | null }): string {
  return [contact.lastName, contact.firstName].filter(Boolean).join(' ').toLowerCase();
}

/** A column per field, named after it (first_name); the table itself is made by a migration (infra/readmodels). */
const fieldProperties = mapContactFields(contactFieldNames, {
  email: () => ({ type: 'text' }),
  text: () => ({ type: 'text', nullable: true }),
  timeZone: () => ({ type: 'text', nullable: true }),
  custom: () => ({ type: 'json' }),
});

export const ContactViewSchema = new EntitySchema<ContactView>({
  name: 'ContactView',
  tableName: 'contacts',
  properties: {
    id: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    ...fieldProperties,
    tags: { type: 'text[]' },
    sortName: { type: 'text' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
  filters: tenantFilter(),
});
