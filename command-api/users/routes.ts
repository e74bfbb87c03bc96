import { authOf } from '../../infra/http/authenticate.ts';
import { commandResultSchema, entityIdOf } from '../../infra/http/fields.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { registeredSchema } from '../auth/schemas.ts';
import { commandContextOf, requestContextOf, respondWithOutcome } from '../http.ts';
import type { MembershipCommands } from './membership-commands.ts';
import { acceptInvitationBody, changeRoleBody, invitationCreatedSchema, inviteBody } from './schemas.ts';

const problems = {
  400: { description: 'Invalid input; `invalid-params` names each bad field' },
  404: { description: 'No such user or invitation in your organization' },
};

export function userCommandRoutes(members: MembershipCommands): AnyRoute[] {
  return [
    defineRoute({
      method: 'post',
      path: '/invitations',
      operationId: 'inviteMember',
      summary: 'Invite someone to your organization by email, with a role',
      description:
        'Admins may invite members and viewers; owners may invite any role. The link in the email works once, for 7 days. ' +
        "A pending invitation takes no seat of the plan's limit; accepting it does (and is refused beyond the limit).",
      tag: 'Users',
      auth: 'bearer',
      permission: 'users:manage',
      body: inviteBody,
      bodyExample: { email: 'ada@acme.test', role: 'member' },
      responses: {
        201: { description: 'Invited; the email is on its way', schema: invitationCreatedSchema },
        ...problems,
        409: { description: 'Already a member, or already invited' },
      },
      async handler(ctx, { body }) {
        const outcome = await members.invite(authOf(ctx), commandContextOf(ctx), body);
        ctx.status = 201;
        ctx.set('ETag', `"${outcome.revision}"`);
        ctx.body = { id: outcome.id, revision: outcome.revision, position: outcome.position, expiresAt: outcome.expiresAt };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/invitations/:id',
      operationId: 'revokeInvitation',
      summary: 'Revoke a pending invitation (its link stops working)',
      tag: 'Users',
      auth: 'bearer',
      permission: 'users:manage',
      responses: { 200: { description: 'Revoked', schema: commandResultSchema }, ...problems },
      async handler(ctx, { params }) {
        const id = entityIdOf(params, 'Invitation');
        respondWithOutcome(ctx, id, await members.revokeInvitation(authOf(ctx), commandContextOf(ctx), id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/invitations/accept',
      operationId: 'acceptInvitation',
      summary: 'Accept an invitation: choose a name and password, join, and sign in',
      description:
        'Joining takes a seat: a plan that limits seats refuses the member beyond its limit (402 plan_limit_reached, with the limit, the ' +
        "organization's usage, the plan and where to upgrade), and nothing is created; the link still works once a seat is free.",
      tag: 'Users',
      auth: 'none',
      credentials: true,
      body: acceptInvitationBody,
      bodyExample: { token: '<organizationId>.<invitationId>.<secret>', name: 'Ada Lovelace', password: 'correct horse battery' },
      responses: {
        201: { description: 'Joined and signed in', schema: registeredSchema },
        400: problems[400],
        401: { description: 'The link is invalid, expired, revoked or used' },
        402: { description: "The organization's plan has no seat left (plan_limit_reached)" },
        409: { description: 'This email already has an account (one organization per account for now)' },
      },
      async handler(ctx, { body }) {
        const result = await members.accept(body.token, body, requestContextOf(ctx));
        ctx.status = 201;
        ctx.body = result;
      },
    }),
    defineRoute({
      method: 'put',
      path: '/users/:id/role',
      operationId: 'changeUserRole',
      summary: "Change a member's role (owners only)",
      description: "The last owner cannot be demoted. The member's current access tokens stop working; a refresh gets the new role.",
      tag: 'Users',
      auth: 'bearer',
      permission: 'roles:manage',
      body: changeRoleBody,
      bodyExample: { role: 'admin' },
      responses: {
        200: { description: 'Changed (or already so)', schema: commandResultSchema },
        ...problems,
        409: { description: 'The last owner' },
      },
      async handler(ctx, { body, params }) {
        const id = entityIdOf(params, 'User');
        respondWithOutcome(ctx, id, await members.changeRole(authOf(ctx), commandContextOf(ctx), id, body.role));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/users/:id/deactivate',
      operationId: 'deactivateUser',
      summary: 'Deactivate a member: they are signed out everywhere at once and cannot sign in',
      description: "Admins may deactivate members and viewers; owners anyone but the last owner. It frees the member's seat of the plan's limit.",
      tag: 'Users',
      auth: 'bearer',
      permission: 'users:manage',
      responses: {
        200: { description: 'Deactivated (or already)', schema: commandResultSchema },
        ...problems,
        409: { description: 'The last owner' },
      },
      async handler(ctx, { params }) {
        const id = entityIdOf(params, 'User');
        respondWithOutcome(ctx, id, await members.deactivate(authOf(ctx), commandContextOf(ctx), id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/users/:id/reactivate',
      operationId: 'reactivateUser',
      summary: 'Reactivate a deactivated member',
      description: 'An active member takes a seat: a plan that limits seats refuses the reactivation beyond its limit (402 plan_limit_reached).',
      tag: 'Users',
      auth: 'bearer',
      permission: 'users:manage',
      responses: {
        200: { description: 'Reactivated (or already active)', schema: commandResultSchema },
        ...problems,
        402: { description: "The plan's seats limit is reached (plan_limit_reached), or the organization is restricted" },
      },
      async handler(ctx, { params }) {
        const id = entityIdOf(params, 'User');
        respondWithOutcome(ctx, id, await members.reactivate(authOf(ctx), commandContextOf(ctx), id));
      },
    }),
  ];
}
