import { z } from 'zod';
import { defineStep, StepError } from './step-type.ts';

/**
 * The CRM cannot take this action and asking again will not change that: no connected integration of the
 * provider, or the provider refused the request itself. The step fails without retries, saying why.
 */
export class CrmActionRefused extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'CrmActionRefused';
  }
}

export const crmAction = defineStep({
  type: 'crm_action',
  summary: 'Do something in the connected CRM (create or update the contact, log an activity, create a deal)',
  config: z.strictObject({
    provider: z.enum(['salesforce', 'hubspot', 'pipedrive', 'zoho']),
    action: z.enum(['upsert_contact', 'log_activity', 'create_deal']),
    fields: z
      .record(z.string().min(1).max(100), z.union([z.string().max(2_000), z.number(), z.boolean()]))
      .refine((fields) => Object.keys(fields).length <= 100, 'at most 100 fields')
      .default({}),
  }),
  async run(config, context) {
    let reference: string;
    try {
      ({ reference } = await context.ports.crm.perform({
        organizationId: context.organizationId,
        provider: config.provider,
        action: config.action,
        contact: context.contact,
        fields: config.fields,
        idempotencyKey: context.idempotencyKey,
      }));
    } catch (err) {
      if (err instanceof CrmActionRefused) throw new StepError(err.message, false, err.code);
      throw new StepError(`the CRM did not take the action: ${(err as Error).message}`.slice(0, 1_000), true, 'crm_unavailable');
    }
    return { kind: 'done', output: { provider: config.provider, action: config.action, reference } };
  },
});
