import { z } from 'zod';
import { contactFieldNames, contactFieldSpecs } from '../../contacts/fields.ts';
import { conditionsHold } from '../conditions.ts';
import { defineStep } from './step-type.ts';

/** The contact fields a rule may name (domain/contacts/fields.ts); custom fields as `customFields.<key>`. */
const plainFields = contactFieldNames.filter((name) => contactFieldSpecs[name].kind !== 'custom');

export const conditionRule = z.strictObject({
  field: z.string().regex(new RegExp(`^(tags|${plainFields.join('|')}|customFields\\.${contactFieldSpecs.customFields.keyPattern})$`), {
    error: `must be a contact field (${plainFields.join(', ')}), customFields.<key> or tags`,
  }),
  operator: z.enum(['equals', 'not_equals', 'contains', 'not_contains', 'exists', 'not_exists', 'greater_than', 'less_than']),
  value: z.union([z.string().max(1_000), z.number(), z.boolean()]).optional(),
});

export const conditionSet = z.strictObject({
  match: z.enum(['all', 'any']).default('all'),
  rules: z.array(conditionRule).min(1, 'needs at least one rule').max(20),
});

export const condition = defineStep({
  type: 'condition',
  logOnly: true,
  summary: 'Branch on contact fields and tags: goes to branches.true or branches.false',
  branches: ['true', 'false'],
  config: conditionSet,
  async run(config, context) {
    const holds = conditionsHold(context.contact, config);
    return { kind: 'done', branch: String(holds), output: { matched: holds } };
  },
});
