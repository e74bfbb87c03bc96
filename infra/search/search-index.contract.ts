import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { GenerationalStore } from '../../projectors/rebuild/ports.ts';
import type { SearchIndexWriter } from '../../projectors/search/ports.ts';
import type { ContactDocument, ExecutionDocument } from '../../projectors/search/search-documents.ts';
import { InvalidCursorError, type SearchReader } from '../../query-api/search/ports.ts';

export type SearchIndexUnderTest = SearchIndexWriter & SearchReader & GenerationalStore<SearchIndexWriter>;

let version = 1_000;
const nextVersion = () => ++version;

function contact(tenantId: string, fields: Partial<ContactDocument> & { email: string }): ContactDocument {
  return {
    id: randomUUID(),
    tenantId,
    firstName: null,
    lastName: null,
    company: null,
    title: null,
    tags: [],
    createdAt: '2026-11-01T10:00:00.000Z',
    updatedAt: '2026-11-01T10:00:00.000Z',
    deleted: false,
    version: nextVersion(),
    ...fields,
  };
}

function execution(tenantId: string, fields: Partial<ExecutionDocument>): ExecutionDocument {
  return {
    id: randomUUID(),
    tenantId,
    workflowId: randomUUID(),
    workflowName: 'Onboarding drip',
    contactId: randomUUID(),
    contactEmail: 'someone@example.com',
    contactName: 'Some One',
    status: 'running',
    cause: 'manual',
    error: null,
    startedAt: '2026-11-01T10:00:00.000Z',
    endedAt: null,
    updatedAt: '2026-11-01T10:00:00.000Z',
    deleted: false,
    version: nextVersion(),
    ...fields,
  };
}

const emails = (hits: { document: { email: string } }[]) => hits.map((hit) => hit.document.email).sort();

/**
 * What every search engine behind the search port must do, as a user of /search sees it. Each test works in
 * tenants of its own, so the suite needs no clean-up and proves tenant scoping as it goes.
 */
export function searchIndexContract(
  name: string,
  /** `served`: the generation the index under test serves, as the generation registry would tell it. */
  open: (served: () => number) => Promise<{ index: SearchIndexUnderTest; close(): Promise<void> }>,
): void {
  describe(`search index contract: ${name}`, function () {
    this.timeout(30_000);
    let served = 1;
    let index: SearchIndexUnderTest;
    let close: () => Promise<void>;
    const tenant = randomUUID();
    const other = randomUUID();
    const contacts = {
      alice: contact(tenant, {
        email: 'alice.martin@acme.test',
        firstName: 'Alice',
        lastName: 'Martin',
        company: 'Acme Corp',
        tags: ['vip', 'emea'],
        createdAt: '2026-11-01T09:00:00.000Z',
      }),
      alicia: contact(tenant, {
        email: 'alicia@globex.test',
        firstName: 'Alicia',
        lastName: 'Keyes',
        company: 'Globex',
        tags: ['emea'],
        createdAt: '2026-11-02T09:00:00.000Z',
      }),
      john: contact(tenant, {
        email: 'john.smith@initech.test',
        firstName: 'John',
        lastName: 'Smith',
        company: 'Initech',
        tags: ['vip'],
        createdAt: '2026-11-03T09:00:00.000Z',
      }),
      bob: contact(tenant, {
        email: 'bob@example.com',
        firstName: 'Robert',
        lastName: 'Brown',
        company: 'Example',
        createdAt: '2026-11-04T09:00:00.000Z',
      }),
      bobOrg: contact(tenant, { email: 'bob@example.org', firstName: 'Bob', lastName: 'Stone', createdAt: '2026-11-05T09:00:00.000Z' }),
      // Same names in another tenant: never seen from `tenant`.
      otherAlice: contact(other, { email: 'alice@other.test', firstName: 'Alice', lastName: 'Martin', tags: ['vip'] }),
    };

    before(async () => {
      ({ index, close } = await open(() => served));
      await index.upsert('contacts', Object.values(contacts));
    });
    after(async () => close?.());

    const search = (q: Partial<Parameters<SearchReader['searchContacts']>[0]>) =>
      index.searchContacts({ tenantId: tenant, sort: 'relevance', limit: 20, ...q });

    it('finds contacts by the prefix of a name or company', async () => {
      expect(emails((await search({ q: 'ali' })).hits)).to.deep.equal(['alice.martin@acme.test', 'alicia@globex.test']);
      expect(emails((await search({ q: 'Initec' })).hits)).to.deep.equal(['john.smith@initech.test']);
    });

    it('tolerates typos in names (a swapped pair of letters is one typo)', async () => {
      expect(emails((await search({ q: 'jonh' })).hits)).to.deep.equal(['john.smith@initech.test']);
      expect(emails((await search({ q: 'smiht' })).hits)).to.deep.equal(['john.smith@initech.test']);
      expect(emails((await search({ q: 'martni' })).hits)).to.deep.equal(['alice.martin@acme.test']);
      expect((await search({ q: 'zzyzx' })).hits).to.have.length(0);
    });

    it('needs every word to match', async () => {
      expect(emails((await search({ q: 'alice mar' })).hits)).to.deep.equal(['alice.martin@acme.test']);
      expect((await search({ q: 'alice smith' })).hits).to.have.length(0);
    });

    it('matches an email address exactly, and only the email', async () => {
      const result = await search({ q: 'bob@example.com' });
      expect(emails(result.hits)).to.deep.equal(['bob@example.com']);
      expect(result.total).to.equal(1);
      expect(emails((await search({ q: 'BOB@example.ORG' })).hits)).to.deep.equal(['bob@example.org']);
      expect((await search({ q: 'bob@example' })).hits.map((h) => h.document.email)).to.not.include('bob@example.com');
    });

    it('filters by tags (all of them) and by creation date', async () => {
      expect(emails((await search({ tags: ['vip'] })).hits)).to.deep.equal(['alice.martin@acme.test', 'john.smith@initech.test']);
      expect(emails((await search({ tags: ['vip', 'emea'] })).hits)).to.deep.equal(['alice.martin@acme.test']);
      expect(emails((await search({ q: 'ali', tags: ['vip'] })).hits)).to.deep.equal(['alice.martin@acme.test']);
      const created = await search({ created: { from: '2026-11-02T00:00:00.000Z', to: '2026-11-04T09:00:00.000Z' } });
      expect(emails(created.hits)).to.deep.equal(['alicia@globex.test', 'bob@example.com', 'john.smith@initech.test']);
    });

    it('never returns or counts another tenant’s documents', async () => {
      const result = await search({ q: 'alice martin' });
      expect(result.hits.map((hit) => hit.document.tenantId)).to.deep.equal([tenant]);
      expect(result.total).to.equal(1);
      const fromOther = await index.searchContacts({ tenantId: other, q: 'ali', sort: 'relevance', limit: 20 });
      expect(emails(fromOther.hits)).to.deep.equal(['alice@other.test']);
      expect((await index.searchContacts({ tenantId: randomUUID(), sort: 'relevance', limit: 20 })).total).to.equal(0);
    });

    it('ranks a prefix match above a typo match', async () => {
      const extra = randomUUID();
      await index.upsert('contacts', [
        contact(extra, { email: 'mark@a.test', firstName: 'Mark' }),
        contact(extra, { email: 'marc@a.test', firstName: 'Marc' }),
      ]);
      const result = await index.searchContacts({ tenantId: extra, q: 'mark', sort: 'relevance', limit: 20 });
      expect(result.hits.map((hit) => hit.document.email)).to.deep.equal(['mark@a.test', 'marc@a.test']);
      expect(result.hits[0]!.score).to.be.a('number').greaterThan(result.hits[1]!.score!);
    });

    it('highlights what matched', async () => {
      const [hit] = (await search({ q: 'alici' })).hits;
      expect(hit!.document.email).to.equal('alicia@globex.test');
      expect(hit!.highlights.name?.join(' ')).to.match(/<em>Alici/);
      const [byEmail] = (await search({ q: 'bob@example.com' })).hits;
      expect(byEmail!.highlights.email).to.deep.equal(['<em>bob@example.com</em>']);
    });

    it('sorts by name and by creation, and pages with search_after cursors', async () => {
      const byName = await search({ sort: 'name' });
      expect(byName.hits.map((hit) => hit.document.lastName)).to.deep.equal(['Brown', 'Keyes', 'Martin', 'Smith', 'Stone']);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 5; page++) {
        const result = await search({ sort: '-createdAt', limit: 2, ...(cursor ? { cursor } : {}) });
        expect(result.total).to.equal(5);
        seen.push(...result.hits.map((hit) => hit.document.email));
        if (!result.nextCursor) break;
        cursor = result.nextCursor;
      }
      expect(seen).to.deep.equal(['bob@example.org', 'bob@example.com', 'john.smith@initech.test', 'alicia@globex.test', 'alice.martin@acme.test']);
      const relevance = await search({ q: 'ali', limit: 1 });
      const second = await search({ q: 'ali', limit: 1, cursor: relevance.nextCursor! });
      expect([...emails(relevance.hits), ...emails(second.hits)].sort()).to.deep.equal(['alice.martin@acme.test', 'alicia@globex.test']);
      expect(second.nextCursor).to.equal(null);
    });

    it('refuses a cursor it did not issue, or one from another sort', async () => {
      const page = await search({ sort: 'name', limit: 1 });
      await expectRejected(search({ sort: 'createdAt', cursor: page.nextCursor! }));
      await expectRejected(search({ cursor: 'bm90LWEtY3Vyc29y' }));
    });

    it('never lets an older version replace a newer document; deleted documents stay out of results', async () => {
      const own = randomUUID();
      const newer = contact(own, { email: 'v@a.test', firstName: 'Newname' });
      await index.upsert('contacts', [newer]);
      await index.upsert('contacts', [{ ...newer, firstName: 'Oldname', version: newer.version - 1 }]);
      await index.upsert('contacts', [{ ...newer, firstName: 'Samename', version: newer.version }]);
      const [stored] = [...(await index.get('contacts', [newer.id])).values()];
      expect(stored!.firstName).to.equal('Newname');
      expect((await index.searchContacts({ tenantId: own, q: 'newname', sort: 'relevance', limit: 5 })).total).to.equal(1);
      await index.upsert('contacts', [{ ...newer, deleted: true, version: nextVersion() }]);
      expect((await index.searchContacts({ tenantId: own, q: 'newname', sort: 'relevance', limit: 5 })).total).to.equal(0);
      // A replay of the creation does not bring it back.
      await index.upsert('contacts', [newer]);
      expect((await index.searchContacts({ tenantId: own, sort: 'relevance', limit: 5 })).total).to.equal(0);
      expect((await index.get('contacts', [newer.id])).get(newer.id)?.deleted).to.equal(true);
    });

    describe('executions', () => {
      const workflowA = randomUUID();
      const runs = {
        welcome: execution(tenant, {
          workflowId: workflowA,
          workflowName: 'Welcome sequence',
          contactName: 'Alice Martin',
          contactEmail: 'alice.martin@acme.test',
          status: 'completed',
          startedAt: '2026-11-10T10:00:00.000Z',
          endedAt: '2026-11-10T11:00:00.000Z',
        }),
        welcome2: execution(tenant, {
          workflowId: workflowA,
          workflowName: 'Welcome sequence',
          contactName: 'John Smith',
          contactEmail: 'john.smith@initech.test',
          status: 'failed',
          error: 'http_status: webhook answered 500',
          startedAt: '2026-11-11T10:00:00.000Z',
        }),
        renewal: execution(tenant, {
          workflowName: 'Renewal reminder',
          contactName: 'Robert Brown',
          contactEmail: 'bob@example.com',
          status: 'waiting',
          startedAt: '2026-11-12T10:00:00.000Z',
        }),
        foreign: execution(other, { workflowId: workflowA, workflowName: 'Welcome sequence', status: 'completed' }),
      };
      before(async () => index.upsert('executions', Object.values(runs)));
      const find = (q: Partial<Parameters<SearchReader['searchExecutions']>[0]>) =>
        index.searchExecutions({ tenantId: tenant, sort: 'relevance', limit: 20, ...q });
      const ids = (result: { hits: { document: { id: string } }[] }) => result.hits.map((hit) => hit.document.id).sort();

      it('finds executions by workflow and contact names, with typos, and by the error', async () => {
        expect(ids(await find({ q: 'welc' }))).to.deep.equal([runs.welcome.id, runs.welcome2.id].sort());
        expect(ids(await find({ q: 'renewla' }))).to.deep.equal([runs.renewal.id]);
        expect(ids(await find({ q: 'welcome smith' }))).to.deep.equal([runs.welcome2.id]);
        expect(ids(await find({ q: 'webhook' }))).to.deep.equal([runs.welcome2.id]);
      });

      it('matches a contact email or an execution id exactly', async () => {
        expect(ids(await find({ q: 'bob@example.com' }))).to.deep.equal([runs.renewal.id]);
        expect(ids(await find({ q: runs.welcome.id }))).to.deep.equal([runs.welcome.id]);
      });

      it('filters by status, workflow and start date, sorts by start, and stays in the tenant', async () => {
        expect(ids(await find({ status: ['failed', 'waiting'] }))).to.deep.equal([runs.renewal.id, runs.welcome2.id].sort());
        expect(ids(await find({ workflowId: workflowA }))).to.deep.equal([runs.welcome.id, runs.welcome2.id].sort());
        expect(ids(await find({ started: { from: '2026-11-11T00:00:00.000Z' } }))).to.deep.equal([runs.renewal.id, runs.welcome2.id].sort());
        const sorted = await find({ sort: 'startedAt' });
        expect(sorted.hits.map((hit) => hit.document.id)).to.deep.equal([runs.welcome.id, runs.welcome2.id, runs.renewal.id]);
        expect(sorted.total).to.equal(3);
        const newestFirst = await find({ sort: '-startedAt', limit: 2 });
        const rest = await find({ sort: '-startedAt', limit: 2, cursor: newestFirst.nextCursor! });
        expect([...newestFirst.hits, ...rest.hits].map((hit) => hit.document.id)).to.deep.equal([runs.renewal.id, runs.welcome2.id, runs.welcome.id]);
      });

      it('keeps the newest status when an older version arrives late', async () => {
        await index.upsert('executions', [{ ...runs.renewal, status: 'running', version: runs.renewal.version - 1 }]);
        expect((await find({ status: ['waiting'] })).hits.map((hit) => hit.document.id)).to.include(runs.renewal.id);
      });
    });

    // Last: it moves the index under test to another generation.
    describe('generations (rebuilds)', () => {
      it('fills a new generation beside the served one, which answers alone until the switch; the old one can go', async () => {
        const own = randomUUID();
        const before = contact(own, { email: 'kept@gen.test', firstName: 'Generational', lastName: 'Kept' });
        await index.upsert('contacts', [before]);
        const next = served + 1;
        await index.dropGeneration(next);
        await index.ensureGeneration(next);
        await index.ensureGeneration(next);
        const rebuilt = index.writerFor(next);
        const added = contact(own, { email: 'added@gen.test', firstName: 'Generational', lastName: 'Added' });
        await rebuilt.upsert('contacts', [before, added]);
        expect((await rebuilt.get('contacts', [added.id])).get(added.id)?.email).to.equal('added@gen.test');

        const find = () => index.searchContacts({ tenantId: own, q: 'generational', sort: 'name', limit: 10 });
        expect(emails((await find()).hits), 'the served generation, untouched').to.deep.equal(['kept@gen.test']);
        await index.promoteGeneration(next);
        const previous = served;
        served = next;
        expect(emails((await find()).hits)).to.deep.equal(['added@gen.test', 'kept@gen.test']);
        await index.dropGeneration(previous);
        expect((await find()).total, 'dropping the previous generation takes nothing from the served one').to.equal(2);
        expect(
          (await index.searchContacts({ tenantId: tenant, q: 'alice', sort: 'relevance', limit: 10 })).total,
          'data of before the rebuild is not in it',
        ).to.equal(0);
      });
    });
  });
}

async function expectRejected(promise: Promise<unknown>): Promise<void> {
  const outcome = await promise.then(
    () => null,
    (err: unknown) => err,
  );
  expect(outcome).to.be.instanceOf(InvalidCursorError);
}
