import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { COPY_FROM_ROWS } from '../../infra/readmodels/orm.ts';
import { contactStream, type ContactEvent } from '../../domain/contacts/contact.ts';
import { at, fact, projectionSpec, rowsOf, type Fact } from '../../test/support/projection-spec.ts';
import { ContactViewSchema, type ContactView } from './contact-view.ts';
import { contactsProjection } from './contacts-projection.ts';

describe('contacts projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(contactsProjection);

  function contact(organizationId = randomUUID(), tags = ['lead']) {
    const contactId = randomUUID();
    const email = `${contactId}@example.com`;
    const metadata = { tenantId: organizationId, actor: { type: 'user' as const, id: randomUUID() } };
    /** A fact of this contact's stream at `minutes`. */
    const event = (e: ContactEvent, minutes = 0): Fact => fact(contactStream(contactId), e, { ...metadata, occurredAt: at(minutes) });
    const created = event({
      type: 'ContactCreated',
      version: 1,
      data: {
        contactId,
        organizationId,
        email,
        firstName: 'Ada',
        lastName: 'Lovelace',
        phone: null,
        company: 'Analytical Engines',
        title: null,
        timezone: 'Europe/London',
        customFields: { score: 7 },
        tags,
      },
    });
    const row = (overrides: Partial<ContactView> = {}): ContactView => ({
      id: contactId,
      organizationId,
      email,
      firstName: 'Ada',
      lastName: 'Lovelace',
      phone: null,
      company: 'Analytical Engines',
      title: null,
      timezone: 'Europe/London',
      customFields: { score: 7 },
      tags,
      sortName: 'lovelace ada',
      createdAt: new Date(at(0)),
      updatedAt: new Date(at(0)),
      revision: 0,
      ...overrides,
    });
    return {
      contactId,
      organizationId,
      metadata,
      created,
      row,
      updated: (changes: Extract<ContactEvent, { type: 'ContactUpdated' }>['data']['changes'], m: number) =>
        event({ type: 'ContactUpdated', version: 1, data: { contactId, changes } }, m),
      tagged: (tag: string, m: number) => event({ type: 'ContactTagged', version: 1, data: { contactId, tag } }, m),
      untagged: (tag: string, m: number) => event({ type: 'ContactUntagged', version: 1, data: { contactId, tag } }, m),
      engaged: (m: number) => event({ type: 'ContactEngagementRecorded', version: 1, data: { contactId, kind: 'replied', at: at(m) } }, m),
      deleted: (m: number) => event({ type: 'ContactDeleted', version: 1, data: { contactId, email } }, m),
      erased: (m: number) => event({ type: 'ContactErased', version: 1, data: { contactId, organizationId } }, m),
      rows: rowsOf(ContactViewSchema, { tenant: organizationId }),
    };
  }

  it('adds a contact with its fields, tags and sort name, for its organization only', async () => {
    const ada = contact();
    const scenario = spec.given(ada.created);
    await scenario.then(ada.rows, [ada.row()]);
    await scenario.then(rowsOf(ContactViewSchema, { tenant: randomUUID() }), []);
  });

  it('applies an update as a merge patch (null clears a field, a null custom field goes) and sorts by the new name', async () => {
    const ada = contact();
    const update = ada.updated({ lastName: 'King', title: 'Countess', timezone: null, customFields: { score: null, plan: 'gold', beta: true } }, 10);
    const expected = [
      ada.row({
        lastName: 'King',
        title: 'Countess',
        timezone: null,
        customFields: { plan: 'gold', beta: true },
        sortName: 'king ada',
        updatedAt: new Date(at(10)),
        revision: 1,
      }),
    ];
    await spec.given(ada.created, update).then(ada.rows, expected);
    await spec.given(ada.created).when(update).then(ada.rows, expected);
  });

  it('adds a tag once and removes it; an engagement moves only its revision and update time', async () => {
    const ada = contact();
    const changes = [ada.tagged('vip', 1), ada.tagged('vip', 2), ada.untagged('lead', 3), ada.engaged(4)];
    const expected = [ada.row({ tags: ['vip'], updatedAt: new Date(at(4)), revision: 4 })];
    await spec.given(ada.created, changes).then(ada.rows, expected);
    await spec.given(ada.created).when(changes).then(ada.rows, expected);
    await spec.given(ada.created, changes).inBatchesOf(1).then(ada.rows, expected);
  });

  it('removes a deleted contact, whether it was created in the same batch or earlier; erasure after deletion finds nothing to do', async () => {
    const kept = contact();
    const gone = contact(kept.organizationId);
    const brief = contact(kept.organizationId);
    const erasedWhileThere = contact(kept.organizationId);
    const history = [kept.created, gone.created, brief.created, brief.deleted(1), erasedWhileThere.created];
    const later = [gone.deleted(2), gone.erased(3), brief.erased(4), erasedWhileThere.erased(5)];
    await spec.given(history, later).then(kept.rows, [kept.row()]);
    await spec.given(history).when(later).then(kept.rows, [kept.row()]);
  });

  it('builds the same rows whether the events come in one batch, one by one, or across a restart', async () => {
    const ada = contact();
    const grace = contact(ada.organizationId, []);
    const facts = [
      ada.created,
      ada.tagged('vip', 1),
      grace.created,
      ada.updated({ firstName: 'Augusta' }, 2),
      grace.tagged('new', 3),
      ada.untagged('lead', 4),
      grace.engaged(5),
    ];
    const together = await spec.given(facts).rows(ada.rows);
    await spec.given(facts).inBatchesOf(1).then(ada.rows, together);
    await spec.given(facts.slice(0, 2)).when(facts.slice(2)).inBatchesOf(3).then(ada.rows, together);
  });

  it('adds the same rows by COPY and by statement (the embedded database), in one batch or one at a time, whatever characters the values hold', async () => {
    const organizationId = randomUUID();
    const odd = 'tab\there, new\nline, return\r, backslash \\ and \\N and \\., "quotes", {braces}, comma, NULL, é ✓ 🚀';
    const facts = Array.from({ length: COPY_FROM_ROWS + 20 }, (_, i) => {
      const ada = contact(organizationId, [`${odd} ${i}`, 'a,b', '{x}', 'back\\slash', 'NULL']);
      const created = ada.created.event as Extract<ContactEvent, { type: 'ContactCreated' }>;
      return fact(
        ada.created.streamId,
        {
          ...created,
          data: { ...created.data, firstName: `${odd} ${i}`, lastName: i % 2 ? null : odd, customFields: { note: odd, nested: { list: [odd, i] } } },
        },
        { ...ada.metadata, occurredAt: at(i) },
      );
    });
    const rows = rowsOf(ContactViewSchema, { tenant: organizationId });
    const together = await spec
      .given(facts)
      .inBatchesOf(COPY_FROM_ROWS + 100)
      .rows(rows);
    expect(together).to.have.length(facts.length);
    const first = together.find((row) => row.firstName === `${odd} 0`)!;
    expect(first.tags).to.have.members([`${odd} 0`, 'a,b', '{x}', 'back\\slash', 'NULL']);
    expect(first.customFields).to.deep.equal({ note: odd, nested: { list: [odd, 0] } });
    expect(first.lastName).to.equal(odd);
    await spec.given(facts).inBatchesOf(1).then(rows, together);
    await spec
      .given(facts)
      .inBatchesOf(COPY_FROM_ROWS + 100)
      .asOnEmbedded()
      .then(rows, together);
    await spec.given(facts).inBatchesOf(7).asOnEmbedded().then(rows, together);
  });

  it('parks a second creation (the table refuses its row) and a change to a contact it never saw, and goes on', async () => {
    const ada = contact();
    const copy = fact(`${contactStream(ada.contactId)}-copy`, ada.created.event, ada.metadata);
    const stranger = contact(ada.organizationId);
    const renamed = ada.updated({ firstName: 'Augusta' }, 6);
    const expected = [ada.row({ firstName: 'Augusta', sortName: 'lovelace augusta', updatedAt: new Date(at(6)), revision: 1 })];

    const duplicate = /duplicate key value violates unique constraint "contacts_pkey"/;
    // In one batch the projection refuses the copy (ProjectionError); the runner then applies the events one
    // by one to find the culprit, and alone the copy is an insert that the table refuses: a data error.
    const sameBatch = spec.given(ada.created, copy, stranger.tagged('vip', 5), renamed);
    await sameBatch.thenParked([
      { eventType: 'ContactCreated', error: duplicate },
      { eventType: 'ContactTagged', error: /is not in the read model/ },
    ]);
    await sameBatch.then(ada.rows, expected);
    // In a later batch the copy is inserted like any new contact, and the table refuses it at once.
    const laterBatch = spec.given(ada.created).when(copy, renamed);
    await laterBatch.thenParked([{ eventType: 'ContactCreated', error: duplicate }]);
    await laterBatch.then(ada.rows, expected);
  });
});
