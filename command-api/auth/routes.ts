import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { authOf } from '../../infra/http/authenticate.ts';
import type { Accounts } from './accounts.ts';
import type { Sessions } from './sessions.ts';
import { commandContextOf, requestContextOf } from '../http.ts';
import { loginBody, refreshBody, registerBody, registeredSchema, signedInSchema } from './schemas.ts';

export function authCommandRoutes(accounts: Accounts, sessions: Sessions): AnyRoute[] {
  return [
    defineRoute({
      method: 'post',
      path: '/auth/register',
      operationId: 'register',
      summary: 'Create an organization and its owner, and sign in',
      tag: 'Auth',
      auth: 'none',
      body: registerBody,
      bodyExample: { organizationName: 'Acme Inc', name: 'Grace Hopper', email: 'grace@acme.test', password: 'correct horse battery' },
      responses: {
        201: { description: 'Registered and signed in', schema: registeredSchema },
        400: { description: 'Invalid input; `invalid-params` names each bad field' },
        409: { description: 'An account with this email already exists' },
      },
      async handler(ctx, { body }) {
        const result = await accounts.register(body, requestContextOf(ctx));
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = result;
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/login',
      operationId: 'login',
      summary: 'Sign in with email and password',
      tag: 'Auth',
      auth: 'none',
      body: loginBody,
      bodyExample: { email: 'grace@acme.test', password: 'correct horse battery' },
      responses: {
        200: { description: 'Signed in', schema: signedInSchema },
        400: { description: 'Invalid input' },
        401: { description: 'Invalid email or password' },
        429: { description: 'Locked after repeated failures (Retry-After says for how long); the same for unknown emails' },
      },
      async handler(ctx, { body }) {
        ctx.set('Cache-Control', 'no-store');
        ctx.body = await accounts.login(body.email, body.password, requestContextOf(ctx));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/refresh',
      operationId: 'refresh',
      summary: 'Exchange a refresh token for new tokens (the refresh token rotates)',
      description:
        'Each refresh token works once: the answer carries the next one. Presenting a used refresh token again revokes the whole session (every token issued from that sign-in).',
      tag: 'Auth',
      auth: 'none',
      body: refreshBody,
      bodyExample: { refreshToken: 'eyJ...' },
      responses: {
        200: { description: 'New access and refresh tokens', schema: signedInSchema },
        400: { description: 'Invalid input' },
        401: { description: 'Invalid, expired, revoked or reused refresh token' },
      },
      async handler(ctx, { body }) {
        ctx.set('Cache-Control', 'no-store');
        ctx.body = await sessions.refresh(body.refreshToken, requestContextOf(ctx));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/logout',
      operationId: 'logout',
      summary: 'End this session: its access and refresh tokens stop working at once',
      tag: 'Auth',
      auth: 'bearer',
      responses: {
        204: { description: 'Signed out' },
        401: { description: 'Missing or invalid access token' },
      },
      async handler(ctx) {
        await sessions.logout(authOf(ctx).sessionId, commandContextOf(ctx));
        ctx.status = 204;
      },
    }),
  ];
}
