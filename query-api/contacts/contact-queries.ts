import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { pickContactFields } from '../../domain/contacts/fields.ts';
import { ContactViewSchema, type ContactView } from '../../projectors/contacts/contact-view.ts';
import { ProblemError } from '../../infra/http/problem.ts';
import type { ContactSort } from './schemas.ts';

type SortField = 'createdAt' | 'updatedAt' | 'email' | 'sortName';

const SORT_FIELDS: Record<string, SortField> = {
  createdAt: 'createdAt',
  updatedAt: 'updatedAt',
  email: 'email',
  name: 'sortName',
};

/**
 * Keyset cursor: the sort it belongs to, the last row's sort value and id. Opaque to clients, validated on
 * the way in, so a tampered or mismatched cursor is a 400 and never reaches SQL.
 */
const cursorSchema = z.object({ s: z.string(), v: z.string().max(500), id: z.uuid() });

function encodeCursor(sort: ContactSort, row: ContactView, field: SortField): string {
  const value = row[field];
  const v = value instanceof Date ? value.toISOString() : String(value);
  return Buffer.from(JSON.stringify({ s: sort, v, id: row.id })).toString('base64url');
}

function decodeCursor(cursor: string, sort: ContactSort, field: SortField): Partial<ContactView> {
  const invalid = (reason: string) => ProblemError.validation([{ name: 'cursor', reason }]);
  let parsed: z.infer<typeof cursorSchema>;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw invalid('is not a cursor this API returned');
  }
  if (parsed.s !== sort) throw invalid(`belongs to sort "${parsed.s}"; use the same sort as the first page`);
  if (field === 'createdAt' || field === 'updatedAt') {
    const date = new Date(parsed.v);
    if (Number.isNaN(date.getTime())) throw invalid('is not a cursor this API returned');
    return { [field]: date, id: parsed.id };
  }
  return { [field]: parsed.v, id: parsed.id };
}

export interface ContactListRequest {
  limit: number;
  cursor?: string;
  sort: ContactSort;
  tag?: string[];
  updatedSince?: string;
  email?: string;
}

export async function listContacts(em: EntityManager, request: ContactListRequest) {
  const descending = request.sort.startsWith('-');
  const field = SORT_FIELDS[request.sort.replace(/^-/, '')]!;
  const direction = descending ? 'desc' : 'asc';
  const where: FilterQuery<ContactView> = {};
  if (request.tag?.length) where.tags = { $contains: request.tag };
  if (request.updatedSince) where.updatedAt = { $gte: new Date(request.updatedSince) };
  if (request.email) where.email = request.email;

  const page = await em.findByCursor(ContactViewSchema, where, {
    first: request.limit,
    ...(request.cursor ? { after: decodeCursor(request.cursor, request.sort, field) } : {}),
    orderBy: { [field]: direction, id: direction },
    includeCount: false,
  });
  const items = page.items as ContactView[];
  const last = items[items.length - 1];
  return {
    data: items.map(toContactResponse),
    page: {
      limit: request.limit,
      hasMore: page.hasNextPage,
      nextCursor: page.hasNextPage && last ? encodeCursor(request.sort, last, field) : null,
    },
  };
}

export async function getContact(em: EntityManager, id: string): Promise<ContactView | null> {
  return em.findOne(ContactViewSchema, { id });
}

export function toContactResponse(view: ContactView) {
  return {
    id: view.id,
    ...pickContactFields(view),
    tags: view.tags,
    createdAt: view.createdAt.toISOString(),
    updatedAt: view.updatedAt.toISOString(),
    revision: view.revision,
  };
}
