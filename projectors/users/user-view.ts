import { EntitySchema } from '@mikro-orm/core';
import { tenantFilter } from '../tenant-scope.ts';

/** Never holds credentials: the password hash stays in the user's stream. */
export interface UserView {
  id: string;
  organizationId: string;
  name: string;
  email: string;
  role: string;
  createdAt: Date;
  updatedAt: Date;
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
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
  filters: tenantFilter(),
});
