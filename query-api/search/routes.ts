import { z } from 'zod';
import { ValidationError } from '../../domain/errors.ts';
import { authOf } from '../../infra/http/authenticate.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { searchedContactFields, type ContactDocument, type ExecutionDocument } from '../../projectors/search/search-documents.ts';
import { contactFieldsAnswer } from '../contacts/schemas.ts';
import { InvalidCursorError, type SearchReader, type SearchResult } from './ports.ts';

const executionStatuses = ['running', 'waiting', 'paused', 'completed', 'failed', 'cancelled', 'exited'] as const;
const instant = (what: string) => z.iso.datetime({ offset: true, error: `must be an ISO 8601 date-time (${what})` });
/** Comma-separated list in one parameter (?tags=vip,emea), each item trimmed; empty items ignored. */
const list = <T extends z.ZodType<unknown, string>>(item: T, max: number) =>
  z
    .string()
    .max(2_000)
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item).max(max, `at most ${max} values`));

const searchQuery = {
  q: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional().describe('Free text'),
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(20),
  cursor: z.string().max(1_000).optional().describe('nextCursor of the previous page (same query)'),
};

/** The entries of `shape` named in `keys`, in their order. */
const pickShape = <T extends object, K extends keyof T>(shape: T, keys: readonly K[]) =>
  Object.fromEntries(keys.map((key) => [key, shape[key]])) as Pick<T, K>;

const hitMeta = {
  score: z.number().nullable().describe('Relevance when sorted by relevance'),
  highlights: z.record(z.string(), z.array(z.string())).describe('Matched text in <em>…</em>, HTML-escaped'),
};
const contactHit = z.object({
  id: z.string(),
  ...pickShape(contactFieldsAnswer, searchedContactFields),
  tags: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
  ...hitMeta,
});
const executionHit = z.object({
  id: z.string(),
  workflowId: z.string(),
  workflowName: z.string().nullable(),
  contactId: z.string(),
  contactEmail: z.string().nullable(),
  contactName: z.string().nullable(),
  status: z.enum(executionStatuses),
  cause: z.string(),
  error: z.string().nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  ...hitMeta,
});
const resultPage = <T extends z.ZodType>(hit: T) =>
  z.object({
    data: z.array(hit),
    total: z.number().int().describe('Every match, not just this page'),
    page: z.object({ limit: z.number().int(), nextCursor: z.string().nullable() }),
  });

function presentContacts(result: SearchResult<ContactDocument>, limit: number) {
  return {
    data: result.hits.map(({ document: d, score, highlights }) => ({
      id: d.id,
      email: d.email,
      firstName: d.firstName,
      lastName: d.lastName,
      company: d.company,
      title: d.title,
      tags: d.tags,
      createdAt: d.createdAt,
      updatedAt: d.updatedAt,
      score,
      highlights,
    })),
    total: result.total,
    page: { limit, nextCursor: result.nextCursor },
  };
}

function presentExecutions(result: SearchResult<ExecutionDocument>, limit: number) {
  return {
    data: result.hits.map(({ document: d, score, highlights }) => ({
      id: d.id,
      workflowId: d.workflowId,
      workflowName: d.workflowName,
      contactId: d.contactId,
      contactEmail: d.contactEmail,
      contactName: d.contactName,
      status: d.status,
      cause: d.cause,
      error: d.error,
      startedAt: d.startedAt,
      endedAt: d.endedAt,
      score,
      highlights,
    })),
    total: result.total,
    page: { limit, nextCursor: result.nextCursor },
  };
}

async function answering<T>(search: () => Promise<T>): Promise<T> {
  try {
    return await search();
  } catch (err) {
    if (err instanceof InvalidCursorError) throw new ValidationError([{ name: 'cursor', reason: err.message }]);
    throw err;
  }
}

const toIso = (value: string | undefined) => (value ? new Date(value).toISOString() : undefined);
const range = (from?: string, to?: string) => ({ ...(from ? { from: toIso(from)! } : {}), ...(to ? { to: toIso(to)! } : {}) });

/** Search over the search index (Elasticsearch, or PostgreSQL full text), always within the caller's tenant. */
export function searchQueryRoutes(search: SearchReader): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/search/contacts',
      operationId: 'searchContacts',
      summary: 'Search contacts: prefix and typo tolerant on names and company, exact on emails, with filters',
      tag: 'Search',
      auth: 'bearer',
      permission: 'contacts:read',
      readModels: ['search'],
      query: z.strictObject({
        ...searchQuery,
        tags: list(z.string().min(1).max(64), 20).optional().describe('Comma-separated; contacts carrying all of them'),
        createdFrom: instant('createdFrom').optional(),
        createdTo: instant('createdTo').optional(),
        sort: z
          .enum(['relevance', 'createdAt', '-createdAt', 'name', '-name'], { error: 'must be relevance, createdAt, -createdAt, name or -name' })
          .optional()
          .describe('Default: relevance with q, else -createdAt'),
      }),
      responses: {
        200: { description: 'Matching contacts, best first', schema: resultPage(contactHit) },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const result = await answering(() =>
          search.searchContacts({
            tenantId: authOf(ctx).organizationId,
            ...(query.q ? { q: query.q } : {}),
            ...(query.tags?.length ? { tags: query.tags } : {}),
            created: range(query.createdFrom, query.createdTo),
            sort: query.sort ?? (query.q ? 'relevance' : '-createdAt'),
            limit: query.limit,
            ...(query.cursor ? { cursor: query.cursor } : {}),
          }),
        );
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = presentContacts(result, query.limit);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/search/executions',
      operationId: 'searchExecutions',
      summary: 'Search workflow executions by workflow, contact or error text, status, workflow and start date',
      tag: 'Search',
      auth: 'bearer',
      permission: 'workflows:read',
      readModels: ['search'],
      query: z.strictObject({
        ...searchQuery,
        status: list(z.enum(executionStatuses, { error: `must be among ${executionStatuses.join(', ')}` }), 7)
          .optional()
          .describe('Comma-separated'),
        workflowId: z.uuid({ error: 'must be a workflow id' }).optional(),
        contactId: z.uuid({ error: 'must be a contact id' }).optional(),
        startedFrom: instant('startedFrom').optional(),
        startedTo: instant('startedTo').optional(),
        sort: z
          .enum(['relevance', 'startedAt', '-startedAt'], { error: 'must be relevance, startedAt or -startedAt' })
          .optional()
          .describe('Default: relevance with q, else -startedAt'),
      }),
      responses: {
        200: { description: 'Matching executions', schema: resultPage(executionHit) },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const result = await answering(() =>
          search.searchExecutions({
            tenantId: authOf(ctx).organizationId,
            ...(query.q ? { q: query.q } : {}),
            ...(query.status?.length ? { status: query.status } : {}),
            ...(query.workflowId ? { workflowId: query.workflowId.toLowerCase() } : {}),
            ...(query.contactId ? { contactId: query.contactId.toLowerCase() } : {}),
            started: range(query.startedFrom, query.startedTo),
            sort: query.sort ?? (query.q ? 'relevance' : '-startedAt'),
            limit: query.limit,
            ...(query.cursor ? { cursor: query.cursor } : {}),
          }),
        );
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = presentExecutions(result, query.limit);
      },
    }),
  ];
}
