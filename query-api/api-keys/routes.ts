import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';
import { entityIdOf } from '../../infra/http/fields.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { ApiKeyViewSchema, type ApiKeyView } from '../../projectors/api-keys/api-key-view.ts';
import { pageByCreation, pageQuery, pageSchema } from '../paging.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';

const apiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string().describe('The first characters of the key, to tell keys apart (the key itself is never shown again)'),
  scopes: z.array(z.string()),
  status: z.enum(['active', 'revoked', 'expired']),
  createdBy: z.object({ type: z.string(), id: z.string() }),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable().describe('When the key was last used (to the minute)'),
  revokedAt: z.string().nullable(),
});

function toApiKeyResponse(key: ApiKeyView, now: Date) {
  const expired = key.status === 'active' && key.expiresAt !== null && key.expiresAt <= now;
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    scopes: key.scopes,
    status: expired ? 'expired' : key.status,
    createdBy: { type: key.createdByType, id: key.createdById },
    createdAt: key.createdAt.toISOString(),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}

export function apiKeyQueryRoutes(orm: MikroORM): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api-keys',
      operationId: 'listApiKeys',
      summary: "Your organization's API keys, oldest first",
      tag: 'API keys',
      auth: 'bearer',
      permission: 'apiKeys:read',
      readModels: ['apiKeys'],
      query: z.strictObject({
        ...pageQuery,
        status: z.enum(['active', 'revoked'], { error: 'must be active or revoked' }).optional(),
      }),
      responses: {
        200: { description: 'A page of API keys', schema: z.object({ data: z.array(apiKeySchema), page: pageSchema }) },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const where = query.status ? { status: query.status } : {};
        const { items, page } = await pageByCreation(scopedEntityManager(orm, ctx), ApiKeyViewSchema, where, query);
        const now = new Date();
        ctx.body = { data: items.map((k) => toApiKeyResponse(k, now)), page };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api-keys/:id',
      operationId: 'getApiKey',
      summary: 'One API key (never the key itself)',
      tag: 'API keys',
      auth: 'bearer',
      permission: 'apiKeys:read',
      readModels: ['apiKeys'],
      responses: { 200: { description: 'The API key', schema: apiKeySchema }, 404: { description: 'No such API key in your organization' } },
      async handler(ctx, { params }) {
        const key = await scopedEntityManager(orm, ctx).findOne(ApiKeyViewSchema, { id: entityIdOf(params, 'API key') });
        if (!key) throw new NotFoundError('API key');
        ctx.body = toApiKeyResponse(key, new Date());
      },
    }),
  ];
}
