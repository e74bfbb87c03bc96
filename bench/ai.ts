import OpenAI from 'openai';
import pg from 'pg';
import pino from 'pino';
import { Pool } from 'undici';
import { vectorModelOf } from '../command-api/ai/ai-features.ts';
import { PromptBook } from '../command-api/ai/prompt-book.ts';
import { ScanVectorIndex, vectorIndexFor } from '../infra/ai/vector-index.ts';
import { openReadModels } from '../infra/readmodels/orm.ts';
import { embeddingTextOf } from '../projectors/ai/embeddings-projection.ts';
import { readModelEntities } from '../projectors/read-models.ts';
import { FakeOpenAI, fakeEmbedding } from '../test/support/fake-openai.ts';
import { ServerProcess, json, signUp } from './http.ts';
import { seededRandom, seededUuid } from './search.ts';
import { Latencies, mib, note, parseMetrics, report, total, type Samples } from './stats.ts';

const logger = pino({ level: 'silent' });

/** The embedding length the bench system is configured with (AI_EMBEDDING_DIMENSIONS). */
const DIMENSIONS = 256;
/** The embedding model the bench system asks for (AI_EMBEDDING_MODEL's default); the fake answers with the name it was asked. */
const EMBEDDING_MODEL = 'text-embedding-3-small';
const PROMPT = 'Give me three subject lines for a follow-up after a product demo.';
const ROWS_PER_INSERT = 5_000;

const FIRST = (
  'Ada Grace Alan Linus Margaret Ken Barbara Dennis Frances Edsger Radia Niklaus Hedy John Katherine ' +
  'Tim Sophie Donald Annie Bjarne Lynn Guido Jean Yukihiro Shafi Leslie Anita Vint Joan Andrew'
).split(' ');
const LAST = (
  'Lovelace Hopper Turing Torvalds Hamilton Thompson Liskov Ritchie Allen Dijkstra Perlman Wirth Lamarr Backus Johnson ' +
  'Lee Wilson Knuth Easley Stroustrup Conway Rossum Sammet Matsumoto Goldwasser Lamport Borg Cerf Clarke Tanenbaum'
).split(' ');
const TITLES = (
  'Head of Sales, Chief Technology Officer, Head of Logistics, Marketing Manager, Procurement Lead, VP Engineering, Operations Director, ' +
  'Finance Controller, Customer Success Manager, Founder, Product Manager, Data Scientist, Supply Chain Analyst, Account Executive, ' +
  'HR Business Partner, Security Architect'
).split(', ');
const COMPANIES = (
  'Acme Freight, Globex Logistics, Initech Software, Umbrella Pharma, Stark Industries, Wayne Shipping, Hooli Cloud, Pied Piper, ' +
  'Vandelay Imports, Soylent Foods, Tyrell Robotics, Cyberdyne Systems, Wonka Confectionery, Oceanic Airlines, Monarch Bank, ' +
  'Gringotts Finance, Aperture Labs, Black Mesa Research, Dunder Mifflin Paper, Prestige Worldwide'
).split(', ');
const TAGS = 'lead customer partner churned vip newsletter trial enterprise smb event-2026'.split(' ');

/** The organization an access token belongs to (its `org` claim). */
function organizationOf(accessToken: string): string {
  const claims = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  const id = claims.org ?? claims.organizationId ?? claims.tenantId;
  if (typeof id !== 'string') throw new Error(`no organization in the access token's claims: ${Object.keys(claims).join(', ')}`);
  return id;
}

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

/** Queries a person might type: roles at companies, names, roles with a tag, companies. */
function queries(count: number): string[] {
  const random = seededRandom(22);
  return Array.from({ length: count }, (_, i) => {
    switch (i % 4) {
      case 0:
        return `${pick(random, TITLES)} at ${pick(random, COMPANIES)}`;
      case 1:
        return `${pick(random, FIRST)} ${pick(random, LAST)}`;
      case 2:
        return `${pick(random, TITLES)} ${pick(random, TAGS)}`;
      default:
        return `people at ${pick(random, COMPANIES)}`;
    }
  });
}

/**
 * `count` contacts of one organization as the embeddings projection and the embedder would leave them in
 * `ai_embeddings`: the text of the `contact-embedding` prompt and its hash, embedded (embedded_hash =
 * text_hash) by the fake provider's embedding of that text under `model`. Inserted directly, in statements of
 * ROWS_PER_INSERT rows (the next built while one is written): creating them through the API would take an
 * hour of this machine, and it is the search that is measured here.
 */
async function loadContacts(databaseUrl: string, organizationId: string, count: number, model: string): Promise<void> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    const { rows: columns } = await db.query<{ present: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('ai_embeddings') AND attname = 'embedding_v' AND NOT attisdropped) AS present`,
    );
    const withVector = columns[0]!.present;
    const prompt = new PromptBook().get('contact-embedding');
    const random = seededRandom(2026);
    const started = performance.now();
    let writing: Promise<unknown> = Promise.resolve();
    for (let offset = 0; offset < count; offset += ROWS_PER_INSERT) {
      const ids: string[] = [];
      const texts: string[] = [];
      const hashes: string[] = [];
      const vectors: Buffer[] = [];
      const literals: string[] = [];
      const sources: string[] = [];
      for (let i = offset; i < Math.min(count, offset + ROWS_PER_INSERT); i++) {
        const tags = random() < 0.7 ? [pick(random, TAGS)] : [];
        const source = {
          firstName: pick(random, FIRST),
          lastName: pick(random, LAST),
          title: pick(random, TITLES),
          company: pick(random, COMPANIES),
          tags,
        };
        const { text, textHash } = embeddingTextOf(prompt, source);
        const vector = fakeEmbedding(text, DIMENSIONS);
        const bytes = Buffer.allocUnsafe(vector.length * 4);
        vector.forEach((value, j) => bytes.writeFloatLE(value, j * 4));
        ids.push(seededUuid(random));
        texts.push(text);
        hashes.push(textHash);
        vectors.push(bytes);
        if (withVector) literals.push(`[${vector.join(',')}]`);
        sources.push(JSON.stringify(source));
      }
      await writing;
      writing = db.query(
        `INSERT INTO ai_embeddings (organization_id, kind, item_id, text, text_hash, embedded_hash, model, embedding, source${withVector ? ', embedding_v' : ''})
         SELECT $1::uuid, 'contact', u.item_id, u.text, u.text_hash, u.text_hash, $2, u.embedding, u.source::jsonb${withVector ? ', u.literal::vector' : ''}
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::bytea[], $7::text[]${withVector ? ', $8::text[]' : ''})
           AS u(item_id, text, text_hash, embedding, source${withVector ? ', literal' : ''})`,
        [organizationId, model, ids, texts, hashes, vectors, sources, ...(withVector ? [literals] : [])],
      );
    }
    await writing;
    await db.query('ANALYZE ai_embeddings');
    note(
      `ai: ${count} contacts of one organization written to ai_embeddings (model ${model}${withVector ? ', pgvector column too' : ''}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await db.end();
  }
}

/** Mean wall time per pass of each request layer the server timed between two scrapes, and the round trips per request. */
function reportLayers(prefix: string, before: Samples, after: Samples, requests: number): void {
  const delta = (series: string, labels = '') => total(after, series, labels) - total(before, series, labels);
  const layers = new Set<string>();
  for (const key of after.keys()) {
    const layer = /^nexusflow_request_layer_duration_seconds_count\{.*layer="([^"]+)"/.exec(key)?.[1];
    if (layer) layers.add(layer);
  }
  for (const layer of [...layers].sort()) {
    const count = delta('nexusflow_request_layer_duration_seconds_count', `layer="${layer}"`);
    if (count <= 0) continue;
    const sum = delta('nexusflow_request_layer_duration_seconds_sum', `layer="${layer}"`);
    report(`${prefix}.layer.${layer}`, (sum * 1000) / count, `ms per pass (${(count / requests).toFixed(2)} per request)`);
  }
  report(`${prefix}.redis_round_trips`, delta('nexusflow_redis_round_trips_total') / requests, 'per request');
  report(`${prefix}.database_round_trips`, delta('nexusflow_database_round_trips_total') / requests, 'per request');
}

/**
 * The AI service (issue 22), against the loopback OpenAI-compatible server (test/support/fake-openai.ts, in
 * this process) with the command API in its own process (as `npm run start:command-api`):
 *
 * - gateway overhead: the same chat completion made `requests` times directly with the `openai` library
 *   (the baseline: library and loopback provider) and through `POST /ai/complete` (HTTP, authentication,
 *   the AI switch, token count, per-minute limit in Redis, the monthly allowance, the provider call through the
 *   router, the AiTokensUsed append), one after the other (alternating, so both see the same machine), after
 *   50 of each as warm-up; the overhead is the difference per percentile;
 * - embedding search over `contacts` contacts of one organization: `POST /ai/search` (embedding the query at
 *   the fake, the index's search and its coverage count) and the VectorIndex alone in this process
 *   (`vectorIndexFor`, as the server builds it), `searches` varied queries each after 20 of warm-up; the first
 *   search (which loads the scan engine's cache) separately.
 */
export async function benchAi(databaseUrl: string, options: { requests: number; contacts: number; searches: number }): Promise<void> {
  const fake = await FakeOpenAI.start();
  const server = await ServerProcess.start('command-api/main.ts', {
    DATABASE_URL: databaseUrl,
    JWT_SECRET: 'bench-'.repeat(8),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    PASSWORD_HASH_COST: '12',
    OPENAI_API_KEY: fake.apiKey,
    OPENAI_BASE_URL: fake.baseUrl,
    AI_EMBEDDING_MODEL: EMBEDDING_MODEL,
    AI_EMBEDDING_DIMENSIONS: String(DIMENSIONS),
    // One organization sends every request: the per-minute limits would measure their refusals.
    AI_REQUESTS_PER_MINUTE: '1000000',
    RATE_LIMIT_PER_TENANT: '100000000',
  });
  const pool = new Pool(server.origin, { connections: 1, pipelining: 1 });
  const orm = await openReadModels({ url: databaseUrl, entities: readModelEntities, poolSize: 4, logger });
  try {
    const { accessToken: token } = await signUp(pool);
    const organizationId = organizationOf(token);
    const scrape = async () => parseMetrics(await server.metricsText());

    // --- gateway overhead ---
    const complete = () => json(pool, 'POST', '/ai/complete', token, { prompt: PROMPT, cache: false });
    const first = await complete();
    if (first.provider !== 'openai' || first.cache !== 'off') throw new Error(`unexpected answer: ${JSON.stringify(first).slice(0, 300)}`);
    // The very request the gateway sent (system message of the prompt book, the prompt, the answer's cap), sent again directly.
    const sent = fake.requests.filter((request) => request.path === '/v1/chat/completions').at(-1)!
      .body as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const client = new OpenAI({ apiKey: fake.apiKey, baseURL: fake.baseUrl, maxRetries: 0, timeout: 30_000 });
    const direct = async () => {
      const answer = await client.chat.completions.create({ ...sent, stream: false });
      if (!answer.choices[0]?.message.content) throw new Error('the direct completion answered no text');
    };
    const directLatencies = new Latencies();
    const httpLatencies = new Latencies();
    const timed = async (work: () => Promise<unknown>, into: Latencies | null) => {
      const started = performance.now();
      await work();
      into?.add(performance.now() - started);
    };
    for (let i = 0; i < 50; i++) {
      await timed(direct, null);
      await timed(complete, null);
    }
    const [cpuBefore, metricsBefore] = await Promise.all([server.cpuSeconds(), scrape()]);
    for (let i = 0; i < options.requests; i++) {
      // Alternating which goes first, so neither always follows the other.
      if (i % 2 === 0) {
        await timed(direct, directLatencies);
        await timed(complete, httpLatencies);
      } else {
        await timed(complete, httpLatencies);
        await timed(direct, directLatencies);
      }
    }
    const [cpuAfter, metricsAfter] = await Promise.all([server.cpuSeconds(), scrape()]);
    note(
      `ai gateway: ${options.requests} chat completions each way, sequential, alternating: the openai library straight to the loopback provider, and POST /ai/complete {cache:false} through the command API (its own process) to the same provider`,
    );
    report('ai.gateway.direct.p50', directLatencies.percentile(50), 'ms');
    report('ai.gateway.direct.p99', directLatencies.percentile(99), 'ms');
    report('ai.gateway.http.p50', httpLatencies.percentile(50), 'ms');
    report('ai.gateway.http.p99', httpLatencies.percentile(99), 'ms');
    report(
      'ai.gateway.overhead.p50',
      httpLatencies.percentile(50) - directLatencies.percentile(50),
      'ms',
      "≤ 10 ms (a few ms: LiteLLM's reported overhead)",
    );
    report('ai.gateway.overhead.p99', httpLatencies.percentile(99) - directLatencies.percentile(99), 'ms');
    report('ai.gateway.http.server_cpu_per_request', ((cpuAfter - cpuBefore) * 1000) / options.requests, 'ms (the command API process)');
    reportLayers('ai.gateway.http', metricsBefore, metricsAfter, options.requests);

    // --- embedding search ---
    const model = vectorModelOf(EMBEDDING_MODEL, new Array<number>(DIMENSIONS).fill(0));
    await loadContacts(databaseUrl, organizationId, options.contacts, model);
    const asked = queries(options.searches + 21);
    const search = (query: string, coverage = false) =>
      json(pool, 'POST', '/ai/search', token, { query, limit: 10, coverage }) as Promise<{
        engine: string;
        model: string;
        matches: { id: string; score: number }[];
        coverage: { items: number; embedded: number } | null;
      }>;
    const rssBefore = await server.rss();
    const firstStarted = performance.now();
    const firstAnswer = await search(asked[0]!, true);
    const firstMs = performance.now() - firstStarted;
    const rssLoaded = await server.rss();
    if (firstAnswer.coverage?.embedded !== options.contacts || firstAnswer.matches.length === 0) {
      throw new Error(
        `the search did not see the contacts written as ${model}: coverage ${JSON.stringify(firstAnswer.coverage)}, ${firstAnswer.matches.length} matches`,
      );
    }
    const index = await vectorIndexFor(orm);
    const indexFirstStarted = performance.now();
    await index.search({ organizationId, kind: 'contact', model, vector: fakeEmbedding(asked[0]!, DIMENSIONS), limit: 10 });
    const indexFirstMs = performance.now() - indexFirstStarted;
    const httpSearch = new Latencies();
    const indexSearch = new Latencies();
    const coverage = new Latencies();
    let engine = firstAnswer.engine;
    let disagreements = 0;
    for (let i = 1; i < asked.length; i++) {
      const query = asked[i]!;
      const measured = i > 20;
      let started = performance.now();
      const answer = await search(query);
      if (measured) httpSearch.add(performance.now() - started);
      if (answer.matches.length === 0) throw new Error(`no match for "${query}"`);
      engine = answer.engine;
      const vector = fakeEmbedding(query, DIMENSIONS);
      started = performance.now();
      const matches = await index.search({ organizationId, kind: 'contact', model, vector, limit: 10 });
      if (measured) indexSearch.add(performance.now() - started);
      if (matches[0]?.itemId !== answer.matches[0]!.id) disagreements++;
      started = performance.now();
      await index.coverage(organizationId, 'contact', model);
      if (measured) coverage.add(performance.now() - started);
    }
    note(
      `ai search: ${options.contacts} contacts of one organization (${DIMENSIONS} dimensions), engine ${engine}, ${httpSearch.count} varied queries, limit 10, sequential; POST /ai/search embeds the query at the loopback provider and searches (coverage only on the first, which asks for it)`,
    );
    if (disagreements > 0) note(`${disagreements} queries: the index alone found another best match than POST /ai/search`);
    report('ai.search.first_ms', firstMs, 'ms (POST /ai/search, loading the scan cache)');
    report('ai.search.p50', httpSearch.percentile(50), 'ms');
    report('ai.search.p99', httpSearch.percentile(99), 'ms (no target; measured)');
    report('ai.search.index.first_ms', indexFirstMs, 'ms (VectorIndex.search in this process, loading its cache)');
    report('ai.search.index.p50', indexSearch.percentile(50), 'ms');
    report('ai.search.index.p99', indexSearch.percentile(99), 'ms (no target; measured)');
    report('ai.search.coverage.p50', coverage.percentile(50), 'ms (VectorIndex.coverage: what `coverage: true` adds to a search)');
    report('ai.search.coverage.p99', coverage.percentile(99), 'ms');
    if (index instanceof ScanVectorIndex) report('ai.search.index.cache_mb', mib(index.cacheBytes), 'MiB (the scan cache, counted by the index)');
    report('ai.search.rss_mb', mib(rssLoaded), `MiB (the command API process after the first search; ${mib(rssBefore).toFixed(0)} MiB before)`);
  } finally {
    await orm.close();
    await pool.close();
    await server.stop();
    await fake.close();
  }
}
