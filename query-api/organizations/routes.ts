import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';
import { authOf } from '../../infra/http/authenticate.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { OrganizationViewSchema } from '../../projectors/organizations/organization-view.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';

const organizationSchema = z.object({
  id: z.string(),
  name: z.string(),
  timezone: z.string(),
  status: z.enum(['active', 'suspended']).describe('A suspended organization can read but not write'),
  ownerUserId: z.string(),
  aiEnabled: z
    .boolean()
    .describe('Whether the AI service serves the organization (on unless its managers turned it off: PUT /organizations/current/ai)'),
  contactCount: z.number().int(),
  userCount: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  revision: z.number().int(),
});

export function organizationQueryRoutes(orm: MikroORM): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/organizations/current',
      operationId: 'getCurrentOrganization',
      summary: "The caller's organization",
      tag: 'Organizations',
      auth: 'bearer',
      permission: 'organization:read',
      readModels: ['organizations'],
      responses: {
        200: { description: 'The organization', schema: organizationSchema },
        404: { description: 'Not in the read models yet (send X-Min-Position to wait for it)' },
      },
      async handler(ctx) {
        const org = await scopedEntityManager(orm, ctx).findOne(OrganizationViewSchema, { id: authOf(ctx).organizationId });
        if (!org) throw new NotFoundError('Organization');
        ctx.set('ETag', `"${org.revision}"`);
        ctx.body = {
          id: org.id,
          name: org.name,
          timezone: org.timezone,
          status: org.status,
          ownerUserId: org.ownerUserId,
          aiEnabled: org.aiEnabled,
          contactCount: org.contactCount,
          userCount: org.userCount,
          createdAt: org.createdAt.toISOString(),
          updatedAt: org.updatedAt.toISOString(),
          revision: org.revision,
        };
      },
    }),
  ];
}
