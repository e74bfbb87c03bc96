import type Koa from 'koa';
import type { SyncSettings } from '../../domain/integrations/integration.ts';
import type { FieldMapping } from '../../domain/integrations/mappings.ts';
import { isProviderId, providerIds } from '../../domain/integrations/providers.ts';
import { authOf, type PrincipalAuthenticator } from '../../infra/http/authenticate.ts';
import { commandResultSchema, entityIdOf, uuidLike } from '../../infra/http/fields.ts';
import { ProblemError } from '../../infra/http/problem.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { commandContextOf, requestContextOf, respondWithOutcome } from '../http.ts';
import type { IntegrationCommands } from './integration-commands.ts';
import { ownerOf, type StateOwner } from './oauth-states.ts';
import {
  callbackQuery,
  connectedSchema,
  connectStartedSchema,
  mappingsBody,
  mappingsExample,
  settingsBody,
  syncBody,
  syncStartedSchema,
} from './schemas.ts';

const TAG = 'Integrations';
const CALLBACK_PATH = '/integrations/oauth/callback';
const integrationIdOf = (params: Record<string, string>) => entityIdOf(params, 'Integration');
const notFound = { 404: { description: 'No such integration in your organization' } };

export interface IntegrationRouteOptions {
  /** APP_URL: where the provider sends the browser back, and where the callback redirects to. */
  appUrl: string | null;
  /** Checks a credential the browser sends along to the callback (optional there). */
  authenticator: PrincipalAuthenticator;
}

export function integrationCommandRoutes(commands: IntegrationCommands, options: IntegrationRouteOptions): AnyRoute[] {
  const appUrl = options.appUrl?.replace(/\/+$/, '') ?? null;
  return [
    defineRoute({
      method: 'post',
      path: '/integrations/:type/connect',
      operationId: 'connectIntegration',
      summary: 'Start connecting a CRM (OAuth 2 authorization code)',
      description:
        `type: ${providerIds.join(', ')}. Answers the provider's authorization URL to send the browser to; the provider sends ` +
        `it back to ${CALLBACK_PATH} with a single-use state bound to you and your organization (10 minutes), with PKCE ` +
        'where the provider supports it. A provider this server has no OAuth app for answers 503 naming the missing settings.',
      tag: TAG,
      auth: 'bearer',
      permission: 'integrations:manage',
      credentials: true,
      responses: {
        200: { description: 'Send the browser to authorizationUrl', schema: connectStartedSchema },
        400: { description: 'Unknown provider type' },
        409: { description: 'This provider is already connected' },
        503: { description: 'The provider is not configured on this server (`missingSettings` names what is missing)' },
      },
      async handler(ctx, { params }) {
        const type = params.type ?? '';
        if (!isProviderId(type)) throw ProblemError.validation([{ name: 'type', reason: `must be one of ${providerIds.join(', ')}` }]);
        const redirectUri = `${appUrl ?? ctx.origin}${CALLBACK_PATH}`;
        ctx.body = await commands.beginConnect(commandContextOf(ctx), ownerOf(authOf(ctx)), type, redirectUri);
      },
    }),
    defineRoute({
      method: 'get',
      path: CALLBACK_PATH,
      operationId: 'completeIntegrationConnect',
      summary: 'Where the provider sends the browser back after consent',
      description:
        'No bearer needed: the single-use `state` names who started and authenticates the call (a credential sent along ' +
        "must be the same caller's). Exchanges the code, seals the credentials and connects the integration (or " +
        'reconnects the one waiting for a reconnect: same provider account only). With APP_URL set, redirects to the ' +
        'settings page (303).',
      tag: TAG,
      auth: 'none',
      credentials: true,
      query: callbackQuery,
      responses: {
        201: { description: 'Connected (or reconnected)', schema: connectedSchema },
        303: {
          description: 'Connected; the browser goes to APP_URL/settings/integrations?connected=<id>',
          headers: { Location: 'The settings page' },
        },
        400: { description: 'The provider refused (`error`), or the state is unknown, expired or used' },
        403: { description: "The state is another caller's, or its owner may no longer manage integrations" },
        409: { description: 'The provider is already connected, or a reconnect brought another provider account' },
        502: { description: 'The provider failed the code exchange' },
        503: { description: 'The provider is not configured on this server' },
      },
      async handler(ctx, { query }) {
        const connected = await commands.completeConnect(
          {
            state: query.state,
            ...(query.code !== undefined ? { code: query.code } : {}),
            ...(query.error !== undefined ? { error: query.error } : {}),
            ...(query.error_description !== undefined ? { errorDescription: query.error_description } : {}),
          },
          { owner: await callerAlong(ctx, options.authenticator), request: requestContextOf(ctx) },
        );
        if (appUrl) {
          ctx.status = 303;
          ctx.redirect(`${appUrl}/settings/integrations?connected=${encodeURIComponent(connected.id)}`);
          return;
        }
        ctx.status = 201;
        ctx.set('ETag', `"${connected.revision}"`);
        ctx.body = {
          id: connected.id,
          status: connected.state.status,
          reconnected: connected.reconnected,
          revision: connected.revision,
          position: connected.position,
        };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/integrations/:id/disconnect',
      operationId: 'disconnectIntegration',
      summary: 'Disconnect an integration',
      description: 'Syncing stops, the grant is revoked at the provider (best effort) and the sealed credentials are destroyed.',
      tag: TAG,
      auth: 'bearer',
      permission: 'integrations:manage',
      responses: { 200: { description: 'Disconnected (or already)', schema: commandResultSchema }, ...notFound },
      async handler(ctx, { params }) {
        const id = integrationIdOf(params);
        respondWithOutcome(ctx, id, await commands.disconnect(commandContextOf(ctx), id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/integrations/:id/sync',
      operationId: 'startIntegrationSync',
      summary: 'Start a sync run',
      description: 'The sync runs in the background; its progress is in GET /integrations/{id}/status.',
      tag: TAG,
      auth: 'bearer',
      permission: 'integrations:manage',
      body: syncBody,
      bodyExample: { kind: 'forced', fields: ['firstName'] },
      responses: {
        202: { description: 'Started', schema: syncStartedSchema },
        400: { description: 'Invalid input; `invalid-params` names each bad field' },
        ...notFound,
        409: { description: 'A run is in progress, or the integration needs a reconnect or is disconnected' },
        422: { description: "The direction is beyond the integration's setting, or fields without a forced run" },
      },
      async handler(ctx, { params, body }) {
        const id = integrationIdOf(params);
        const started = await commands.startSync(commandContextOf(ctx), id, body);
        ctx.status = 202;
        ctx.set('ETag', `"${started.revision}"`);
        ctx.body = {
          id,
          runId: started.runId,
          kind: started.kind,
          direction: started.direction,
          revision: started.revision,
          position: started.position,
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/integrations/:id/webhook',
      operationId: 'receiveIntegrationWebhook',
      summary: "The provider's webhook deliveries",
      description:
        "No bearer: the provider's signature over the raw body authenticates the delivery (401 and nothing recorded when " +
        'it does not hold). A delivery only names records; the sync fetches them itself, so a body never writes data.',
      tag: TAG,
      auth: 'none',
      rawBody: true,
      responses: {
        204: { description: 'Noted' },
        401: { description: 'The signature does not hold' },
        409: { description: 'The integration is not connected' },
      },
      async handler(ctx, { params, rawBody }) {
        const id = params.id ?? '';
        const delivery = { method: ctx.method, url: `${ctx.origin}${ctx.originalUrl}`, headers: ctx.headers, rawBody: rawBody!, now: new Date() };
        if (!uuidLike.test(id) || !(await commands.receiveWebhook(id.toLowerCase(), delivery)))
          throw new ProblemError(401, 'Unauthorized', 'The webhook signature does not hold.', { code: 'invalid_signature' });
        ctx.status = 204;
      },
    }),
    defineRoute({
      method: 'put',
      path: '/integrations/:id/mappings',
      operationId: 'setIntegrationMappings',
      summary: 'Replace the field mappings',
      description:
        "Each mapping is checked against the provider's described contact fields (standard and custom): 400 names each bad " +
        'mapping by index and field. A changed mapping re-syncs only the fields it affects.',
      tag: TAG,
      auth: 'bearer',
      permission: 'integrations:manage',
      body: mappingsBody,
      bodyExample: mappingsExample,
      responses: {
        200: { description: 'Saved (or unchanged)', schema: commandResultSchema },
        400: { description: 'Invalid mappings; `invalid-params` names each (`mappings[2].theirs`)' },
        ...notFound,
        409: { description: 'The integration needs a reconnect or is disconnected' },
        502: { description: 'The provider failed to describe its fields' },
      },
      async handler(ctx, { params, body }) {
        const id = integrationIdOf(params);
        respondWithOutcome(ctx, id, await commands.setMappings(commandContextOf(ctx), id, body.mappings as unknown as FieldMapping[]));
      },
    }),
    defineRoute({
      method: 'put',
      path: '/integrations/:id/settings',
      operationId: 'setIntegrationSettings',
      summary: 'Change sync settings',
      description: 'Any of direction, deletePolicy, conflictPolicy, pollIntervalMinutes, dailyApiBudget; absent ones stay.',
      tag: TAG,
      auth: 'bearer',
      permission: 'integrations:manage',
      body: settingsBody,
      bodyExample: { deletePolicy: 'archive', pollIntervalMinutes: 30 },
      responses: {
        200: { description: 'Saved (or unchanged)', schema: commandResultSchema },
        400: { description: 'Invalid input; `invalid-params` names each bad field' },
        ...notFound,
        409: { description: 'The integration is disconnected' },
      },
      async handler(ctx, { params, body }) {
        const id = integrationIdOf(params);
        respondWithOutcome(ctx, id, await commands.setSettings(commandContextOf(ctx), id, body as Partial<SyncSettings>));
      },
    }),
  ];
}

/** The caller's credential, when the browser sent one along to the callback (it must then be valid). */
async function callerAlong(ctx: Koa.Context, authenticator: PrincipalAuthenticator): Promise<StateOwner | null> {
  const header = ctx.get('Authorization');
  const apiKey = ctx.get('X-API-Key');
  if (!header && !apiKey) return null;
  const bearer = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header)?.[1];
  const credential = bearer ? { bearer } : apiKey && !header ? { apiKey: apiKey.trim() } : null;
  const principal = credential ? await authenticator.authenticate(credential, { ip: ctx.ip }) : null;
  if (!principal) throw ProblemError.unauthorized('The access token or API key is invalid, expired or revoked.');
  return ownerOf(principal);
}
