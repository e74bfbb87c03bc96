import { z } from 'zod';
import { exitReasons } from '../../domain/workflows/definition.ts';
import { stepTypes } from '../../domain/workflows/steps/index.ts';
import { definitionSchema } from '../../domain/workflows/validation.ts';
import { textField, uuidLike } from '../../infra/http/fields.ts';

/**
 * A workflow as clients send it: name and description, and the definition (trigger, settings, steps) at the
 * top level. The shape is checked here; the graph and each step's configuration by validateDefinition.
 */
export const workflowBody = definitionSchema.extend({
  name: textField(200),
  description: z.string().max(2_000).nullable().optional(),
});

/** The workflow fields that may span lines: its description, and what each step type declares (bodies, instructions). */
export const workflowFreeText: readonly string[] = [
  'description',
  ...new Set([...stepTypes.values()].flatMap((step) => (step.freeText ?? []).map((field) => `steps.*.config.${field}`))),
];

export const runBody = z.strictObject({
  contactId: z.string().regex(uuidLike, 'must be the id of a contact'),
});

export const backfillBody = z
  .strictObject({
    from: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }),
    to: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }),
  })
  .refine((b) => Date.parse(b.from) < Date.parse(b.to), { message: 'must be after from', path: ['to'] })
  .refine((b) => Date.parse(b.to) - Date.parse(b.from) <= 31 * 86_400_000, { message: 'at most 31 days at once', path: ['to'] });

export const engagementBody = z.strictObject({
  type: z.enum(exitReasons, { error: `must be one of ${exitReasons.join(', ')}` }),
  at: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional().describe('When it happened (default: now)'),
  until: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional().describe('out_of_office: when the contact is back'),
});
