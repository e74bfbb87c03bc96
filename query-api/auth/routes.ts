import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';
import { permissionsOf } from '../../domain/access/permissions.ts';
import { userOf } from '../../infra/http/authenticate.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { OrganizationViewSchema } from '../../projectors/organizations/organization-view.ts';
import { UserViewSchema } from '../../projectors/users/user-view.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';
import { toUserResponse, userSchema } from '../users/routes.ts';

const meSchema = userSchema.extend({
  permissions: z.array(z.string()).describe('What your role allows (the x-permission of each operation)'),
  organization: z.object({ id: z.string(), name: z.string(), status: z.enum(['active', 'suspended']) }),
});

export function authQueryRoutes(orm: MikroORM): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/auth/me',
      operationId: 'me',
      summary: 'The signed-in user, their permissions and their organization',
      tag: 'Auth',
      auth: 'bearer',
      permission: 'account:self',
      readModels: ['users', 'organizations'],
      responses: {
        200: { description: 'The user', schema: meSchema },
        404: { description: 'Not in the read models yet (send X-Min-Position to wait for it)' },
      },
      async handler(ctx) {
        const me = userOf(ctx);
        const em = scopedEntityManager(orm, ctx);
        const user = await em.findOne(UserViewSchema, { id: me.userId });
        const org = await em.findOne(OrganizationViewSchema, { id: me.organizationId });
        if (!user || !org) throw new NotFoundError('User');
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = {
          ...toUserResponse(user),
          // The token's role: what this request was authorized with (the row may lag a role change).
          role: me.role,
          permissions: permissionsOf(me.role),
          organization: { id: org.id, name: org.name, status: org.status },
        };
      },
    }),
  ];
}
