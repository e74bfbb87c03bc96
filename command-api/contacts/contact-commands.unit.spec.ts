import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { contactStream, type Contact } from '../../domain/contacts/contact.ts';
import { ConflictError, NotFoundError, RuleViolationError } from '../../domain/errors.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { commandSpec, rejection, type CommandSpec } from '../../test/support/command-spec.ts';
import { WrongExpectedRevisionError, type EventStreams } from '../ports.ts';
import { claimStreamId, type ValueClaims } from '../uniqueness/value-claims.ts';
import type { ContactCommands } from './contact-commands.ts';
import { contactServicesModule } from './module.ts';

describe('contact commands (in-memory event store)', () => {
  let commands: CommandSpec;
  let contacts: ContactCommands;
  const acme = randomUUID();
  const globex = randomUUID();

  beforeEach(async () => {
    commands = commandSpec([contactServicesModule]);
    contacts = await commands.get<ContactCommands>(TOKENS.ContactCommands);
  });

  const create = (email: string, organizationId = acme, extra: Record<string, unknown> = {}) =>
    contacts.create(commands.context(organizationId), organizationId, { email, ...extra });
  const emailClaim = (organizationId: string, email: string) => claimStreamId('contactEmail', organizationId, email);

  it('creates a contact with its fields and tags, and claims its email in the same append', async () => {
    const created = await create('ada@example.com', acme, { firstName: 'Ada', tags: ['vip', 'vip', 'emea'] });
    expect(created).to.include({ revision: 0 });
    expect(created.position).to.match(/^\d+$/);
    expect(created.state).to.deep.include({ status: 'active', id: created.id, email: 'ada@example.com', firstName: 'Ada', tags: ['vip', 'emea'] });

    const [event] = await commands.events(contactStream(created.id));
    expect(event).to.deep.include({ type: 'ContactCreated', revision: 0 });
    expect(event!.data).to.deep.include({ contactId: created.id, organizationId: acme, email: 'ada@example.com', lastName: null, customFields: {} });
    expect(event!.metadata.tenantId).to.equal(acme);
    const claim = await commands.events(emailClaim(acme, 'ada@example.com'));
    expect(claim.map((e) => [e.type, e.data])).to.deep.equal([['ValueClaimed', { ownerId: created.id }]]);
    // One append: the claim and the contact side by side in the log.
    expect(claim[0]!.position).to.equal(String(Number(event!.position) - 1));
  });

  it('refuses a second live contact with the same email in an organization (ConflictError on the email), not in another one', async () => {
    const ada = await create('ada@example.com');
    const duplicate = await rejection(create('ada@example.com', acme, { firstName: 'Impostor' }));
    expect(duplicate).to.be.instanceOf(ConflictError);
    expect(duplicate).to.include({ code: 'duplicate', field: 'email' });
    expect(await create('ada@example.com', globex)).to.include({ revision: 0 });
    expect((await commands.log()).filter((type) => type === 'ContactCreated')).to.have.length(2);
    expect((await commands.events(emailClaim(acme, 'ada@example.com'))).map((e) => e.data)).to.deep.equal([{ ownerId: ada.id }]);
  });

  it('lets exactly one of many concurrent creations with one email win; the others get ConflictError', async () => {
    const attempts = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => create('grace@example.com', acme, { firstName: `Grace ${i}` })));
    const won = attempts.filter((a) => a.status === 'fulfilled');
    const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    expect(won).to.have.length(1);
    expect(lost).to.have.length(11);
    for (const { reason } of lost) expect(reason).to.be.instanceOf(ConflictError);
    expect((await commands.log()).filter((type) => type === 'ContactCreated')).to.have.length(1);
    const winner = (won[0] as PromiseFulfilledResult<{ id: string }>).value.id;
    const claim = await commands.events(emailClaim(acme, 'grace@example.com'));
    expect(claim.map((e) => e.data)).to.deep.equal([{ ownerId: winner }]);
  });

  it('lets one of many concurrent creations take over a freed email (a released claim), the others get ConflictError', async () => {
    const ada = await create('ada@example.com');
    await contacts.delete(commands.context(acme), acme, ada.id);
    const attempts = await Promise.allSettled(Array.from({ length: 8 }, () => create('ada@example.com')));
    expect(attempts.filter((a) => a.status === 'fulfilled')).to.have.length(1);
    for (const attempt of attempts) if (attempt.status === 'rejected') expect(attempt.reason).to.be.instanceOf(ConflictError);
    expect((await commands.log()).filter((type) => type === 'ContactCreated')).to.have.length(2);
    // The winner holds the email now.
    expect(await rejection(create('ada@example.com'))).to.be.instanceOf(ConflictError);
  });

  it('updates with If-Match: the current revision applies, a stale one is WrongExpectedRevisionError and changes nothing', async () => {
    const ada = await create('ada@example.com', acme, { firstName: 'Ada' });
    const context = commands.context(acme);
    const updated = await contacts.update(context, acme, ada.id, { lastName: 'Lovelace' }, 0);
    expect(updated.revision).to.equal(1);
    const stale = await rejection(contacts.update(context, acme, ada.id, { lastName: 'King' }, 0));
    expect(stale).to.be.instanceOf(WrongExpectedRevisionError);
    expect(stale).to.include({ streamId: contactStream(ada.id), expected: 0, actual: 1 });
    // Without If-Match the command decides on the current state.
    expect((await contacts.update(context, acme, ada.id, { lastName: 'King' })).revision).to.equal(2);
    // An update that changes nothing records nothing.
    expect((await contacts.update(context, acme, ada.id, { lastName: 'King' })).appended).to.deep.equal([]);
    expect((await commands.events(contactStream(ada.id))).map((e) => e.type)).to.deep.equal(['ContactCreated', 'ContactUpdated', 'ContactUpdated']);
  });

  it('moves the claim when the email changes: the new one must be free, the old one is free afterwards', async () => {
    const ada = await create('ada@example.com');
    await create('grace@example.com');
    const taken = await rejection(contacts.update(commands.context(acme), acme, ada.id, { email: 'grace@example.com' }));
    expect(taken).to.be.instanceOf(ConflictError);
    const moved = await contacts.update(commands.context(acme), acme, ada.id, { email: 'ada@engines.test' });
    expect((moved.state as Extract<Contact, { status: 'active' }>).email).to.equal('ada@engines.test');
    expect(await create('ada@example.com')).to.include({ revision: 0 });
  });

  it('keeps an email claimed by a contact whose change to it is under way: a creation then gets ConflictError', async () => {
    const ada = await create('ada@example.com');
    // A change of Ada's email claims the new one first, then records the change: between the two appends,
    // her claim stands while her contact still has the old address.
    const claims = await commands.get<ValueClaims>(TOKENS.ValueClaims);
    const claim = claims.firstClaim(emailClaim(acme, 'ada@engines.test'), ada.id, commands.context(acme));
    await commands.get<EventStreams>(TOKENS.EventStore).then((store) => store.append(claim.streamId, claim.events, claim.expectedRevision));
    const twin = await rejection(create('ada@engines.test', acme, { firstName: 'Twin' }));
    expect(twin).to.be.instanceOf(ConflictError);
    expect(twin).to.include({ code: 'duplicate', field: 'email' });
    // The change completes: Ada has the address, and nobody else does.
    const moved = await contacts.update(commands.context(acme), acme, ada.id, { email: 'ada@engines.test' });
    expect((moved.state as Extract<Contact, { status: 'active' }>).email).to.equal('ada@engines.test');
    expect((await commands.log()).filter((type) => type === 'ContactCreated')).to.have.length(1);
  });

  it('deletes a contact and frees its email for a new contact; a second delete is NotFoundError', async () => {
    const ada = await create('ada@example.com');
    const deleted = await contacts.delete(commands.context(acme), acme, ada.id);
    expect(deleted.appended.map((e) => e.type)).to.deep.equal(['ContactDeleted']);
    expect((await commands.events(emailClaim(acme, 'ada@example.com'))).map((e) => e.type)).to.deep.equal(['ValueClaimed', 'ValueReleased']);

    const again = await create('ada@example.com', acme, { firstName: 'Ada again' });
    expect(again.id).not.to.equal(ada.id);
    expect(await rejection(contacts.delete(commands.context(acme), acme, ada.id))).to.be.instanceOf(NotFoundError);
    expect(await rejection(contacts.update(commands.context(acme), acme, ada.id, { firstName: 'Ghost' }))).to.be.instanceOf(NotFoundError);
  });

  it("treats another organization's contact as not found, whatever the command", async () => {
    const ada = await create('ada@example.com');
    const asGlobex = commands.context(globex);
    expect(await rejection(contacts.update(asGlobex, globex, ada.id, { firstName: 'Stolen' }))).to.be.instanceOf(NotFoundError);
    expect(await rejection(contacts.update(asGlobex, globex, ada.id, { email: 'stolen@globex.test' }))).to.be.instanceOf(NotFoundError);
    expect(await rejection(contacts.changeTags(asGlobex, globex, ada.id, { add: ['x'], remove: [] }))).to.be.instanceOf(NotFoundError);
    expect(await rejection(contacts.delete(asGlobex, globex, ada.id))).to.be.instanceOf(NotFoundError);
    // Even with its own organization id in the command: the stream belongs to Acme.
    expect(await rejection(contacts.delete(asGlobex, acme, ada.id))).to.be.instanceOf(NotFoundError);
    expect(await commands.events(contactStream(ada.id))).to.have.length(1);
    expect(await rejection(contacts.update(commands.context(acme), acme, randomUUID(), { firstName: 'Nobody' }))).to.be.instanceOf(NotFoundError);
  });

  it('adds and removes tags once each, and refuses a tag both added and removed', async () => {
    const ada = await create('ada@example.com', acme, { tags: ['lead'] });
    const changed = await contacts.changeTags(commands.context(acme), acme, ada.id, { add: ['vip', 'vip', 'emea'], remove: ['lead', 'cold'] });
    expect(changed.appended.map((e) => [e.type, (e.data as { tag: string }).tag])).to.deep.equal([
      ['ContactUntagged', 'lead'],
      ['ContactTagged', 'vip'],
      ['ContactTagged', 'emea'],
    ]);
    const again = await contacts.changeTags(commands.context(acme), acme, ada.id, { add: ['vip'], remove: ['lead'] });
    expect(again.appended, 'nothing left to change').to.deep.equal([]);
    const contradictory = await rejection(contacts.changeTags(commands.context(acme), acme, ada.id, { add: ['vip'], remove: ['vip'] }));
    expect(contradictory).to.be.instanceOf(RuleViolationError);
    expect(contradictory).to.include({ code: 'contradictory_tags', field: 'remove' });
  });
});
