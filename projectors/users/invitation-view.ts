import { EntitySchema } from '@mikro-orm/core';
import { tenantFilter } from '../tenant-scope.ts';

/** An invitation to join an organization; the secret of its link is never here. */
export interface InvitationView {
  id: string;
  organizationId: string;
  email: string;
  role: string;
  status: 'pending' | 'accepted' | 'revoked';
  invitedBy: string;
  /** The user the invitee became, once accepted. */
  userId: string | null;
  expiresAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

export const InvitationViewSchema = new EntitySchema<InvitationView>({
  name: 'InvitationView',
  tableName: 'invitations',
  properties: {
    id: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    email: { type: 'text' },
    role: { type: 'text' },
    status: { type: 'text' },
    invitedBy: { type: 'text' },
    userId: { type: 'uuid', nullable: true },
    expiresAt: { type: 'datetime', columnType: 'timestamptz' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
  filters: tenantFilter(),
});
