import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { authOf } from '../../infra/http/authenticate.ts';
import { ProblemError } from '../../infra/http/problem.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { OrganizationViewSchema } from '../../projectors/organizations/organization-view.ts';
import { UserViewSchema } from '../../projectors/users/user-view.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';

const meSchema = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string(),
  role: z.string(),
  createdAt: z.string(),
  organization: z.object({ id: z.string(), name: z.string() }),
});

export function authQueryRoutes(orm: MikroORM): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/auth/me',
      operationId: 'me',
      summary: 'The signed-in user and their organization',
      tag: 'Auth',
      auth: 'bearer',
      readModels: ['users', 'organizations'],
      responses: {
        200: { description: 'The user', schema: meSchema },
        401: { description: 'Missing or invalid access token' },
        404: { description: 'Not in the read models yet (send X-Min-Position to wait for it)' },
      },
      async handler(ctx) {
        const auth = authOf(ctx);
        const em = scopedEntityManager(orm, ctx);
        const user = await em.findOne(UserViewSchema, { id: auth.userId });
        const org = await em.findOne(OrganizationViewSchema, { id: auth.organizationId });
        if (!user || !org) throw ProblemError.notFound('User');
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = {
          id: user.id,
          name: user.name,
          email: user.email,
          role: user.role,
          createdAt: user.createdAt.toISOString(),
          organization: { id: org.id, name: org.name },
        };
      },
    }),
  ];
}
