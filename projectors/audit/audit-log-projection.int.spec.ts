import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { COPY_FROM_ROWS } from '../../infra/readmodels/orm.ts';
import { contactStream, type ContactEvent } from '../../domain/contacts/contact.ts';
import { organizationDecider, organizationStream } from '../../domain/organizations/organization.ts';
import { operationsDecider, readModelStream } from '../../domain/operations/operations.ts';
import { planDecider, planStream } from '../../domain/plans/plan.ts';
import { at, entityStream, fact, projectionSpec, type Fact, type Rows } from '../../test/support/projection-spec.ts';
import { auditLogPage, auditLogQuery, auditTenantKey, type AuditLogEntry } from '../../query-api/audit/audit-log.ts';
import { auditLogProjection } from './audit-log-projection.ts';

/** Thrown to roll a transaction back. */
class RolledBack extends Error {}

describe('audit log projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(auditLogProjection);

  /** A tenant's audit log as GET /audit answers it (newest first); null: the platform-level log operators read. */
  const auditLog =
    (tenantId: string | null): Rows<AuditLogEntry> =>
    async (orm) =>
      (await auditLogPage(orm, tenantId, { limit: 100 })).data;

  /** The entry each fact becomes, at the position the store gave it (facts are appended one by one, from 1). */
  const entry = (f: Fact, position: number, entity: { type: string; id: string } | null): AuditLogEntry => ({
    position: String(position),
    occurredAt: f.metadata.occurredAt,
    eventType: f.event.type,
    eventVersion: f.event.version,
    eventId: f.id,
    streamId: f.streamId,
    entity: { type: entity?.type ?? null, id: entity?.id ?? null },
    actor: f.metadata.actor,
    correlationId: f.metadata.correlationId,
  });

  function tenant() {
    const organizationId = randomUUID();
    const ownerId = randomUUID();
    const metadata = { tenantId: organizationId, actor: { type: 'user' as const, id: ownerId } };
    const organization = entityStream(organizationDecider, organizationStream(organizationId), metadata);
    const [created] = organization.decide({
      type: 'CreateOrganization',
      data: { organizationId, name: 'Acme', ownerUserId: ownerId, timezone: 'UTC', ownerEmail: 'owner@acme.test', trialEndsAt: null },
    });
    const [renamed] = organization.decide({ type: 'RenameOrganization', data: { organizationId, name: 'Acme Corp' } }, 5);
    const contactId = randomUUID();
    const contactCreated: ContactEvent = {
      type: 'ContactCreated',
      version: 1,
      data: {
        contactId,
        organizationId,
        email: 'ada@example.com',
        firstName: 'Ada',
        lastName: null,
        phone: null,
        company: null,
        title: null,
        timezone: null,
        customFields: {},
        tags: [],
      },
    };
    const contact = fact(contactStream(contactId), contactCreated, { ...metadata, actor: { type: 'apiKey', id: randomUUID() }, occurredAt: at(3) });
    return { organizationId, created: created!, renamed: renamed!, contact, contactId };
  }

  it("indexes every event in its tenant's log: who did what, when, to which entity, newest first", async () => {
    const acme = tenant();
    const globex = tenant();
    const scenario = spec.given(acme.created, globex.created, acme.contact, acme.renamed);
    await scenario.then(auditLog(acme.organizationId), [
      entry(acme.renamed, 4, { type: 'organization', id: acme.organizationId }),
      entry(acme.contact, 3, { type: 'contact', id: acme.contactId }),
      entry(acme.created, 1, { type: 'organization', id: acme.organizationId }),
    ]);
    await scenario.then(auditLog(globex.organizationId), [entry(globex.created, 2, { type: 'organization', id: globex.organizationId })]);
    await scenario.then(auditLog(null), []);
  });

  it('keeps platform-level events (no tenant) in the log operators read, and names no entity for a stream that is none', async () => {
    const planId = randomUUID();
    const staff = { tenantId: null, actor: { type: 'staff' as const, id: randomUUID() } };
    const [drafted] = entityStream(planDecider, planStream(planId), staff).decide({
      type: 'DraftPlan',
      data: {
        planId,
        name: 'Starter',
        monthlyPriceCents: 900,
        currency: 'USD',
        limits: { contacts: null, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null },
      },
    });
    const [rebuild] = entityStream(operationsDecider, readModelStream('search'), staff).decide(
      { type: 'RecordRebuildStarted', data: { readModel: 'search' } },
      8,
    );
    // Every stream written today is "<entity>-<id>"; one that is not (an older or foreign stream) names no entity.
    const loose = fact('operations', rebuild!.event, { ...staff, occurredAt: at(9) });
    await spec
      .given(drafted!, rebuild!, loose)
      .then(auditLog(null), [
        entry(loose, 3, null),
        entry(rebuild!, 2, { type: 'readModel', id: 'search' }),
        entry(drafted!, 1, { type: 'plan', id: planId }),
      ]);
  });

  /**
   * The plan of `sql` once `tenantId` has 20,000 more entries (of other entities), as the planner sees them
   * after ANALYZE; rolled back.
   */
  async function planAmong(orm: MikroORM, tenantId: string, sql: string, values: unknown[]): Promise<string[]> {
    const plan: string[] = [];
    await orm.em
      .fork()
      .transactional(async (em) => {
        await em.execute(
          `INSERT INTO audit_log (position, event_id, tenant_key, stream_id, entity_type, entity_id, event_type, event_version, actor_type, actor_id, occurred_at, correlation_id)
           SELECT n::text, gen_random_uuid(), (SELECT tenant_key FROM audit_tenants WHERE tenant_id = ?), 'contact-' || u, 'contact', u, 'ContactUpdated', 1, 'user', 'someone', now(), 'c'
             FROM generate_series(1000000, 1019999) AS n, LATERAL (SELECT gen_random_uuid()::text AS u) g`,
          [tenantId],
        );
        await em.execute('ANALYZE audit_log');
        for (const line of await em.execute<{ 'QUERY PLAN': string }[]>(`EXPLAIN ${sql}`, values)) plan.push(line['QUERY PLAN']);
        throw new RolledBack();
      })
      .catch((err: unknown) => {
        if (!(err instanceof RolledBack)) throw err;
      });
    return plan;
  }

  it("reads a small tenant's page through the tenant's index, however many entries another tenant has", async () => {
    const acme = tenant();
    const big = tenant();
    await spec.given(acme.created, big.created, acme.contact).then(
      async (orm) => {
        const { sql, values } = auditLogQuery((await auditTenantKey(orm, acme.organizationId))!, { limit: 50 });
        const plan = await planAmong(orm, big.organizationId, sql, values);
        return [
          {
            types: (await auditLogPage(orm, acme.organizationId, { limit: 50 })).data.map((e) => e.eventType),
            // Sought by its key in its index, not found by walking the whole log newest first.
            tenantIndexCondition: plan.some((line) => /Index Cond: \(tenant_key = /.test(line)),
          },
        ];
      },
      [{ types: ['ContactCreated', 'OrganizationCreated'], tenantIndexCondition: true }],
    );
  });

  it("finds an entity's entries by its id or by its stream (also a stream that is no entity) through the entity index", async () => {
    const acme = tenant();
    const [rebuild] = entityStream(operationsDecider, readModelStream('search'), { tenantId: acme.organizationId }).decide(
      { type: 'RecordRebuildStarted', data: { readModel: 'search' } },
      8,
    );
    const loose = fact('operations', rebuild!.event, { tenantId: acme.organizationId, occurredAt: at(9) });
    const found =
      (entity: string): Rows<{ types: string[]; entityIndexCondition: boolean }> =>
      async (orm) => {
        const { sql, values } = auditLogQuery((await auditTenantKey(orm, acme.organizationId))!, { entity, limit: 100 });
        // The plan over a tenant with 20,000 entries of other entities, as the planner sees them after ANALYZE:
        // the entity index searched BY the entity (an index condition on entity_id), not the tenant's entries
        // walked and filtered.
        const plan = await planAmong(orm, acme.organizationId, sql, values);
        return [
          {
            types: (await auditLogPage(orm, acme.organizationId, { entity, limit: 100 })).data.map((e) => e.eventType),
            entityIndexCondition: plan.some((line) => /Index Cond: .*entity_id (=|IS NULL)/.test(line)),
          },
        ];
      };
    const scenario = spec.given(acme.created, acme.contact, acme.renamed, loose);
    await scenario.then(found(acme.contactId), [{ types: ['ContactCreated'], entityIndexCondition: true }]);
    await scenario.then(found(contactStream(acme.contactId)), [{ types: ['ContactCreated'], entityIndexCondition: true }]);
    await scenario.then(found(organizationStream(acme.organizationId)), [
      { types: ['OrganizationRenamed', 'OrganizationCreated'], entityIndexCondition: true },
    ]);
    await scenario.then(found('operations'), [{ types: ['ProjectionRebuildStarted'], entityIndexCondition: true }]);
  });

  it('indexes each event once, whether the events come in one batch, one by one, across a restart, or to two runners at once', async () => {
    const acme = tenant();
    const facts = [acme.created, acme.contact, acme.renamed];
    const expected = [
      entry(acme.renamed, 3, { type: 'organization', id: acme.organizationId }),
      entry(acme.contact, 2, { type: 'contact', id: acme.contactId }),
      entry(acme.created, 1, { type: 'organization', id: acme.organizationId }),
    ];
    await spec.given(facts).then(auditLog(acme.organizationId), expected);
    await spec.given(facts).inBatchesOf(1).then(auditLog(acme.organizationId), expected);
    await spec.given(facts.slice(0, 1)).when(facts.slice(1)).then(auditLog(acme.organizationId), expected);
    await spec.given(facts).inBatchesOf(1).byRunners(2).then(auditLog(acme.organizationId), expected);
  });

  it("keeps each tenant's entries and the platform's apart, by COPY as by statement, whether the tenant is new to the log or known", async () => {
    const acme = tenant();
    const globex = tenant();
    const staff = { tenantId: null, actor: { type: 'staff' as const, id: randomUUID() } };
    // Enough events for a batch by COPY: acme's, globex's and the platform's interleaved.
    const facts: Fact[] = Array.from({ length: COPY_FROM_ROWS + 30 }, (_, i) => {
      const owner = [acme, globex, null][i % 3];
      const organizationId = owner?.organizationId ?? null;
      const contactId = randomUUID();
      const created = acme.contact.event as Extract<ContactEvent, { type: 'ContactCreated' }>;
      return fact(
        contactStream(contactId),
        { ...created, data: { ...created.data, contactId, organizationId: organizationId ?? randomUUID() } },
        {
          ...(organizationId === null ? staff : { tenantId: organizationId, actor: { type: 'apiKey' as const, id: `key-${i}` } }),
          occurredAt: at(i),
        },
      );
    });
    const entries = (owner: number) =>
      facts
        .map((f, i) => ({ f, i }))
        .filter(({ i }) => i % 3 === owner)
        .map(({ f, i }) => entry(f, i + 1, { type: 'contact', id: f.streamId.slice('contact-'.length) }))
        .reverse();
    const logOf =
      (tenantId: string | null): Rows<AuditLogEntry> =>
      async (orm) =>
        (await auditLogPage(orm, tenantId, { limit: COPY_FROM_ROWS + 100 })).data;
    for (const scenario of [
      spec.given(facts).inBatchesOf(COPY_FROM_ROWS + 100),
      // acme already known when the large batch comes: its key is found, globex's given.
      spec
        .given(facts.slice(0, 1))
        .when(facts.slice(1))
        .inBatchesOf(COPY_FROM_ROWS + 100),
      spec
        .given(facts)
        .inBatchesOf(COPY_FROM_ROWS + 100)
        .asOnEmbedded(),
      spec.given(facts).inBatchesOf(5),
    ]) {
      await scenario.then(logOf(acme.organizationId), entries(0));
      await scenario.then(logOf(globex.organizationId), entries(1));
      await scenario.then(logOf(null), entries(2));
      await scenario.then(logOf(randomUUID()), []);
    }
    // One key per tenant, however many batches named it (a key offered again would use one up): the keys drawn
    // from the sequence since this scenario's first (the tables are emptied between scenarios, not the sequence).
    const keysUsed: Rows<{ used: number; tenants: number }> = async (orm) =>
      orm.em.fork().execute(
        `SELECT (s.last_value - k.first + 1)::int AS used, k.tenants
           FROM audit_tenants_tenant_key_seq s, (SELECT min(tenant_key) AS first, count(*)::int AS tenants FROM audit_tenants) k`,
      );
    await spec
      .given(facts)
      .inBatchesOf(5)
      .then(keysUsed, [{ used: 2, tenants: 2 }]);
  });

  it('indexes the same rows by COPY and by statement (the embedded database), in one batch or one at a time, whatever characters the values hold', async () => {
    const organizationId = randomUUID();
    const odd = 'tab\there, new\nline, return\r, backslash \\ and \\N and \\., "quotes", {braces}, comma, NULL, é ✓ 🚀';
    const facts = Array.from({ length: COPY_FROM_ROWS + 20 }, (_, i) => {
      const contactId = randomUUID();
      const created = tenant().contact.event as Extract<ContactEvent, { type: 'ContactCreated' }>;
      return fact(
        contactStream(contactId),
        { ...created, data: { ...created.data, contactId, organizationId } },
        {
          tenantId: organizationId,
          actor: { type: 'apiKey', id: `${odd} ${i}` },
          correlationId: `${odd} ${i}`,
          occurredAt: at(i),
        },
      );
    });
    const expected = facts.map((f, i) => entry(f, i + 1, { type: 'contact', id: f.streamId.slice('contact-'.length) })).reverse();
    const everything: Rows<AuditLogEntry> = async (orm) => (await auditLogPage(orm, organizationId, { limit: COPY_FROM_ROWS + 100 })).data;
    await spec
      .given(facts)
      .inBatchesOf(COPY_FROM_ROWS + 100)
      .then(everything, expected);
    await spec.given(facts).inBatchesOf(1).then(everything, expected);
    await spec
      .given(facts)
      .inBatchesOf(COPY_FROM_ROWS + 100)
      .asOnEmbedded()
      .then(everything, expected);
    await spec.given(facts).inBatchesOf(7).asOnEmbedded().then(everything, expected);
  });
});
