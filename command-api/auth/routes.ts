import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import type { Accounts } from './accounts.ts';
import { loginBody, registerBody, registeredSchema, signedInSchema } from './schemas.ts';

export function authCommandRoutes(accounts: Accounts): AnyRoute[] {
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
        const userAgent = ctx.get('User-Agent');
        const result = await accounts.register(body, {
          correlationId: ctx.state.correlationId,
          causationId: ctx.state.requestId,
          now: new Date(),
          ...(ctx.ip ? { ip: ctx.ip } : {}),
          ...(userAgent ? { userAgent: userAgent.slice(0, 512) } : {}),
        });
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
      },
      async handler(ctx, { body }) {
        ctx.set('Cache-Control', 'no-store');
        ctx.body = await accounts.login(body.email, body.password);
      },
    }),
  ];
}
