import type { MikroORM } from '@mikro-orm/postgresql';
import { uuidLike } from '../../infra/http/fields.ts';
import { ProblemError } from '../../infra/http/problem.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';
import { getContact, listContacts, toContactResponse } from './contact-queries.ts';
import { contactPageSchema, contactSchema, listContactsQuery } from './schemas.ts';

export function contactQueryRoutes(orm: MikroORM): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/contacts',
      operationId: 'listContacts',
      summary: 'List contacts, a page at a time',
      tag: 'Contacts',
      auth: 'bearer',
      permission: 'contacts:read',
      query: listContactsQuery,
      readModels: ['contacts'],
      responses: {
        200: { description: 'A page of contacts', schema: contactPageSchema },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        ctx.body = await listContacts(scopedEntityManager(orm, ctx), query);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/contacts/:id',
      operationId: 'getContact',
      summary: 'Get one contact',
      tag: 'Contacts',
      auth: 'bearer',
      permission: 'contacts:read',
      readModels: ['contacts'],
      responses: {
        200: { description: 'The contact', schema: contactSchema, headers: { ETag: 'Revision, for If-Match on commands' } },
        304: { description: 'Not modified since the ETag in If-None-Match' },
        404: { description: 'No such contact in your organization' },
      },
      async handler(ctx, { params }) {
        const id = params.id ?? '';
        const contact = uuidLike.test(id) ? await getContact(scopedEntityManager(orm, ctx), id.toLowerCase()) : null;
        if (!contact) throw ProblemError.notFound('Contact');
        const etag = `"${contact.revision}"`;
        ctx.set('ETag', etag);
        ctx.set('Cache-Control', 'private, no-cache');
        if (ctx.get('If-None-Match') === etag) {
          ctx.status = 304;
          return;
        }
        ctx.body = toContactResponse(contact);
      },
    }),
  ];
}
