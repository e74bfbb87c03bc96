import { EntitySchema } from '@mikro-orm/core';
import { tenantFilter } from '../tenant-scope.ts';

/** One row per live contact; deleted contacts are removed. */
export interface ContactView {
  id: string;
  organizationId: string;
  email: string;
  firstName: string | null;
  lastName: string | null;
  phone: string | null;
  company: string | null;
  title: string | null;
  timezone: string | null;
  customFields: Record<string, string | number | boolean>;
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

export const ContactViewSchema = new EntitySchema<ContactView>({
  name: 'ContactView',
  tableName: 'contacts',
  properties: {
    id: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    email: { type: 'text' },
    firstName: { type: 'text', nullable: true },
    lastName: { type: 'text', nullable: true },
    phone: { type: 'text', nullable: true },
    company: { type: 'text', nullable: true },
    title: { type: 'text', nullable: true },
    timezone: { type: 'text', nullable: true },
    customFields: { type: 'json' },
    tags: { type: 'text[]' },
    sortName: { type: 'text' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
  filters: tenantFilter(),
});
