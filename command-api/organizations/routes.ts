import { z } from 'zod';
import { authOf } from '../../infra/http/authenticate.ts';
import { commandResultSchema, textField } from '../../infra/http/fields.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { commandContextOf, expectedRevisionFrom, ifMatchHeader, respondWithOutcome } from '../http.ts';
import type { OrganizationCommands } from './organization-commands.ts';

export function organizationCommandRoutes(organizations: OrganizationCommands): AnyRoute[] {
  return [
    defineRoute({
      method: 'patch',
      path: '/organizations/current',
      operationId: 'updateCurrentOrganization',
      summary: "Rename the caller's organization",
      tag: 'Organizations',
      auth: 'bearer',
      permission: 'organization:update',
      body: z.strictObject({ name: textField(200) }),
      bodyExample: { name: 'Acme Corporation' },
      headers: [ifMatchHeader],
      responses: {
        200: { description: 'Renamed (or already so)', schema: commandResultSchema },
        400: { description: 'Invalid input; `invalid-params` names each bad field' },
        409: { description: 'Stale If-Match revision' },
      },
      async handler(ctx, { body }) {
        const organizationId = authOf(ctx).organizationId;
        const outcome = await organizations.rename(commandContextOf(ctx), organizationId, body.name, expectedRevisionFrom(ctx));
        respondWithOutcome(ctx, organizationId, outcome);
      },
    }),
    defineRoute({
      method: 'put',
      path: '/organizations/current/ai',
      operationId: 'changeCurrentOrganizationAiSettings',
      summary: "Turn the AI service on or off for the caller's organization",
      description:
        'On by default. Off (`enabled: false`): every /ai/* request of the organization is refused with 403 problem+json ' +
        '`code: ai_disabled`; the AI steps of its workflows compose no email through a provider; and its records are no ' +
        'longer sent to a provider for embeddings, the embeddings already stored kept out of search until it is on again. ' +
        'GET /organizations/current shows the setting (`aiEnabled`).',
      tag: 'Organizations',
      auth: 'bearer',
      permission: 'organization:update',
      body: z.strictObject({
        enabled: z.boolean({ error: 'must be true (AI on) or false (AI off)' }).describe('false turns the AI service off for the organization'),
      }),
      // What is already so: suites that send every route its example (test/e2e/access.e2e.spec.ts) leave AI on for what follows.
      bodyExample: { enabled: true },
      headers: [ifMatchHeader],
      responses: {
        200: { description: 'Changed (or already so)', schema: commandResultSchema },
        400: { description: 'Invalid input; `invalid-params` names each bad field' },
        409: { description: 'Stale If-Match revision' },
      },
      async handler(ctx, { body }) {
        const organizationId = authOf(ctx).organizationId;
        const outcome = await organizations.changeAiSettings(commandContextOf(ctx), organizationId, body.enabled, expectedRevisionFrom(ctx));
        respondWithOutcome(ctx, organizationId, outcome);
      },
    }),
  ];
}
