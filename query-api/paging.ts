import type { EntityManager, EntityName, FilterQuery } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { ValidationError } from '../domain/errors.ts';

/** limit and cursor, as every oldest-first list takes them. */
export const pageQuery = {
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(50),
  cursor: z.string().max(1_000).optional().describe('nextCursor of the previous page'),
};

export const pageSchema = z.object({
  limit: z.number().int(),
  hasMore: z.boolean(),
  nextCursor: z.string().nullable().describe('Pass as `cursor` to get the next page (same filters)'),
});

const cursorSchema = z.object({ t: z.iso.datetime(), id: z.uuid() });

/**
 * A page of rows in time order (creation by default), with an opaque keyset cursor (time, id): stable
 * while rows are added, and validated on the way in so a tampered cursor is a 400, never SQL.
 */
export async function pageByTime<T extends { id: string }, F extends keyof T & string>(
  em: EntityManager,
  entity: EntityName<T>,
  where: FilterQuery<T>,
  request: { limit: number; cursor?: string | undefined },
  field: F,
  direction: 'asc' | 'desc' = 'asc',
): Promise<{ items: T[]; page: z.infer<typeof pageSchema> }> {
  let after: Record<string, unknown> | undefined;
  if (request.cursor) {
    try {
      const parsed = cursorSchema.parse(JSON.parse(Buffer.from(request.cursor, 'base64url').toString('utf8')));
      after = { [field]: new Date(parsed.t), id: parsed.id };
    } catch {
      throw new ValidationError([{ name: 'cursor', reason: 'is not a cursor this API returned' }]);
    }
  }
  const page = await em.findByCursor(entity, where, {
    first: request.limit,
    ...(after ? { after: after as never } : {}),
    orderBy: { [field]: direction, id: direction } as never,
    includeCount: false,
  });
  const items = page.items as T[];
  const last = items[items.length - 1];
  const nextCursor =
    page.hasNextPage && last
      ? Buffer.from(JSON.stringify({ t: (last[field] as unknown as Date).toISOString(), id: last.id })).toString('base64url')
      : null;
  return { items, page: { limit: request.limit, hasMore: page.hasNextPage, nextCursor } };
}

export function pageByCreation<T extends { id: string; createdAt: Date }>(
  em: EntityManager,
  entity: EntityName<T>,
  where: FilterQuery<T>,
  request: { limit: number; cursor?: string | undefined },
) {
  return pageByTime(em, entity, where, request, 'createdAt' as keyof T & string);
}
