import type { EntityManager } from '@mikro-orm/postgresql';
import { applyChanges, contactEventTypes, type ContactEvent } from '../../domain/contacts/contact.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { executeBound } from '../../infra/readmodels/orm.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { ContactViewSchema, sortNameOf, type ContactView } from './contact-view.ts';

export const contactsProjection: Projection = {
  name: 'contacts',
  eventTypes: new Set(contactEventTypes),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    // Contacts created in this batch are folded as plain rows and inserted at once at the end (the bulk of
    // a catch-up); only contacts that already exist are loaded as entities and changed through the unit of
    // work. A duplicate create fails the insert, and the runner isolates and parks that event.
    const createdHere = new Set(
      events.filter((event) => event.type === 'ContactCreated').map((event) => (event.data as { contactId: string }).contactId),
    );
    const existingIds = [...new Set(events.map((event) => (event.data as { contactId: string }).contactId))].filter((id) => !createdHere.has(id));
    const rows = existingIds.length === 0 ? [] : await em.find(ContactViewSchema, { id: { $in: existingIds } }, { filters: false });
    const contacts = new Map<string, ContactView>(rows.map((row) => [row.id, row]));
    const fresh = new Map<string, ContactView>();

    for (const event of events as RecordedEvent<ContactEvent>[]) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'ContactCreated') {
        const { contactId, organizationId, tags, ...fields } = event.data;
        if (contacts.has(contactId) || fresh.has(contactId)) throw new ProjectionError(`contact ${contactId} already exists`);
        fresh.set(contactId, {
          id: contactId,
          organizationId,
          ...fields,
          tags: [...tags],
          sortName: sortNameOf(fields),
          createdAt: at,
          updatedAt: at,
          revision: event.revision,
        });
        continue;
      }
      if (event.type === 'ContactErased') {
        // Deleted already (erasure follows deletion); a row still here goes too.
        const left = fresh.get(event.data.contactId) ?? contacts.get(event.data.contactId);
        if (left && !fresh.delete(left.id)) em.remove(left);
        contacts.delete(event.data.contactId);
        continue;
      }
      const view = fresh.get(event.data.contactId) ?? contacts.get(event.data.contactId);
      if (!view) throw new ProjectionError(`contact ${event.data.contactId} is not in the read model`);
      switch (event.type) {
        case 'ContactUpdated':
          Object.assign(view, applyChanges(view, event.data.changes));
          view.sortName = sortNameOf(view);
          break;
        case 'ContactTagged':
          if (!view.tags.includes(event.data.tag)) view.tags = [...view.tags, event.data.tag];
          break;
        case 'ContactUntagged':
          view.tags = view.tags.filter((tag) => tag !== event.data.tag);
          break;
        case 'ContactDeleted':
          if (fresh.delete(view.id)) continue;
          em.remove(view);
          contacts.delete(view.id);
          continue;
      }
      view.updatedAt = at;
      view.revision = event.revision;
    }
    if (fresh.size > 0) await insertContacts(em, [...fresh.values()]);
  },
};

/**
 * New rows in one statement with one parameter: the batch travels as JSON and the server unpacks it. Much
 * cheaper than an INSERT with every value inlined into the SQL text, which is what a catch-up spends its
 * time on otherwise.
 */
async function insertContacts(em: EntityManager, rows: ContactView[]): Promise<void> {
  await executeBound(
    em,
    `INSERT INTO contacts (id, organization_id, email, first_name, last_name, phone, company, title, timezone,
                           custom_fields, tags, sort_name, created_at, updated_at, revision)
     SELECT id, organization_id, email, first_name, last_name, phone, company, title, timezone,
            custom_fields, tags, sort_name, created_at, updated_at, revision
     FROM jsonb_to_recordset(?::jsonb) AS r(id uuid, organization_id uuid, email text, first_name text, last_name text,
          phone text, company text, title text, timezone text, custom_fields jsonb, tags text[], sort_name text,
          created_at timestamptz, updated_at timestamptz, revision integer)`,
    [
      JSON.stringify(
        rows.map((row) => ({
          id: row.id,
          organization_id: row.organizationId,
          email: row.email,
          first_name: row.firstName,
          last_name: row.lastName,
          phone: row.phone,
          company: row.company,
          title: row.title,
          timezone: row.timezone,
          custom_fields: row.customFields,
          tags: row.tags,
          sort_name: row.sortName,
          created_at: row.createdAt.toISOString(),
          updated_at: row.updatedAt.toISOString(),
          revision: row.revision,
        })),
      ),
    ],
  );
}
