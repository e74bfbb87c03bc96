import { z } from 'zod';
import { contactFieldNames, mapContactFields } from '../../domain/contacts/fields.ts';
import { emailField, textField } from '../../infra/http/fields.ts';

/** A contact's fields as answers show them (domain/contacts/fields.ts): every one present, empty ones null. */
export const contactFieldsAnswer = mapContactFields(contactFieldNames, {
  email: () => z.string(),
  text: () => z.string().nullable(),
  timeZone: () => z.string().nullable(),
  custom: () => z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

export const contactSchema = z.object({
  id: z.string(),
  ...contactFieldsAnswer,
  tags: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
  revision: z.number().int(),
});

export const sorts = ['createdAt', '-createdAt', 'updatedAt', '-updatedAt', 'email', '-email', 'name', '-name'] as const;
export type ContactSort = (typeof sorts)[number];

/** A tag to filter by, as tags are stored (trimmed, not empty): a blank one would also break the array literal of the filter. */
const tagFilter = textField(64);
const oneOrMany = z.union([tagFilter, z.array(tagFilter)]).transform((value) => (Array.isArray(value) ? value : [value]));

export const listContactsQuery = z.strictObject({
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(25),
  cursor: z.string().max(1_000).optional().describe('nextCursor of the previous page'),
  sort: z.enum(sorts, { error: `must be one of ${sorts.join(', ')}` }).default('-createdAt'),
  tag: oneOrMany.optional().describe('Only contacts with this tag; repeat for contacts with all of them'),
  updatedSince: z.iso
    .datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2026-01-31T09:00:00Z' })
    .optional()
    .describe('Only contacts changed at or after this time'),
  email: emailField.optional().describe('Only the contact with this email'),
});

export const contactPageSchema = z.object({
  data: z.array(contactSchema),
  page: z.object({
    limit: z.number().int(),
    hasMore: z.boolean(),
    nextCursor: z.string().nullable().describe('Pass as `cursor` to get the next page (same sort and filters)'),
  }),
});
