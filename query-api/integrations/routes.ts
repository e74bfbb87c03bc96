import type { EntityManager, FilterQuery, MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import type { ProviderId } from '../../domain/integrations/providers.ts';
import { entityIdOf } from '../../infra/http/fields.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import {
  IntegrationSyncRunViewSchema,
  IntegrationViewSchema,
  type IntegrationSyncRunView,
  type IntegrationView,
} from '../../projectors/integrations/integration-view.ts';
import { pageByTime, pageQuery, pageSchema } from '../paging.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';
import {
  integrationStatusSchema,
  integrationSummarySchema,
  mappingsAnswerSchema,
  providerList,
  providerSchema,
  runSchema,
  toMappings,
  toRun,
  toStatus,
  toSummary,
} from './schemas.ts';

const READ_MODELS = ['integrations'];
const notFound = { description: 'No such integration in your organization' };

async function integrationOf(em: EntityManager, params: Record<string, string>): Promise<IntegrationView> {
  const row = await em.findOne(IntegrationViewSchema, { id: entityIdOf(params, 'Integration') });
  if (!row) throw new NotFoundError('Integration');
  return row;
}

/**
 * The organization's CRM integrations, from the integrations read model. `configured` names the providers
 * whose OAuth app this deployment has (both client id and secret set): only those can be connected.
 */
export function integrationQueryRoutes(orm: MikroORM, configured: readonly ProviderId[]): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/integrations',
      operationId: 'listIntegrations',
      summary: "Your organization's CRM integrations, newest first, and the providers you can connect",
      tag: 'Integrations',
      auth: 'bearer',
      permission: 'integrations:read',
      readModels: READ_MODELS,
      query: z.strictObject({
        ...pageQuery,
        status: z.enum(['connected', 'needs_reconnect', 'disconnected'], { error: 'must be connected, needs_reconnect or disconnected' }).optional(),
      }),
      responses: {
        200: {
          description: 'A page of integrations, and every provider with whether this deployment can connect it',
          schema: z.object({ data: z.array(integrationSummarySchema), providers: z.array(providerSchema), page: pageSchema }),
        },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const where: FilterQuery<IntegrationView> = query.status ? { status: query.status } : {};
        const { items, page } = await pageByTime(scopedEntityManager(orm, ctx), IntegrationViewSchema, where, query, 'connectedAt', 'desc');
        ctx.body = { data: items.map(toSummary), providers: providerList(configured), page };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/integrations/:id/status',
      operationId: 'getIntegrationStatus',
      summary: "An integration's status: the run in progress, the last sync, errors, rejected records and the next poll",
      tag: 'Integrations',
      auth: 'bearer',
      permission: 'integrations:read',
      readModels: READ_MODELS,
      responses: { 200: { description: 'The status', schema: integrationStatusSchema }, 404: notFound },
      async handler(ctx, { params }) {
        const row = await integrationOf(scopedEntityManager(orm, ctx), params);
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = toStatus(row);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/integrations/:id/mappings',
      operationId: 'getIntegrationMappings',
      summary: "An integration's field mappings",
      tag: 'Integrations',
      auth: 'bearer',
      permission: 'integrations:read',
      readModels: READ_MODELS,
      responses: { 200: { description: 'The mappings', schema: mappingsAnswerSchema }, 404: notFound },
      async handler(ctx, { params }) {
        ctx.body = toMappings(await integrationOf(scopedEntityManager(orm, ctx), params));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/integrations/:id/runs',
      operationId: 'listIntegrationRuns',
      summary: "An integration's sync runs, newest first",
      tag: 'Integrations',
      auth: 'bearer',
      permission: 'integrations:read',
      readModels: READ_MODELS,
      query: z.strictObject({ ...pageQuery }),
      responses: {
        200: { description: 'A page of sync runs', schema: z.object({ data: z.array(runSchema), page: pageSchema }) },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
        404: notFound,
      },
      async handler(ctx, { params, query }) {
        const em = scopedEntityManager(orm, ctx);
        const integration = await integrationOf(em, params);
        const { items, page } = await runsPage(em, integration.id, query);
        ctx.body = { data: items.map(toRun), page };
      },
    }),
  ];
}

const runCursorSchema = z.object({ t: z.iso.datetime(), id: z.string().min(1).max(255) });

/**
 * Runs newest first by (start, run id), with an opaque keyset cursor like paging.ts's: a run id is the sync
 * process's own text, not always a UUID, so the cursor here takes any id.
 */
async function runsPage(em: EntityManager, integrationId: string, request: { limit: number; cursor?: string | undefined }) {
  let after: { t: Date; id: string } | null = null;
  if (request.cursor) {
    try {
      const parsed = runCursorSchema.parse(JSON.parse(Buffer.from(request.cursor, 'base64url').toString('utf8')));
      after = { t: new Date(parsed.t), id: parsed.id };
    } catch {
      throw new ValidationError([{ name: 'cursor', reason: 'is not a cursor this API returned' }]);
    }
  }
  const where: FilterQuery<IntegrationSyncRunView> = after
    ? { integrationId, $or: [{ startedAt: { $lt: after.t } }, { startedAt: after.t, runId: { $lt: after.id } }] }
    : { integrationId };
  const rows = await em.find(IntegrationSyncRunViewSchema, where, { orderBy: { startedAt: 'desc', runId: 'desc' }, limit: request.limit + 1 });
  const hasMore = rows.length > request.limit;
  const items = rows.slice(0, request.limit);
  const last = items[items.length - 1];
  const nextCursor = hasMore && last ? Buffer.from(JSON.stringify({ t: last.startedAt.toISOString(), id: last.runId })).toString('base64url') : null;
  return { items, page: { limit: request.limit, hasMore, nextCursor } };
}
