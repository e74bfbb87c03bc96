import { z } from 'zod';
import { emailField, textField, timeZoneField } from '../../infra/http/fields.ts';

export const passwordField = z
  .string({ error: 'must be a string' })
  .min(10, 'must be at least 10 characters')
  .max(256, 'must be at most 256 characters');

const token = (what: string) =>
  z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(4_096, 'must be at most 4096 characters').describe(what);

export const registerBody = z.strictObject({
  organizationName: textField(200),
  name: textField(200),
  email: emailField,
  password: passwordField,
  timezone: timeZoneField.optional().describe('IANA time zone of the organization (default UTC)'),
});

export const verifyEmailBody = z.strictObject({ token: token('The token of the confirmation link in the email') });

export const loginBody = z.strictObject({
  email: emailField,
  password: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(256, 'must be at most 256 characters'),
});

export const refreshBody = z.strictObject({ refreshToken: token('The refresh token of the last sign-in or refresh') });

export const forgotPasswordBody = z.strictObject({ email: emailField });

export const resetPasswordBody = z.strictObject({ token: token('The token of the reset link in the email'), password: passwordField });

export const changePasswordBody = z.strictObject({
  currentPassword: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(256, 'must be at most 256 characters'),
  newPassword: passwordField,
});

const code = z
  .string({ error: 'must be a string' })
  .trim()
  .min(6, 'must be a 6-digit code or a recovery code')
  .max(20, 'must be a 6-digit code or a recovery code');

export const mfaEnableBody = z.strictObject({
  code: z
    .string({ error: 'must be a string' })
    .regex(/^\d{6}$/, 'must be the 6-digit code your authenticator app shows')
    .optional()
    .describe('Absent: start enrolling (get a secret). Present: confirm with a code from the app, which turns MFA on.'),
});

export const mfaVerifyBody = z.strictObject({
  challengeToken: token('The challengeToken POST /auth/login answered'),
  code: code.describe('A 6-digit code from the authenticator app, or an unused recovery code'),
});

export const mfaDisableBody = z.strictObject({ password: z.string({ error: 'must be a string' }).min(1).max(256), code });

export const signedInSchema = z.object({
  accessToken: z.string(),
  refreshToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int().describe('Seconds until the access token expires'),
  organizationId: z.string(),
  userId: z.string(),
});

export const mfaChallengeSchema = z.object({
  mfaRequired: z.literal(true),
  challengeToken: z.string().describe('Send to POST /auth/mfa/verify with a code'),
  expiresIn: z.number().int(),
  methods: z.array(z.enum(['totp', 'recovery_code'])),
});

export const registeredSchema = signedInSchema.extend({
  position: z.string().nullable().describe('Send as X-Min-Position to read the new account back at once'),
});

export const acceptedSchema = z.object({
  status: z.literal('accepted'),
  message: z.string(),
});
