import type { ContactChanges } from '../../domain/contacts/contact.ts';
import { authOf } from '../../infra/http/authenticate.ts';
import { commandResultSchema, entityIdOf } from '../../infra/http/fields.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { commandContextOf, expectedRevisionFrom, ifMatchHeader, respondWithOutcome } from '../http.ts';
import type { ContactCommands } from './contact-commands.ts';
import { engagementBody } from '../workflows/schemas.ts';
import { changeTagsBody, createContactBody, createContactExample, updateContactBody } from './schemas.ts';

const problems = {
  400: { description: 'Invalid input; `invalid-params` names each bad field' },
  404: { description: 'No such contact in your organization' },
  409: { description: 'Stale If-Match revision, or the email belongs to another contact' },
  413: { description: 'Body too large' },
  415: { description: 'Body is not JSON' },
};

const contactIdOf = (params: Record<string, string>) => entityIdOf(params, 'Contact');

export function contactCommandRoutes(commands: ContactCommands): AnyRoute[] {
  return [
    defineRoute({
      method: 'post',
      path: '/contacts',
      operationId: 'createContact',
      summary: 'Create a contact',
      description:
        'The email must be unique among the live contacts of your organization. A plan that limits contacts refuses the one beyond ' +
        'its limit (402 plan_limit_reached, with the limit, your usage, the plan and where to upgrade); deleting a contact frees its place.',
      tag: 'Contacts',
      auth: 'bearer',
      permission: 'contacts:write',
      body: createContactBody,
      bodyExample: createContactExample,
      responses: {
        201: { description: 'Created', schema: commandResultSchema, headers: { ETag: 'Revision', Location: 'URL of the contact' } },
        ...problems,
        402: { description: "The plan's contacts limit is reached (plan_limit_reached), or the organization is restricted" },
      },
      async handler(ctx, { body }) {
        const auth = authOf(ctx);
        const outcome = await commands.create(commandContextOf(ctx), auth.organizationId, body);
        ctx.set('Location', `/contacts/${outcome.id}`);
        respondWithOutcome(ctx, outcome.id, outcome, 201);
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/contacts/:id',
      operationId: 'updateContact',
      summary: 'Change some fields of a contact',
      description: 'Merge-patch: absent fields stay, null clears a field (or removes a custom field).',
      tag: 'Contacts',
      auth: 'bearer',
      permission: 'contacts:write',
      body: updateContactBody,
      bodyExample: { title: 'CTO', customFields: { leadScore: 92, source: null } },
      headers: [ifMatchHeader],
      responses: { 200: { description: 'Changed (or already so)', schema: commandResultSchema }, ...problems },
      async handler(ctx, { body, params }) {
        const id = contactIdOf(params);
        const expected = expectedRevisionFrom(ctx);
        const outcome = await commands.update(commandContextOf(ctx), authOf(ctx).organizationId, id, body as ContactChanges, expected);
        respondWithOutcome(ctx, id, outcome);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/contacts/:id/tags',
      operationId: 'changeContactTags',
      summary: 'Add and/or remove tags',
      tag: 'Contacts',
      auth: 'bearer',
      permission: 'contacts:write',
      body: changeTagsBody,
      bodyExample: { add: ['customer'], remove: ['prospect'] },
      headers: [ifMatchHeader],
      responses: { 200: { description: 'Tags changed (or already so)', schema: commandResultSchema }, ...problems },
      async handler(ctx, { body, params }) {
        const id = contactIdOf(params);
        const expected = expectedRevisionFrom(ctx);
        const outcome = await commands.changeTags(
          commandContextOf(ctx),
          authOf(ctx).organizationId,
          id,
          { add: body.add ?? [], remove: body.remove ?? [] },
          expected,
        );
        respondWithOutcome(ctx, id, outcome);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/contacts/:id/engagement',
      operationId: 'recordContactEngagement',
      summary: 'Record that the contact replied, bounced, unsubscribed or is out of office',
      description: "Workflows whose exit rules name it stop (or pause) the contact's executions at their next step.",
      tag: 'Contacts',
      auth: 'bearer',
      permission: 'contacts:write',
      body: engagementBody,
      bodyExample: { type: 'replied' },
      responses: { 200: { description: 'Recorded', schema: commandResultSchema }, ...problems, 422: { description: 'out_of_office without until' } },
      async handler(ctx, { body, params }) {
        const id = contactIdOf(params);
        const context = commandContextOf(ctx);
        const outcome = await commands.recordEngagement(context, authOf(ctx).organizationId, id, {
          kind: body.type,
          at: body.at ? new Date(body.at).toISOString() : context.now.toISOString(),
          ...(body.until ? { until: new Date(body.until).toISOString() } : {}),
        });
        respondWithOutcome(ctx, id, outcome);
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/contacts/:id',
      operationId: 'deleteContact',
      summary: 'Delete a contact',
      description: 'Its email becomes free for another contact.',
      tag: 'Contacts',
      auth: 'bearer',
      permission: 'contacts:write',
      headers: [ifMatchHeader],
      responses: { 200: { description: 'Deleted', schema: commandResultSchema }, ...problems },
      async handler(ctx, { params }) {
        const id = contactIdOf(params);
        const expected = expectedRevisionFrom(ctx);
        const outcome = await commands.delete(commandContextOf(ctx), authOf(ctx).organizationId, id, expected);
        respondWithOutcome(ctx, id, outcome);
      },
    }),
  ];
}
