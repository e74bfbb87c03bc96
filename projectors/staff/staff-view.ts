import { EntitySchema } from '@mikro-orm/core';

/** A staff member, for the console's staff list. No credentials: the password hash stays in the stream. */
export interface StaffView {
  id: string;
  email: string;
  name: string;
  role: 'support' | 'admin';
  status: 'active' | 'disabled';
  totpEnabled: boolean;
  lastSignInAt: Date | null;
  createdAt: Date;
  revision: number;
}

export const StaffViewSchema = new EntitySchema<StaffView>({
  name: 'StaffView',
  tableName: 'staff_members',
  properties: {
    id: { type: 'uuid', primary: true },
    email: { type: 'text' },
    name: { type: 'text' },
    role: { type: 'text' },
    status: { type: 'text' },
    totpEnabled: { type: 'boolean' },
    lastSignInAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
});
