import { z } from 'zod';
import { apiKeyScopes, type Permission } from '../../domain/access/permissions.ts';
import { authOf } from '../../infra/http/authenticate.ts';
import { commandResultSchema, entityIdOf, textField } from '../../infra/http/fields.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { commandContextOf, respondWithOutcome } from '../http.ts';
import type { ApiKeyCommands } from './api-key-commands.ts';

const scope = z.enum(apiKeyScopes as [Permission, ...Permission[]], { error: `must be one of ${apiKeyScopes.join(', ')}` });

export const createApiKeyBody = z.strictObject({
  name: textField(200).describe('What the key is for, e.g. "CRM sync job"'),
  scopes: z
    .array(scope, { error: 'must be an array of permissions' })
    .min(1, 'must grant at least one permission')
    .optional()
    .describe('Permissions the key has (at most yours). Absent: all of yours that a key may hold.'),
  expiresAt: z.iso
    .datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z' })
    .refine((value) => Date.parse(value) > Date.now(), 'must be in the future')
    .nullable()
    .optional(),
});

const createdSchema = z.object({
  id: z.string(),
  key: z.string().describe('The API key. Shown this once: store it now. Send it as `Authorization: Bearer <key>` or `X-API-Key`.'),
  prefix: z.string(),
  scopes: z.array(z.string()),
  revision: z.number().int(),
  position: z.string().nullable(),
});

export function apiKeyCommandRoutes(apiKeys: ApiKeyCommands): AnyRoute[] {
  return [
    defineRoute({
      method: 'post',
      path: '/api-keys',
      operationId: 'createApiKey',
      summary: 'Create an API key for a machine client (shown once)',
      description:
        'The key acts with at most its scopes, narrowed by what its creator may do at the time of each request: a key ' +
        "made by a user, by that user's current role (and only while they are an active member: otherwise 401); a key " +
        'made by a key, by what that key may do then. Idempotency-Key is ignored here: the key is never kept for a replay.',
      tag: 'API keys',
      auth: 'bearer',
      credentials: true,
      permission: 'apiKeys:manage',
      body: createApiKeyBody,
      bodyExample: { name: 'Nightly CRM export', scopes: ['contacts:read'] },
      responses: {
        201: { description: 'Created; the key is in the answer, and only there', schema: createdSchema },
        400: { description: 'Invalid input; `invalid-params` names each bad field' },
      },
      async handler(ctx, { body }) {
        const created = await apiKeys.create(authOf(ctx), commandContextOf(ctx), body);
        ctx.status = 201;
        ctx.set('Location', `/api-keys/${created.id}`);
        ctx.body = {
          id: created.id,
          key: created.key,
          prefix: created.prefix,
          scopes: created.scopes,
          revision: created.revision,
          position: created.position,
        };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api-keys/:id',
      operationId: 'revokeApiKey',
      summary: 'Revoke an API key: it stops working at once',
      tag: 'API keys',
      auth: 'bearer',
      permission: 'apiKeys:manage',
      responses: {
        200: { description: 'Revoked (or already)', schema: commandResultSchema },
        404: { description: 'No such API key in your organization' },
      },
      async handler(ctx, { params }) {
        const id = entityIdOf(params, 'API key');
        respondWithOutcome(ctx, id, await apiKeys.revoke(authOf(ctx), commandContextOf(ctx), id));
      },
    }),
  ];
}
