import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';
import { roles } from '../../domain/access/permissions.ts';
import { entityIdOf } from '../../infra/http/fields.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { InvitationViewSchema, type InvitationView } from '../../projectors/users/invitation-view.ts';
import { UserViewSchema, type UserView } from '../../projectors/users/user-view.ts';
import { pageByCreation, pageQuery, pageSchema } from '../paging.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';

export const userSchema = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string(),
  role: z.enum(roles),
  status: z.enum(['active', 'deactivated']),
  mfaEnabled: z.boolean(),
  lastSignInAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const invitationSchema = z.object({
  id: z.string(),
  email: z.string(),
  role: z.enum(roles),
  status: z.enum(['pending', 'accepted', 'revoked', 'expired']),
  invitedBy: z.string(),
  userId: z.string().nullable(),
  expiresAt: z.string(),
  createdAt: z.string(),
});

export function toUserResponse(user: UserView) {
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    role: user.role,
    status: user.status,
    mfaEnabled: user.mfaEnabled,
    lastSignInAt: user.lastSignInAt?.toISOString() ?? null,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

function toInvitationResponse(invitation: InvitationView, now: Date) {
  const expired = invitation.status === 'pending' && invitation.expiresAt <= now;
  return {
    id: invitation.id,
    email: invitation.email,
    role: invitation.role,
    status: expired ? 'expired' : invitation.status,
    invitedBy: invitation.invitedBy,
    userId: invitation.userId,
    expiresAt: invitation.expiresAt.toISOString(),
    createdAt: invitation.createdAt.toISOString(),
  };
}

export function userQueryRoutes(orm: MikroORM): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/users',
      operationId: 'listUsers',
      summary: 'Members of your organization, oldest first',
      tag: 'Users',
      auth: 'bearer',
      permission: 'users:read',
      readModels: ['users'],
      query: z.strictObject({
        ...pageQuery,
        status: z.enum(['active', 'deactivated'], { error: 'must be active or deactivated' }).optional(),
        role: z.enum(roles, { error: `must be one of ${roles.join(', ')}` }).optional(),
      }),
      responses: {
        200: { description: 'A page of members', schema: z.object({ data: z.array(userSchema), page: pageSchema }) },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const where = { ...(query.status ? { status: query.status } : {}), ...(query.role ? { role: query.role } : {}) };
        const { items, page } = await pageByCreation(scopedEntityManager(orm, ctx), UserViewSchema, where, query);
        ctx.body = { data: items.map(toUserResponse), page };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/users/:id',
      operationId: 'getUser',
      summary: 'One member of your organization',
      tag: 'Users',
      auth: 'bearer',
      permission: 'users:read',
      readModels: ['users'],
      responses: { 200: { description: 'The member', schema: userSchema }, 404: { description: 'No such user in your organization' } },
      async handler(ctx, { params }) {
        const user = await scopedEntityManager(orm, ctx).findOne(UserViewSchema, { id: entityIdOf(params, 'User') });
        if (!user) throw new NotFoundError('User');
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = toUserResponse(user);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/invitations',
      operationId: 'listInvitations',
      summary: "Your organization's invitations, oldest first",
      tag: 'Users',
      auth: 'bearer',
      permission: 'users:read',
      readModels: ['invitations'],
      query: z.strictObject({
        ...pageQuery,
        status: z.enum(['pending', 'accepted', 'revoked'], { error: 'must be pending, accepted or revoked' }).optional(),
      }),
      responses: {
        200: { description: 'A page of invitations', schema: z.object({ data: z.array(invitationSchema), page: pageSchema }) },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const where = query.status ? { status: query.status } : {};
        const { items, page } = await pageByCreation(scopedEntityManager(orm, ctx), InvitationViewSchema, where, query);
        const now = new Date();
        ctx.body = { data: items.map((i) => toInvitationResponse(i, now)), page };
      },
    }),
  ];
}
