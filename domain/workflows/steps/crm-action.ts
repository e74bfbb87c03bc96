import { z } from 'zod';
import { defineStep } from './step-type.ts';

export const crmAction = defineStep({
  type: 'crm_action',
  summary: 'Do something in the connected CRM (create or update the contact, log an activity, create a deal)',
  config: z.strictObject({
    provider: z.enum(['salesforce', 'hubspot', 'pipedrive']),
    action: z.enum(['upsert_contact', 'log_activity', 'create_deal']),
    fields: z
      .record(z.string().min(1).max(100), z.union([z.string().max(2_000), z.number(), z.boolean()]))
      .refine((fields) => Object.keys(fields).length <= 100, 'at most 100 fields')
      .default({}),
  }),
  async run(config, context) {
    const { reference } = await context.ports.crm.perform({
      provider: config.provider,
      action: config.action,
      contact: context.contact,
      fields: config.fields,
      idempotencyKey: context.idempotencyKey,
    });
    return { kind: 'done', output: { provider: config.provider, action: config.action, reference } };
  },
});
