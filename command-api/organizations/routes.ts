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
  ];
}
