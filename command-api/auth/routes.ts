import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { userOf } from '../../infra/http/authenticate.ts';
import type { Accounts } from './accounts.ts';
import type { SecondFactors } from './mfa.ts';
import type { Sessions } from './sessions.ts';
import { commandContextOf, requestContextOf } from '../http.ts';
import {
  acceptedSchema,
  changePasswordBody,
  forgotPasswordBody,
  loginBody,
  mfaChallengeSchema,
  mfaDisableBody,
  mfaEnableBody,
  mfaVerifyBody,
  refreshBody,
  registerBody,
  registeredSchema,
  resetPasswordBody,
  signedInSchema,
  verifyEmailBody,
} from './schemas.ts';

const badInput = { 400: { description: 'Invalid input; `invalid-params` names each bad field' } };

export function authCommandRoutes(accounts: Accounts, sessions: Sessions, secondFactors: SecondFactors): AnyRoute[] {
  return [
    defineRoute({
      method: 'post',
      path: '/auth/register',
      operationId: 'register',
      summary: 'Sign up: create an organization and its owner, once the email is confirmed',
      description:
        'Always answers 202, whether or not the email already has an account (the answer must not tell). The address ' +
        'receives a confirmation link (POST its token to /auth/verify-email), or a note that it already has an account.',
      tag: 'Auth',
      credentials: true,
      auth: 'none',
      body: registerBody,
      bodyExample: { organizationName: 'Acme Inc', name: 'Grace Hopper', email: 'grace@acme.test', password: 'correct horse battery' },
      responses: { 202: { description: 'Check your email', schema: acceptedSchema }, ...badInput },
      async handler(ctx, { body }) {
        await accounts.requestSignup(body, requestContextOf(ctx));
        ctx.status = 202;
        ctx.body = { status: 'accepted', message: 'Check your email: we sent a link to finish signing up.' };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/verify-email',
      operationId: 'verifyEmail',
      summary: 'Confirm the email of a sign-up: creates the organization and its owner, and signs in',
      tag: 'Auth',
      credentials: true,
      auth: 'none',
      body: verifyEmailBody,
      bodyExample: { token: '6f1c2a4e-0000-4000-8000-000000000000.Q2hvb3NlIGEgZ29vZCBzZWNyZXQgaGVyZSBwbGVhc2U' },
      responses: {
        201: { description: 'Registered and signed in', schema: registeredSchema },
        ...badInput,
        401: { description: 'The link is invalid, expired or already used' },
        409: { description: 'Meanwhile, another account took this email' },
      },
      async handler(ctx, { body }) {
        const result = await accounts.completeSignup(body.token, requestContextOf(ctx));
        ctx.status = 201;
        ctx.body = result;
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/login',
      operationId: 'login',
      summary: 'Sign in with email and password',
      description: 'With two-factor authentication on, the answer is a challenge to finish with POST /auth/mfa/verify.',
      tag: 'Auth',
      credentials: true,
      auth: 'none',
      body: loginBody,
      bodyExample: { email: 'grace@acme.test', password: 'correct horse battery' },
      responses: {
        200: { description: 'Signed in, or a second factor is needed', schema: z.union([signedInSchema, mfaChallengeSchema]) },
        ...badInput,
        401: { description: 'Invalid email or password' },
        429: { description: 'Locked after repeated failures (Retry-After says for how long); the same for unknown emails' },
      },
      async handler(ctx, { body }) {
        ctx.body = await accounts.login(body.email, body.password, requestContextOf(ctx));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/mfa/verify',
      operationId: 'verifyMfa',
      summary: 'Finish a sign-in with a second factor: a code from the authenticator app, or a recovery code',
      tag: 'Auth',
      credentials: true,
      auth: 'none',
      body: mfaVerifyBody,
      bodyExample: { challengeToken: 'eyJ...', code: '123456' },
      responses: {
        200: { description: 'Signed in', schema: signedInSchema },
        ...badInput,
        401: { description: 'Wrong or already used code, or an expired challenge' },
        429: { description: 'Locked after repeated wrong codes' },
      },
      async handler(ctx, { body }) {
        ctx.body = await secondFactors.completeSignIn(body.challengeToken, body.code, requestContextOf(ctx));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/mfa/enable',
      operationId: 'enableMfa',
      summary: 'Turn on two-factor authentication (TOTP), in two calls',
      description:
        'Without a code: answers a new secret and its otpauth:// URI for the authenticator app (as a QR code). With a code ' +
        'from the app: turns MFA on and answers ten one-time recovery codes, shown this once.',
      tag: 'Auth',
      credentials: true,
      auth: 'bearer',
      permission: 'account:self',
      body: mfaEnableBody,
      bodyExample: {},
      responses: {
        200: {
          description: 'Enrolling (secret), or enabled (recovery codes)',
          schema: z.union([
            z.object({ status: z.literal('pending'), secret: z.string(), otpauthUri: z.string() }),
            z.object({ status: z.literal('enabled'), recoveryCodes: z.array(z.string()) }),
          ]),
        },
        ...badInput,
        401: { description: 'Wrong code' },
        409: { description: 'Already enabled, or no enrollment started' },
      },
      async handler(ctx, { body }) {
        ctx.body = await secondFactors.enable(userOf(ctx), body.code, requestContextOf(ctx));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/mfa/disable',
      operationId: 'disableMfa',
      summary: 'Turn off two-factor authentication (needs the password and a code)',
      tag: 'Auth',
      credentials: true,
      auth: 'bearer',
      permission: 'account:self',
      body: mfaDisableBody,
      bodyExample: { password: 'correct horse battery', code: '123456' },
      responses: { 204: { description: 'Turned off' }, ...badInput, 401: { description: 'Wrong code' } },
      async handler(ctx, { body }) {
        await secondFactors.disable(userOf(ctx), body.password, body.code, requestContextOf(ctx));
        ctx.status = 204;
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/refresh',
      operationId: 'refresh',
      summary: 'Exchange a refresh token for new tokens (the refresh token rotates)',
      description:
        'Each refresh token works once: the answer carries the next one. The token just rotated out, presented again ' +
        'within REFRESH_REUSE_GRACE_SECONDS (default 10 s) of its first use (tabs refreshing together, a retry after ' +
        'a lost answer), gets the same answer as its first use. Later, presenting a used refresh token again revokes ' +
        'the whole session (every token issued from that sign-in). Idempotency-Key is ignored here, as on every ' +
        'route that takes or hands out credentials.',
      tag: 'Auth',
      credentials: true,
      auth: 'none',
      body: refreshBody,
      bodyExample: { refreshToken: 'eyJ...' },
      responses: {
        200: { description: 'New access and refresh tokens', schema: signedInSchema },
        ...badInput,
        401: { description: 'Invalid, expired, revoked or reused refresh token' },
      },
      async handler(ctx, { body }) {
        ctx.body = await sessions.refresh(body.refreshToken, requestContextOf(ctx));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/logout',
      operationId: 'logout',
      summary: 'End this session: its access and refresh tokens stop working at once',
      tag: 'Auth',
      credentials: true,
      auth: 'bearer',
      permission: 'account:self',
      responses: { 204: { description: 'Signed out' } },
      async handler(ctx) {
        await sessions.logout(userOf(ctx).sessionId, commandContextOf(ctx));
        ctx.status = 204;
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/forgot-password',
      operationId: 'forgotPassword',
      summary: 'Email a password reset link',
      description: 'Always answers 202, whether or not the email has an account; only an account holder receives a link.',
      tag: 'Auth',
      credentials: true,
      auth: 'none',
      body: forgotPasswordBody,
      bodyExample: { email: 'grace@acme.test' },
      responses: { 202: { description: 'If the email has an account, a link is on its way', schema: acceptedSchema }, ...badInput },
      async handler(ctx, { body }) {
        accounts.requestPasswordReset(body.email, requestContextOf(ctx));
        ctx.status = 202;
        ctx.body = { status: 'accepted', message: 'If this email has an account, a reset link is on its way.' };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/reset-password',
      operationId: 'resetPassword',
      summary: 'Choose a new password with the token of a reset link (it works once)',
      description: 'Every session of the account ends: sign in again with the new password.',
      tag: 'Auth',
      credentials: true,
      auth: 'none',
      body: resetPasswordBody,
      bodyExample: { token: '<userId>.<resetId>.<secret>', password: 'a new correct horse' },
      responses: { 204: { description: 'Password changed' }, ...badInput, 401: { description: 'The link is invalid, expired or used' } },
      async handler(ctx, { body }) {
        await accounts.resetPassword(body.token, body.password, requestContextOf(ctx));
        ctx.status = 204;
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/change-password',
      operationId: 'changePassword',
      summary: 'Change your password (needs the current one); other sessions end, you get fresh tokens',
      tag: 'Auth',
      credentials: true,
      auth: 'bearer',
      permission: 'account:self',
      body: changePasswordBody,
      bodyExample: { currentPassword: 'correct horse battery', newPassword: 'an even better horse' },
      responses: { 200: { description: 'Changed; new tokens for this client', schema: signedInSchema }, ...badInput },
      async handler(ctx, { body }) {
        ctx.body = await accounts.changePassword(userOf(ctx), body.currentPassword, body.newPassword, requestContextOf(ctx));
      },
    }),
  ];
}
