import { EntitySchema } from '@mikro-orm/core';
import { tenantFilter } from '../tenant-scope.ts';

/** An API key as its organization sees it: never the key, only its prefix. */
export interface ApiKeyView {
  id: string;
  organizationId: string;
  name: string;
  prefix: string;
  scopes: string[];
  status: 'active' | 'revoked';
  createdByType: string;
  createdById: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  revision: number;
}

export const ApiKeyViewSchema = new EntitySchema<ApiKeyView>({
  name: 'ApiKeyView',
  tableName: 'api_keys',
  properties: {
    id: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    name: { type: 'text' },
    prefix: { type: 'text' },
    scopes: { type: 'text[]' },
    status: { type: 'text' },
    createdByType: { type: 'text' },
    createdById: { type: 'text' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    expiresAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    lastUsedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    revokedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    revision: { type: 'integer' },
  },
  filters: tenantFilter(),
});
