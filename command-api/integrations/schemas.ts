import { z } from 'zod';
import { POLL_INTERVAL_BOUNDS } from '../../domain/integrations/integration.ts';
import { MAX_MAPPINGS } from '../../domain/integrations/mappings.ts';

const direction = z.enum(['in', 'out', 'both'], { error: 'must be in, out or both' });

export const syncBody = z.strictObject({
  kind: z
    .enum(['incremental', 'forced'], { error: 'must be incremental or forced' })
    .optional()
    .describe('incremental (default; initial when the integration never synced) or forced (everything again, or only `fields`)'),
  direction: direction.optional().describe("in, out or both; default: the integration's setting"),
  fields: z
    .array(z.string({ error: 'must be a field name' }).min(1).max(255), { error: 'must be a list of our contact fields' })
    .min(1, 'must name at least one field')
    .max(500, 'at most 500 fields')
    .optional()
    .describe('A forced run may visit only these of our fields (those a mapping change affected)'),
});

/** Shapes are checked by the domain (it names `mappings[3].theirs`), fit against the provider's fields by the command. */
export const mappingsBody = z.strictObject({
  mappings: z
    .array(z.record(z.string(), z.unknown(), { error: 'must be a mapping object' }), { error: 'must be a list of mappings' })
    .max(MAX_MAPPINGS, `at most ${MAX_MAPPINGS} mappings`),
});

export const mappingsExample = {
  mappings: [
    { ours: 'email', theirs: 'Email', direction: 'both' },
    { ours: 'firstName', theirs: 'FirstName', direction: 'both', transform: { kind: 'trim' }, conflictPolicy: 'most_recent' },
    { ours: 'customFields.leadScore', theirs: 'Lead_Score__c', direction: 'in' },
  ],
};

export const settingsBody = z
  .strictObject({
    direction: direction.optional(),
    deletePolicy: z.enum(['delete', 'archive', 'ignore'], { error: 'must be delete, archive or ignore' }).optional(),
    conflictPolicy: z.enum(['ours', 'theirs', 'most_recent'], { error: 'must be ours, theirs or most_recent' }).optional(),
    pollIntervalMinutes: z
      .number({ error: 'must be a number of minutes' })
      .int('must be a whole number')
      .min(POLL_INTERVAL_BOUNDS.min, `must be at least ${POLL_INTERVAL_BOUNDS.min}`)
      .max(POLL_INTERVAL_BOUNDS.max, `must be at most ${POLL_INTERVAL_BOUNDS.max}`)
      .optional(),
    dailyApiBudget: z
      .number({ error: 'must be a number of calls' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(100_000_000)
      .optional(),
  })
  .refine((settings) => Object.keys(settings).length > 0, 'must change at least one setting');

export const callbackQuery = z.object({
  state: z.string({ error: 'is required' }).min(1, 'is required').max(512),
  code: z.string().min(1).max(4_096).optional(),
  error: z.string().min(1).max(200).optional(),
  error_description: z.string().max(1_000).optional(),
});

export const connectStartedSchema = z.object({
  authorizationUrl: z.string().describe("Send the user's browser here to consent at the provider"),
  state: z.string().describe('Single-use, bound to you and your organization; expires with `expiresAt`'),
  expiresAt: z.string(),
  redirectUri: z.string().describe('Where the provider sends the browser back (GET /integrations/oauth/callback)'),
});

export const connectedSchema = z.object({
  id: z.string().describe('The integration'),
  status: z.string(),
  reconnected: z.boolean(),
  revision: z.number().int(),
  position: z.string().nullable(),
});

export const syncStartedSchema = z.object({
  id: z.string(),
  runId: z.string(),
  kind: z.string(),
  direction: z.string(),
  revision: z.number().int(),
  position: z.string().nullable(),
});
