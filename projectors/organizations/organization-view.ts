import { EntitySchema } from '@mikro-orm/core';
import { tenantFilter } from '../tenant-scope.ts';

export interface OrganizationView {
  id: string;
  name: string;
  ownerUserId: string;
  timezone: string;
  status: 'active' | 'suspended';
  /** Live contacts; maintained by the projection, so a double-applied event would show here. */
  contactCount: number;
  /** The catalog plan it is on (staff console); null until staff put it on one. */
  planId: string | null;
  trialEndsAt: Date | null;
  /** Whether the AI service serves it (AiSettingsChanged); on unless its managers turned it off. */
  aiEnabled: boolean;
  userCount: number;
  createdAt: Date;
  updatedAt: Date;
  revision: number;
}

export const OrganizationViewSchema = new EntitySchema<OrganizationView>({
  name: 'OrganizationView',
  tableName: 'organizations',
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'text' },
    ownerUserId: { type: 'uuid' },
    timezone: { type: 'text' },
    status: { type: 'text' },
    contactCount: { type: 'integer' },
    planId: { type: 'uuid', nullable: true },
    trialEndsAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    aiEnabled: { type: 'boolean' },
    userCount: { type: 'integer' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
  filters: tenantFilter('id'),
});
