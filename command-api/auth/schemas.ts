import { z } from 'zod';
import { emailField, textField, timeZoneField } from '../../infra/http/fields.ts';

const password = z
  .string({ error: 'must be a string' })
  .min(10, 'must be at least 10 characters')
  .max(256, 'must be at most 256 characters');

export const registerBody = z.strictObject({
  organizationName: textField(200),
  name: textField(200),
  email: emailField,
  password,
  timezone: timeZoneField.optional().describe('IANA time zone of the organization (default UTC)'),
});

export const loginBody = z.strictObject({
  email: emailField,
  password: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(256, 'must be at most 256 characters'),
});

export const refreshBody = z.strictObject({
  refreshToken: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(4_096, 'must be at most 4096 characters'),
});

export const signedInSchema = z.object({
  accessToken: z.string(),
  refreshToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int().describe('Seconds until the access token expires'),
  organizationId: z.string(),
  userId: z.string(),
});

export const registeredSchema = signedInSchema.extend({
  position: z.string().nullable().describe('Send as X-Min-Position to read the new account back at once'),
});
