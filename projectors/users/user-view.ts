import { EntitySchema } from '@mikro-orm/core';
import { tenantFilter } from '../tenant-scope.ts';

/** A member of an organization. Never holds credentials: the password hash stays in the user's stream. */
export interface UserView {
  id: string;
  organizationId: string;
  name: string;
  email: string;
  role: string;
  status: 'active' | 'deactivated';
  mfaEnabled: boolean;
  lastSignInAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Revision of the user's own stream this row reflects. */
  revision: number;
}

export const UserViewSchema = new EntitySchema<UserView>({
  name: 'UserView',
  tableName: 'users',
  properties: {
    id: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    name: { type: 'text' },
    email: { type: 'text' },
    role: { type: 'text' },
    status: { type: 'text' },
    mfaEnabled: { type: 'boolean' },
    lastSignInAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
  filters: tenantFilter(),
});
