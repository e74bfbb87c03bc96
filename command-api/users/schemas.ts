import { z } from 'zod';
import { roles } from '../../domain/access/permissions.ts';
import { emailField, textField } from '../../infra/http/fields.ts';
import { passwordField } from '../auth/schemas.ts';

const role = z.enum(roles, { error: `must be one of ${roles.join(', ')}` });

export const inviteBody = z.strictObject({ email: emailField, role });

export const acceptInvitationBody = z.strictObject({
  token: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(4_096).describe('The token of the invitation link'),
  name: textField(200),
  password: passwordField,
});

export const changeRoleBody = z.strictObject({ role });

export const invitationCreatedSchema = z.object({
  id: z.string().describe('The invitation id'),
  revision: z.number().int(),
  position: z.string().nullable(),
  expiresAt: z.string(),
});
