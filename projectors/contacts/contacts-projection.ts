import type { EntityManager } from '@mikro-orm/postgresql';
import { applyChanges, contactEventTypes, type ContactEvent } from '../../domain/contacts/contact.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { CopyValue } from '../../infra/postgres/copy-format.ts';
import { COPY_FROM_ROWS, copyRows, executeBound, writeBound, pgArray } from '../../infra/readmodels/orm.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { sortNameOf, type ContactView } from './contact-view.ts';

export const contactsProjection: Projection = {
  name: 'contacts',
  eventTypes: new Set(contactEventTypes),
  sqlOnly: true,

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    // Contacts created in this batch are folded as plain rows and inserted at once at the end (the bulk of
    // a catch-up); contacts that already exist are loaded, changed in memory and written back in one
    // statement, those deleted removed in one. A duplicate create fails the insert, and the runner isolates
    // and parks that event.
    const createdHere = new Set(
      events.filter((event) => event.type === 'ContactCreated').map((event) => (event.data as { contactId: string }).contactId),
    );
    const existingIds = [...new Set(events.map((event) => (event.data as { contactId: string }).contactId))].filter((id) => !createdHere.has(id));
    const contacts = new Map<string, ContactView>((existingIds.length === 0 ? [] : await loadContacts(em, existingIds)).map((row) => [row.id, row]));
    const fresh = new Map<string, ContactView>();
    const changed = new Set<ContactView>();
    const removed = new Set<string>();

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
        if (left && !fresh.delete(left.id)) removed.add(left.id);
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
          removed.add(view.id);
          contacts.delete(view.id);
          continue;
      }
      view.updatedAt = at;
      view.revision = event.revision;
      if (!fresh.has(view.id)) changed.add(view);
    }
    if (removed.size > 0) {
      await writeBound(em, 'DELETE FROM contacts WHERE id IN (SELECT value::uuid FROM json_array_elements_text(?::json))', [
        JSON.stringify([...removed]),
      ]);
    }
    const updated = [...changed].filter((view) => !removed.has(view.id));
    if (updated.length > 0) await updateContacts(em, updated);
    if (fresh.size > 0) await insertContacts(em, [...fresh.values()]);
  },
};

/** The rows of these contacts as the fold works on them. */
async function loadContacts(em: EntityManager, ids: string[]): Promise<ContactView[]> {
  type Stored = Omit<ContactView, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string };
  const rows = await executeBound<Stored>(
    em,
    `SELECT id, organization_id AS "organizationId", email, first_name AS "firstName", last_name AS "lastName", phone, company, title,
            timezone, custom_fields AS "customFields", tags, sort_name AS "sortName", created_at AS "createdAt", updated_at AS "updatedAt", revision
     FROM contacts WHERE id IN (SELECT value::uuid FROM json_array_elements_text(?::json))`,
    [JSON.stringify(ids)],
  );
  // The ORM's connection hands timestamps back as text.
  return rows.map((row) => ({ ...row, createdAt: new Date(row.createdAt), updatedAt: new Date(row.updatedAt) }));
}

/** Changed rows written back in one statement (every column but the id and the creation time). */
async function updateContacts(em: EntityManager, rows: ContactView[]): Promise<void> {
  await writeBound(
    em,
    `UPDATE contacts c SET organization_id = r.organization_id, email = r.email, first_name = r.first_name, last_name = r.last_name,
            phone = r.phone, company = r.company, title = r.title, timezone = r.timezone, custom_fields = r.custom_fields, tags = r.tags,
            sort_name = r.sort_name, updated_at = r.updated_at, revision = r.revision
     FROM json_to_recordset(?::json) AS r(id uuid, organization_id uuid, email text, first_name text, last_name text, phone text,
          company text, title text, timezone text, custom_fields jsonb, tags text[], sort_name text, created_at timestamptz,
          updated_at timestamptz, revision integer)
     WHERE c.id = r.id`,
    [JSON.stringify(rows.map(columnsOf))],
  );
}

const INSERTED_COLUMNS = [
  'id',
  'organization_id',
  'email',
  'first_name',
  'last_name',
  'phone',
  'company',
  'title',
  'timezone',
  'custom_fields',
  'tags',
  'sort_name',
  'created_at',
  'updated_at',
  'revision',
] as const;
const CUSTOM_FIELDS = INSERTED_COLUMNS.indexOf('custom_fields');
const TAGS = INSERTED_COLUMNS.indexOf('tags');

/**
 * New rows: a large batch (a catch-up, an import) by COPY where the server takes it (cheaper per row: see
 * copyRows); else in one statement with one parameter, the batch travelling as JSON that the server unpacks
 * (much cheaper than an INSERT with every value inlined into the SQL text).
 */
async function insertContacts(em: EntityManager, rows: ContactView[]): Promise<void> {
  if (rows.length >= COPY_FROM_ROWS) {
    // columnsOf's properties are in the order of INSERTED_COLUMNS: its values are the COPY fields, but for the
    // two that COPY takes in their own text form.
    const values = rows.map((row) => {
      const fields = Object.values(columnsOf(row)) as CopyValue[];
      fields[CUSTOM_FIELDS] = JSON.stringify(row.customFields);
      fields[TAGS] = pgArray(row.tags);
      return fields;
    });
    if (await copyRows(em, 'contacts', INSERTED_COLUMNS, values)) return;
  }
  await writeBound(em, INSERT_SQL, [JSON.stringify(rows.map(columnsOf))]);
}

const INSERT_SQL = `INSERT INTO contacts (${INSERTED_COLUMNS.join(', ')})
  SELECT ${INSERTED_COLUMNS.join(', ')}
  FROM json_to_recordset(?::json) AS r(id uuid, organization_id uuid, email text, first_name text, last_name text,
       phone text, company text, title text, timezone text, custom_fields jsonb, tags text[], sort_name text,
       created_at timestamptz, updated_at timestamptz, revision integer)`;

/** A row as its table's columns, for json_to_recordset (and, in this order, for COPY). */
function columnsOf(row: ContactView) {
  return {
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
  };
}
