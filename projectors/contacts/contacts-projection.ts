import type { EntityManager } from '@mikro-orm/postgresql';
import { applyChanges, contactEventTypes, type ContactEvent } from '../../domain/contacts/contact.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { ContactViewSchema, sortNameOf, type ContactView } from './contact-view.ts';

export const contactsProjection: Projection = {
  name: 'contacts',
  eventTypes: new Set(contactEventTypes),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const ids = [...new Set(events.map((event) => (event.data as { contactId: string }).contactId))];
    const rows = await em.find(ContactViewSchema, { id: { $in: ids } }, { filters: false });
    const contacts = new Map<string, ContactView>(rows.map((row) => [row.id, row]));

    for (const event of events as RecordedEvent<ContactEvent>[]) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'ContactCreated') {
        const { contactId, organizationId, tags, ...fields } = event.data;
        if (contacts.has(contactId)) throw new ProjectionError(`contact ${contactId} already exists`);
        const view = em.create(ContactViewSchema, {
          id: contactId,
          organizationId,
          ...fields,
          tags: [...tags],
          sortName: sortNameOf(fields),
          createdAt: at,
          updatedAt: at,
          revision: event.revision,
        });
        contacts.set(contactId, view);
        continue;
      }
      const view = contacts.get(event.data.contactId);
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
          em.remove(view);
          contacts.delete(view.id);
          continue;
      }
      view.updatedAt = at;
      view.revision = event.revision;
    }
  },
};
