import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import pino from 'pino';
import { contactStream, type ContactEvent } from '../domain/contacts/contact.ts';
import type { NewEvent } from '../domain/events.ts';
import { organizationStream } from '../domain/organizations/organization.ts';
import { PostgresEventStore } from '../infra/eventstore/postgres/postgres-event-store.ts';
import { PgNotifications } from '../infra/notifications/pg-notifications.ts';
import { migrateReadModels, openReadModels } from '../infra/readmodels/orm.ts';
import { PostgresSearchIndex } from '../infra/search/postgres-search-index.ts';
import { readModelEntities } from '../projectors/read-models.ts';
import { ProjectionRunner } from '../projectors/runner/projection-runner.ts';
import type { Projection } from '../projectors/runner/projection.ts';
import { searchProjection } from '../projectors/search/search-projection.ts';
import type { ContactDocument } from '../projectors/search/search-documents.ts';
import type { ContactSearchQuery, SearchReader } from '../query-api/search/ports.ts';
import { facts } from '../test/support/facts.ts';
import { closedLoop, mib, note, report } from './stats.ts';

const logger = pino({ level: 'silent' });

/** A small seeded generator (mulberry32): the same data on every run, so figures compare across runs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A version-4 UUID drawn from `random` (reproducible ids for generated data). */
export function seededUuid(random: () => number): `${string}-${string}-${string}-${string}-${string}` {
  let hex = '';
  for (let i = 0; i < 16; i++) {
    let byte = Math.floor(random() * 256);
    if (i === 6) byte = (byte & 0x0f) | 0x40;
    if (i === 8) byte = (byte & 0x3f) | 0x80;
    hex += byte.toString(16).padStart(2, '0');
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Runs one projection with its own runner from position zero until its checkpoint reaches the head of the
 * log as it is now. Fails loudly (instead of waiting forever) when the runner parks an event or makes no
 * progress for a minute.
 */
export async function catchUp(
  projection: Projection,
  store: PostgresEventStore,
  orm: MikroORM,
  batchSize: number,
): Promise<{ elapsedMs: number; peakRss: number; eventsApplied: number }> {
  const head = await store.headPosition();
  if (head === null) throw new Error('catch-up over an empty log');
  let peakRss = process.memoryUsage().rss;
  let lastMove = performance.now();
  let reachedHead!: () => void;
  const reached = new Promise<void>((resolve) => (reachedHead = resolve));
  const runner = new ProjectionRunner(projection, store, orm, logger, {
    batchSize,
    onCheckpoint(_name, position) {
      lastMove = performance.now();
      if (store.comparePositions(position, head) >= 0) reachedHead();
    },
  });
  let watchdog: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    watchdog = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      const status = runner.status();
      if (status.parked > 0) reject(new Error(`projection ${projection.name}: ${status.parked} event(s) parked; last error: ${status.lastError}`));
      else if (performance.now() - lastMove > 60_000)
        reject(new Error(`projection ${projection.name}: no progress for 60 s; last error: ${status.lastError ?? 'none'}`));
    }, 100);
  });
  const started = performance.now();
  try {
    await runner.start();
    await Promise.race([reached, failed]);
  } finally {
    clearInterval(watchdog);
  }
  const elapsedMs = performance.now() - started;
  const { eventsApplied } = runner.status();
  await runner.stop();
  return { elapsedMs, peakRss: Math.max(peakRss, process.memoryUsage().rss), eventsApplied };
}

// Names as a sales team's contact list has them: common first and last names (skewed: some are far more
// frequent than others), real-sounding companies and titles.
const firstNames = [
  'James',
  'Mary',
  'John',
  'Patricia',
  'Robert',
  'Jennifer',
  'Michael',
  'Linda',
  'David',
  'Elizabeth',
  'William',
  'Barbara',
  'Richard',
  'Susan',
  'Joseph',
  'Jessica',
  'Thomas',
  'Sarah',
  'Christopher',
  'Karen',
  'Charles',
  'Lisa',
  'Daniel',
  'Nancy',
  'Matthew',
  'Sandra',
  'Anthony',
  'Betty',
  'Mark',
  'Ashley',
  'Steven',
  'Emily',
  'Paul',
  'Kimberly',
  'Andrew',
  'Margaret',
  'Joshua',
  'Donna',
  'Kevin',
  'Michelle',
  'Brian',
  'Carol',
  'George',
  'Amanda',
  'Timothy',
  'Melissa',
  'Ronald',
  'Deborah',
  'Jason',
  'Stephanie',
  'Edward',
  'Rebecca',
  'Jeffrey',
  'Laura',
  'Ryan',
  'Helen',
  'Jacob',
  'Sharon',
  'Gary',
  'Cynthia',
  'Alice',
  'Alicia',
  'Alison',
  'Ali',
  'Alina',
  'Alistair',
  'Maria',
  'Marie',
  'Mario',
  'Marco',
  'Martin',
  'Marta',
  'Jonathan',
  'Jon',
  'Joanna',
  'Johanna',
  'Sofia',
  'Lucas',
  'Louis',
  'Lucia',
  'Emma',
  'Olivia',
  'Noah',
  'Liam',
  'Chloe',
  'Camille',
  'Hugo',
  'Léa',
  'Zoé',
  'Élodie',
  'François',
  'Jürgen',
  'Björn',
  'Søren',
  'Anders',
  'Ingrid',
  'Priya',
  'Arjun',
  'Rahul',
  'Ananya',
  'Wei',
  'Li',
  'Hiroshi',
  'Yuki',
  'Ahmed',
  'Fatima',
  'Omar',
  'Aisha',
  'Carlos',
  'Diego',
  'Lucía',
  'Valentina',
  'Mateo',
  'Isabella',
  'Katherine',
  'Kate',
  'Catherine',
  'Nathan',
  'Natalie',
  'Grace',
];
const lastNames = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'Garcia',
  'Miller',
  'Davis',
  'Rodriguez',
  'Martinez',
  'Hernandez',
  'Lopez',
  'Gonzalez',
  'Wilson',
  'Anderson',
  'Thomas',
  'Taylor',
  'Moore',
  'Jackson',
  'Martin',
  'Lee',
  'Perez',
  'Thompson',
  'White',
  'Harris',
  'Sanchez',
  'Clark',
  'Ramirez',
  'Lewis',
  'Robinson',
  'Walker',
  'Young',
  'Allen',
  'King',
  'Wright',
  'Scott',
  'Torres',
  'Nguyen',
  'Hill',
  'Flores',
  'Green',
  'Adams',
  'Nelson',
  'Baker',
  'Hall',
  'Rivera',
  'Campbell',
  'Mitchell',
  'Carter',
  'Roberts',
  'Müller',
  'Schmidt',
  'Schneider',
  'Fischer',
  'Weber',
  'Meyer',
  'Dubois',
  'Durand',
  'Lefebvre',
  'Moreau',
  'Laurent',
  'Simon',
  'Michel',
  'Rossi',
  'Russo',
  'Ferrari',
  'Esposito',
  'Bianchi',
  'Romano',
  'Colombo',
  'Jansen',
  'de Vries',
  'van den Berg',
  'Bakker',
  'Visser',
  'Nielsen',
  'Hansen',
  'Larsen',
  'Johansson',
  'Lindqvist',
  'Kowalski',
  'Nowak',
  'Novák',
  'Horváth',
  'Patel',
  'Sharma',
  'Singh',
  'Kumar',
  'Gupta',
  'Wang',
  'Zhang',
  'Chen',
  'Liu',
  'Tanaka',
  'Suzuki',
  'Sato',
  'Kim',
  'Park',
  'Choi',
  "O'Brien",
  'Murphy',
  'Kelly',
  'MacDonald',
  'Alvarez',
  'Ali',
  'Khan',
  'Hussain',
  'Cohen',
];
const companies = [
  'Initech',
  'Globex',
  'Umbrella Health',
  'Stark Industries',
  'Wayne Enterprises',
  'Acme Corporation',
  'Hooli',
  'Pied Piper',
  'Soylent',
  'Vandelay Industries',
  'Cyberdyne Systems',
  'Tyrell',
  'Massive Dynamic',
  'Oscorp',
  'Wonka Industries',
  'Gringotts',
  'Monarch Solutions',
  'Northwind Traders',
  'Contoso',
  'Fabrikam',
  'Adventure Works',
  'Blue Yonder Airlines',
  'Litware',
  'Proseware',
  'Alpine Ski House',
  'Coho Winery',
  'Tailspin Toys',
  'Wide World Importers',
  'Lucerne Publishing',
  'Margie Travel',
  'Datum Analytics',
  'Bluebird Logistics',
  'Redwood Capital',
  'Silverline Software',
  'Brightwave Media',
  'Ironclad Security',
  'Evergreen Energy',
  'Nimbus Cloud',
  'Quantum Dynamics',
  'Summit Partners',
  'Atlas Robotics',
  'Helios Solar',
  'Orion Biotech',
  'Zenith Bank',
  'Apex Consulting',
  'Marlin Marine',
  'Alibi Labs',
  'Alder & Finch',
  'Marigold Foods',
  'Jonquil Retail',
];
const titles = [
  'CEO',
  'CTO',
  'CFO',
  'COO',
  'VP Sales',
  'VP Marketing',
  'Head of Growth',
  'Sales Manager',
  'Account Executive',
  'SDR',
  'Marketing Manager',
  'Product Manager',
  'Software Engineer',
  'Engineering Manager',
  'Procurement Lead',
  'Operations Manager',
  'Customer Success Manager',
  'Founder',
  'Partner',
  'Director of IT',
  'Office Manager',
  'Data Analyst',
];
const freeMail = ['gmail.com', 'outlook.com', 'yahoo.com', 'proton.me', 'icloud.com'];

/** A skewed pick: early entries of the list are much more frequent, as real names are. */
const skewed = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(list.length * random() ** 1.8)]!;
const uniform = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(list.length * random())]!;
const slug = (text: string) =>
  text
    .normalize('NFD')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase();

interface Seeded {
  events: number;
  organizations: string[];
  perTenant: Map<string, number>;
  /** Emails of contacts of the tenants queried, for exact-email queries. */
  emails: Map<string, string[]>;
}

/**
 * `contacts` contacts over 20 organizations, half of them in one (a big customer), the rest spread evenly;
 * a third updated (new company and title), a fifth tagged vip. Appended through the store the API uses.
 */
async function seed(store: PostgresEventStore, contacts: number): Promise<Seeded> {
  const random = seededRandom(20261202);
  let events = 0;
  const organizations = Array.from({ length: 20 }, (_, i) => facts.organizationCreated(seededUuid(random), `Bench org ${i}`));
  for (const org of organizations) {
    await store.append(organizationStream(org.data.organizationId), [org], 'no_stream');
    events++;
  }
  const ids = organizations.map((org) => org.data.organizationId);
  const perTenant = new Map<string, number>(ids.map((id) => [id, 0]));
  const emails = new Map<string, string[]>([
    [ids[0]!, []],
    [ids[1]!, []],
  ]);
  const chunk = 500;
  for (let offset = 0; offset < contacts; offset += chunk) {
    const appends = Array.from({ length: Math.min(chunk, contacts - offset) }, (_, k) => {
      const i = offset + k;
      const organizationId = i % 2 === 0 ? ids[0]! : ids[1 + ((i >> 1) % 19)]!;
      perTenant.set(organizationId, perTenant.get(organizationId)! + 1);
      const firstName = skewed(random, firstNames);
      const lastName = skewed(random, lastNames);
      const company = random() < 0.85 ? skewed(random, companies) : null;
      const title = random() < 0.7 ? uniform(random, titles) : null;
      const domain = company ? `${slug(company)}.com` : uniform(random, freeMail);
      const email = `${slug(firstName)}.${slug(lastName)}${i}@${domain}`;
      const tags = [...(random() < 0.25 ? ['customer'] : []), ...(random() < 0.35 ? ['lead'] : []), ...(random() < 0.3 ? ['newsletter'] : [])];
      const created = facts.contactCreated(organizationId, seededUuid(random), email, tags);
      const contactId = (created.data as { contactId: string }).contactId;
      const withNames = { ...created, data: { ...created.data, firstName, lastName, company, title } } as NewEvent<ContactEvent>;
      const sample = emails.get(organizationId);
      if (sample && sample.length < 1_000) sample.push(email);
      const stream: NewEvent<ContactEvent>[] = [withNames];
      if (i % 3 === 0) {
        const changes = { company: skewed(random, companies), title: uniform(random, titles) };
        stream.push(facts.contactEvent(organizationId, { type: 'ContactUpdated', data: { contactId, changes } }));
      }
      if (i % 5 === 0) {
        stream.push(facts.contactEvent(organizationId, { type: 'ContactTagged', data: { contactId, tag: 'vip' } }));
      }
      events += stream.length;
      return store.append(contactStream(contactId), stream, 'no_stream');
    });
    await Promise.all(appends);
  }
  return { events, organizations: ids, perTenant, emails };
}

type QueryKind = 'prefix' | 'typo' | 'two_words' | 'email' | 'tag_sort_name' | 'page2';
const queryKinds: QueryKind[] = ['prefix', 'typo', 'two_words', 'email', 'tag_sort_name', 'page2'];

// What users type into a contact search box. Prefixes as typed while the list narrows; typos of frequent
// names (a swap, a missing or doubled letter); first name with (a prefix of) a last name, or with a company.
const prefixes = ['ali', 'mar', 'jo', 'dav', 'sar', 'chr', 'mic', 'kat', 'jen', 'wil', 'gar', 'init', 'smi', 'lu', 'an'];
const typos = ['jonh', 'micheal', 'sarha', 'willaims', 'garcai', 'jenifer', 'tomas', 'katherin', 'andersen', 'robret', 'elizabht', 'smtih'];
const twoWords = [
  'maria garcia',
  'john smi',
  'james johnson',
  'mary will',
  'robert brown',
  'jennifer initech',
  'michael globex',
  'david mil',
  'sarah jones',
  'ali khan',
];

/** The queries of one kind for one tenant (rotated by the closed loop); page 2 needs page 1's cursor first. */
async function queriesFor(reader: SearchReader, kind: QueryKind, tenantId: string, emails: string[]): Promise<ContactSearchQuery[]> {
  const base = { tenantId, limit: 20 } as const;
  switch (kind) {
    case 'prefix':
      return prefixes.map((q) => ({ ...base, q, sort: 'relevance' }));
    case 'typo':
      return typos.map((q) => ({ ...base, q, sort: 'relevance' }));
    case 'two_words':
      return twoWords.map((q) => ({ ...base, q, sort: 'relevance' }));
    case 'email': {
      if (emails.length === 0) throw new Error('no emails sampled for the exact-email queries');
      const step = Math.max(1, Math.floor(emails.length / 50));
      return emails
        .filter((_, i) => i % step === 0)
        .slice(0, 50)
        .map((q) => ({ ...base, q: q.toUpperCase(), sort: 'relevance' }));
    }
    case 'tag_sort_name':
      return [['vip'], ['customer'], ['lead'], ['vip', 'customer'], ['newsletter']].map((tags) => ({ ...base, tags, sort: 'name' }));
    case 'page2': {
      const firstPages: ContactSearchQuery[] = [
        ...prefixes.map((q) => ({ ...base, q, sort: 'relevance' as const })),
        ...[['vip'], ['customer']].map((tags) => ({ ...base, tags, sort: 'name' as const })),
      ];
      const second: ContactSearchQuery[] = [];
      for (const query of firstPages) {
        const page = await reader.searchContacts(query);
        if (page.nextCursor) second.push({ ...query, cursor: page.nextCursor });
      }
      if (second.length === 0) throw new Error('no first page had a next page: too few contacts for the page-2 queries');
      return second;
    }
  }
}

const describeKind: Record<QueryKind, string> = {
  prefix: `prefix (${prefixes.slice(0, 4).join(', ')}, …)`,
  typo: `typo (${typos.slice(0, 4).join(', ')}, …)`,
  two_words: `two words (${twoWords.slice(0, 3).join(', ')}, …)`,
  email: 'exact email (sampled addresses, upper-cased)',
  tag_sort_name: 'tag filter, sorted by name (vip, customer, lead, vip+customer, newsletter)',
  page2: 'second page through the cursor (the prefix queries and two tag lists)',
};

/**
 * Closed-loop latency of each query kind against one tenant; every query checks it got an answer of the
 * right shape (an exact email finds its contact). Prints `<prefix>.<kind>[.<suffix>]` figures.
 */
async function benchQueries(
  reader: SearchReader,
  options: { label: string; prefix: string; tenantId: string; emails: string[]; concurrency: number; suffix: string; durationMs: number },
): Promise<void> {
  const summary: string[] = [];
  for (const kind of queryKinds) {
    const queries = await queriesFor(reader, kind, options.tenantId, options.emails);
    let next = 0;
    let matches = 0;
    let answered = 0;
    const result = await closedLoop({
      concurrency: options.concurrency,
      durationMs: options.durationMs,
      warmupMs: Math.min(1_000, options.durationMs / 5),
      operation: async () => {
        const query = queries[next++ % queries.length]!;
        const found = await reader.searchContacts(query);
        if (kind === 'email' && found.total !== 1) throw new Error(`exact email ${query.q}: ${found.total} matches, expected 1`);
        if (found.hits.some((hit) => hit.document.tenantId !== options.tenantId))
          throw new Error(`query ${JSON.stringify(query)} returned another tenant's contact`);
        matches += found.total;
        answered++;
      },
    });
    if (result.errors > 0) throw new Error(`search ${options.label} ${kind}: ${result.errors} failed queries; first: ${String(result.firstError)}`);
    const name = `${options.prefix}.${kind}${options.suffix}`;
    report(name, result.perSecond, 'queries/s');
    report(`${name}.p50`, result.latencies.percentile(50), 'ms');
    report(`${name}.p99`, result.latencies.percentile(99), 'ms');
    summary.push(`${kind} ${Math.round(matches / Math.max(1, answered))}`);
  }
  note(`${options.label}: mean matches per query: ${summary.join(', ')}`);
}

/**
 * Search (issue: "search p50/p99 on 100,000 contacts, indexing events/s"): contact events appended to the
 * PostgreSQL event store, the search projection run alone from zero to the head into the PostgreSQL search
 * index (indexing events/s), then closed-loop queries of six kinds against the big tenant (half of the
 * contacts) at concurrency 1 and 8 and against a small one at concurrency 1. The same documents and queries
 * against Elasticsearch when ELASTICSEARCH_URL is set.
 */
export async function benchSearch(databaseUrl: string, options: { contacts: number; durationMs: number; batchSize: number }): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 16 });
  await PostgresEventStore.migrate(pool);
  const notifications = new PgNotifications(databaseUrl, pool, logger);
  const store = new PostgresEventStore(pool, notifications);
  await notifications.ready();
  const orm = await openReadModels({ url: databaseUrl, entities: readModelEntities, poolSize: 8, logger });
  await migrateReadModels(orm);
  await PostgresSearchIndex.migrate(pool);
  const index = new PostgresSearchIndex(pool);
  try {
    const seeded = await seed(store, options.contacts);
    const [big, small] = [seeded.organizations[0]!, seeded.organizations[1]!];
    // Only contact events are in the log: the projection never waits on the workflows read model.
    const projection = searchProjection(index, { waitFor: async () => true });
    const caught = await catchUp(projection, store, orm, options.batchSize);
    const { rows } = await pool.query<{ n: string; bytes: string | null }>(
      `SELECT count(*) AS n, pg_total_relation_size(to_regclass('search_contacts')) AS bytes FROM search_contacts`,
    );
    const indexed = Number(rows[0]!.n);
    if (indexed !== options.contacts) throw new Error(`search index holds ${indexed} contacts, expected ${options.contacts}`);
    note(
      `search indexing: ${seeded.events} contact events (${options.contacts} contacts, 20 organizations: ${seeded.perTenant.get(big)} in the biggest, ` +
        `~${seeded.perTenant.get(small)} in each other), search projection alone from zero, batch ${options.batchSize}, ` +
        `PostgreSQL index (term dictionary + GIN): ${(caught.elapsedMs / 1000).toFixed(2)} s`,
    );
    report('search.indexing', (seeded.events / caught.elapsedMs) * 1000, 'events/s');
    report('search.indexing.docs', (options.contacts / caught.elapsedMs) * 1000, 'docs/s');
    report('search.indexing.rss_peak', mib(caught.peakRss), 'MiB');
    if (rows[0]!.bytes !== null) report('search.index_size', mib(Number(rows[0]!.bytes)), 'MiB');
    // The planner's statistics as autovacuum would have them on a live index.
    await pool.query('ANALYZE search_contacts');

    const runQueries = async (reader: SearchReader, prefix: string, engine: string) => {
      const common = { durationMs: options.durationMs };
      const bigEmails = seeded.emails.get(big)!;
      const bigSize = seeded.perTenant.get(big)!;
      note(
        `${engine} queries: 20 hits per page, ${(options.durationMs / 1000).toFixed(0)} s closed loop per kind; kinds: ${queryKinds.map((k) => describeKind[k]).join('; ')}`,
      );
      await benchQueries(reader, {
        ...common,
        label: `${engine}, big tenant (${bigSize} contacts), concurrency 1`,
        prefix,
        tenantId: big,
        emails: bigEmails,
        concurrency: 1,
        suffix: '',
      });
      await benchQueries(reader, {
        ...common,
        label: `${engine}, big tenant (${bigSize} contacts), concurrency 8`,
        prefix,
        tenantId: big,
        emails: bigEmails,
        concurrency: 8,
        suffix: '.c8',
      });
      const smallSize = seeded.perTenant.get(small)!;
      await benchQueries(reader, {
        ...common,
        label: `${engine}, small tenant (${smallSize} contacts), concurrency 1`,
        prefix,
        tenantId: small,
        emails: seeded.emails.get(small)!,
        concurrency: 1,
        suffix: '.small_tenant',
      });
    };
    await runQueries(index, 'search.query', 'PostgreSQL');

    const elasticsearchUrl = process.env.ELASTICSEARCH_URL;
    if (!elasticsearchUrl) {
      note('search on Elasticsearch: skipped (ELASTICSEARCH_URL is not set; Elasticsearch cannot run on this machine)');
    } else {
      await benchElasticsearch(elasticsearchUrl, pool, runQueries);
    }
  } finally {
    await orm.close();
    await store.close();
    await notifications.close();
    await pool.end();
  }
}

/** The PostgreSQL index's documents into a fresh set of Elasticsearch indexes (upsert), then the same queries. */
async function benchElasticsearch(
  url: string,
  pool: pg.Pool,
  runQueries: (reader: SearchReader, prefix: string, engine: string) => Promise<void>,
): Promise<void> {
  const { Client } = await import('@elastic/elasticsearch');
  const { ElasticsearchSearchIndex } = await import('../infra/search/elasticsearch-search-index.ts');
  const prefix = `nf-bench-${Date.now().toString(36)}-`;
  const admin = new Client({ node: url, requestTimeout: 120_000 });
  const elasticsearch = new ElasticsearchSearchIndex(url, prefix);
  try {
    const info = await admin.info();
    await elasticsearch.ensureIndexes();
    let copied = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    const started = performance.now();
    for (;;) {
      const { rows } = await pool.query<{ id: string; doc: ContactDocument }>(
        'SELECT id, doc FROM search_contacts WHERE id > $1 ORDER BY id LIMIT 1000',
        [after],
      );
      if (rows.length === 0) break;
      await elasticsearch.upsert(
        'contacts',
        rows.map((row) => row.doc),
      );
      copied += rows.length;
      after = rows[rows.length - 1]!.id;
    }
    await admin.indices.refresh({ index: `${prefix}contacts` });
    const elapsed = performance.now() - started;
    note(
      `Elasticsearch ${info.version.number} at ${new URL(url).host}: ${copied} contact documents upserted in pages of 1,000 (then one refresh): ${(elapsed / 1000).toFixed(2)} s`,
    );
    report('search.elasticsearch.upsert', (copied / elapsed) * 1000, 'docs/s');
    await runQueries(elasticsearch, 'search.elasticsearch.query', 'Elasticsearch');
  } finally {
    // Concrete names: deleting by wildcard is refused by default (action.destructive_requires_name).
    const existing = await admin.indices.get({ index: `${prefix}*` }).catch(() => ({}));
    const names = Object.keys(existing);
    if (names.length > 0) await admin.indices.delete({ index: names });
    await elasticsearch.close();
    await admin.close();
  }
}
