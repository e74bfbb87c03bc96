import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Reply } from '../../test/support/http.ts';
import { expectProblem } from '../../test/support/problems.ts';
import { at, type Fact } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant, type Tenant } from '../../test/support/query-api-spec.ts';

describe('query API: audit (GET /audit, /audit/entities/:type/:id, /audit/export)', function () {
  this.timeout(30_000);
  const api = queryApiSpec();

  /** The sign-up (minute 0), an admin who joined (1-2), a contact created (3), updated (10) and tagged (11). */
  function history(org: Tenant) {
    const admin = org.member('admin', 1);
    const ada = org.contact({ email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace' }, 3);
    const updated = ada.stream.decide(
      { type: 'UpdateContact', data: { contactId: ada.id, organizationId: org.id, changes: { lastName: 'King' } } },
      10,
    );
    const tagged = ada.stream.decide(
      { type: 'ChangeContactTags', data: { contactId: ada.id, organizationId: org.id, add: ['vip'], remove: [] } },
      11,
    );
    const facts: Fact[] = [...org.signup, ...admin.facts, ...ada.facts, ...updated, ...tagged];
    return { admin, ada, facts };
  }

  const types = (reply: { body: { data: { eventType: string }[] } }) => reply.body.data.map((entry) => entry.eventType);

  it("lists who did what and when, newest first, filtered by entity, actor, type and time, a page at a time, for the caller's organization", async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const h = history(acme);
    await api.given(h.facts, globex.signup);

    const all = await api.get(acme.owner, '/audit');
    expect(all.status).to.equal(200);
    expect(types(all)).to.deep.equal([...h.facts].reverse().map((f) => f.event.type));
    expect(all.body.data[0]).to.deep.include({
      eventType: 'ContactTagged',
      eventVersion: 1,
      eventId: h.facts[h.facts.length - 1]!.id,
      streamId: `contact-${h.ada.id}`,
      entity: { type: 'contact', id: h.ada.id },
      actor: { type: 'user', id: acme.owner.userId },
      occurredAt: at(11),
    });
    expect(all.body.data[0].position).to.match(/^\d+$/);

    expect(types(await api.get(acme.owner, `/audit?entity=${h.ada.id}`))).to.deep.equal(['ContactTagged', 'ContactUpdated', 'ContactCreated']);
    expect(types(await api.get(acme.owner, `/audit?entity=contact-${h.ada.id}&type=ContactUpdated`))).to.deep.equal(['ContactUpdated']);
    expect(types(await api.get(acme.owner, `/audit?actor=${h.admin.member.userId}`))).to.deep.equal(['UserRegistered']);
    const window = `from=${encodeURIComponent(at(3))}&to=${encodeURIComponent(at(11))}`;
    expect(types(await api.get(acme.owner, `/audit?${window}`))).to.deep.equal(['ContactUpdated', 'ContactCreated']);

    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const page: Reply = await api.get(acme.owner, `/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(types(page));
      cursor = page.body.page.nextCursor;
    } while (cursor && pages.length < 10);
    expect(pages.flat()).to.deep.equal(types(all));
    expect(h.facts).to.have.length(8);
    expect(pages.map((p) => p.length)).to.deep.equal([3, 3, 2]);

    expect(types(await api.get(globex.owner, '/audit'))).to.deep.equal(['UserRegistered', 'OrganizationCreated']);
    expect((await api.get(globex.owner, `/audit?entity=${h.ada.id}`)).body.data).to.deep.equal([]);
  });

  it("replays an entity to a moment or a log position, with each step on request, secrets redacted; another organization's is 404", async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const h = history(acme);
    const theirs = globex.contact({ email: 'secret@globex.test' }, 1);
    await api.given(h.facts, globex.signup, theirs.facts);
    const path = `/audit/entities/contact/${h.ada.id}`;

    const now = await api.get(acme.owner, path);
    expect(now.status, JSON.stringify(now.body)).to.equal(200);
    expect(now.body).to.include({ type: 'contact', id: h.ada.id, at: null, revision: 2, events: 3, occurredAt: at(11) });
    expect(now.body.state).to.deep.include({ status: 'active', email: 'ada@example.com', lastName: 'King', tags: ['vip'] });
    expect(now.body).not.to.have.property('steps');

    const before = await api.get(acme.owner, `${path}?at=${encodeURIComponent(at(5))}`);
    expect(before.body).to.include({ revision: 0, events: 1, at: at(5) });
    expect(before.body.state).to.deep.include({ lastName: 'Lovelace', tags: [] });

    const created = (await api.get(acme.owner, `/audit?entity=${h.ada.id}&type=ContactCreated`)).body.data[0].position as string;
    const atPosition = await api.get(acme.owner, `${path}?at=${created}&steps=true`);
    expect(atPosition.body).to.include({ revision: 0, position: created });
    expect(atPosition.body.steps.map((s: { type: string }) => s.type)).to.deep.equal(['ContactCreated']);
    const everyStep = await api.get(acme.owner, `${path}?steps=true`);
    expect(everyStep.body.steps.map((s: { type: string; revision: number }) => [s.type, s.revision])).to.deep.equal([
      ['ContactCreated', 0],
      ['ContactUpdated', 1],
      ['ContactTagged', 2],
    ]);

    const user = await api.get(acme.owner, `/audit/entities/user/${h.admin.member.userId}`);
    expect(user.status).to.equal(200);
    expect(JSON.stringify(user.body)).not.to.contain('scrypt$');
    expect(JSON.stringify(user.body)).to.contain('[redacted]');

    const notYet = await api.get(acme.owner, `${path}?at=${encodeURIComponent(at(1))}`);
    expectProblem(notYet, 404);
    expect(notYet.body.code).to.equal('not_yet');
    expectProblem(await api.get(acme.owner, `/audit/entities/contact/${theirs.id}`), 404);
    expectProblem(await api.get(acme.owner, `/audit/entities/contact/${randomUUID()}`), 404);
    expectProblem(await api.get(acme.owner, `/audit/entities/organization/${globex.id}`), 404);
    expect((await api.get(acme.owner, `/audit/entities/organization/${acme.id}`)).body.state).to.deep.include({ name: 'Acme' });
  });

  it('exports the organization’s events of a range as JSON lines or CSV, personal data readable, secrets redacted, chained', async () => {
    const acme = tenant();
    const h = history(acme);
    await api.given(h.facts, tenant('Globex').signup);
    const token = await api.tokenFor(acme.owner);
    const range = `from=${encodeURIComponent('2026-03-01T00:00:00Z')}&to=${encodeURIComponent('2026-03-03T00:00:00Z')}`;

    const jsonl = await api.http.get(`/audit/export?${range}`, { token });
    expect(jsonl.status).to.equal(200);
    expect(jsonl.contentType).to.match(/^application\/x-ndjson/);
    expect(jsonl.headers.get('content-disposition')).to.equal('attachment; filename="nexusflow-audit-2026-03-01-2026-03-03.jsonl"');
    const records = (jsonl.body as string)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, any>);
    expect(records.map((r) => r.eventId)).to.deep.equal(h.facts.map((f) => f.id));
    const created = records.find((r) => r.type === 'ContactCreated')!;
    expect(created.data).to.include({ email: 'ada@example.com', firstName: 'Ada' });
    expect(created).to.include({ streamId: `contact-${h.ada.id}`, revision: 0, actorType: 'user', actorId: acme.owner.userId, previousHash: null });
    expect(records.find((r) => r.type === 'ContactUpdated')!.previousHash).to.match(/^[0-9a-f]{64}$/);
    expect(records.find((r) => r.type === 'UserRegistered')!.data.passwordHash).to.equal('[redacted]');

    const csv = await api.http.get(`/audit/export?format=csv&${range}`, { token });
    expect(csv.contentType).to.match(/^text\/csv/);
    const lines = (csv.body as string).trim().split('\n');
    expect(lines[0]).to.equal(
      'position,eventId,streamId,revision,type,version,occurredAt,recordedAt,actorType,actorId,correlationId,causationId,previousHash,data',
    );
    expect(lines).to.have.length(h.facts.length + 1);

    const empty = await api.http.get(`/audit/export?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`, { token });
    expect(empty.status).to.equal(200);
    expect(empty.body).to.equal('');
  });

  it('is for owners and admins (audit:read): members and viewers get 403 on every audit route', async () => {
    const acme = tenant();
    const h = history(acme);
    await api.given(h.facts);
    expect((await api.get(h.admin.member, '/audit')).status).to.equal(200);
    for (const role of ['member', 'viewer'] as const) {
      const reader = { ...h.admin.member, role };
      for (const path of ['/audit', `/audit/entities/contact/${h.ada.id}`, '/audit/export']) {
        expectProblem(await api.get(reader, path), 403);
      }
    }
  });

  it('answers 400 naming each bad parameter', async () => {
    const acme = tenant();
    const h = history(acme);
    await api.given(h.facts);
    const contact = `/audit/entities/contact/${h.ada.id}`;
    const cases: [string, string][] = [
      ['/audit?type=Contact-Created', 'type'],
      ['/audit?limit=201', 'limit'],
      ['/audit?cursor=abc', 'cursor'],
      // 19 digits, one past PostgreSQL's bigint (it was a 500: the database refused the number).
      ['/audit?cursor=9223372036854775808', 'cursor'],
      ['/audit?from=2026-03-03T00:00:00Z&to=2026-03-02T00:00:00Z', 'to'],
      ['/audit?from=monday', 'from'],
      ['/audit?page=2', 'page'],
      [`/audit/entities/banana/${h.ada.id}`, 'type'],
      [`/audit/entities/plan/${randomUUID()}`, 'type'],
      ['/audit/entities/contact/a%20b', 'id'],
      [`${contact}?at=yesterday`, 'at'],
      [`${contact}?at=9999999999999999999`, 'at'],
      [`${contact}?steps=yes`, 'steps'],
      ['/audit/export?format=xml', 'format'],
      ['/audit/export?from=2024-01-01T00:00:00Z&to=2026-03-01T00:00:00Z', 'from'],
      ['/audit/export?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z', 'to'],
    ];
    for (const [path, name] of cases) expectProblem(await api.get(acme.owner, path), 400, [name]);
  });

  it('waits for X-Min-Position on the audit log; a replay reads the log itself and needs no wait', async () => {
    const acme = tenant();
    const h = history(acme);
    await api.given(h.facts);
    const deleted = h.ada.stream.decide({ type: 'DeleteContact', data: { contactId: h.ada.id, organizationId: acme.id } }, 20);
    const position = await api.append(deleted);

    const replay = await api.get(acme.owner, `/audit/entities/contact/${h.ada.id}`, { 'X-Min-Position': position });
    expect(replay.status).to.equal(200);
    expect(replay.body.state).to.include({ status: 'deleted' });

    const log = api.get(acme.owner, `/audit?entity=${h.ada.id}&limit=1`, { 'X-Min-Position': position });
    await api.project();
    expect(types(await log)).to.deep.equal(['ContactDeleted']);
    const beyond = (BigInt(await api.head()) + 1n).toString();
    expectProblem(await api.get(acme.owner, '/audit', { 'X-Min-Position': beyond }), 400, ['X-Min-Position']);
  });
});
