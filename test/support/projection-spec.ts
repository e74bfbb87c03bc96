import { randomUUID } from 'node:crypto';
import { wrap, type EntitySchema, type FilterQuery, type MikroORM, type QueryOrderMap } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import type { Decider } from '../../domain/decider.ts';
import type { DomainEvent, EventMetadata } from '../../domain/events.ts';
import { PostgresEventStore } from '../../infra/eventstore/postgres/postgres-event-store.ts';
import type { GlobalEventLog } from '../../projectors/ports.ts';
import { projectionTables } from '../../projectors/read-models.ts';
import type { Projection } from '../../projectors/runner/projection.ts';
import { ProjectionRunner } from '../../projectors/runner/projection-runner.ts';
import { TENANT_FILTER } from '../../projectors/tenant-scope.ts';
import { eventually, testMetadata } from './events.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';
import { openStores, silentLogger } from './stores.ts';

/**
 * Given events → Then rows, for the read-model projections, on the real database (Emmett's projection specs,
 * in our terms):
 *
 *   const spec = projectionSpec(usersProjection);          // inside a describe: one database for the file
 *   await spec
 *     .given(registered, roleChanged)                      // appended to the event store, in this order
 *     .then(rowsOf(UserViewSchema, { tenant: org }), [{ id: userId, role: 'admin', ... }]);
 *
 * Each scenario starts from an empty log and empty read models. Its facts are appended to the PostgreSQL
 * event store, then the projection's real ProjectionRunner runs from its checkpoint until it has reached the
 * head of the log and stops; `when(...)` facts are appended afterwards and projected by a second runner (a
 * restart), so the projection meets the first rows in its tables, not in its batch. Rows are read back as the
 * query side reads them: through the ORM, scoped to an organization for tenant tables.
 *
 * What the runner can deliver is part of the scenario: `inBatchesOf(1)` (batch boundaries anywhere),
 * `byRunners(2)` (two projector processes at once), and a failing event, after which the runner applies the
 * rest of its batch again in smaller transactions and parks the culprit (`thenParked`).
 */

/** A fact as the command side records it: an event of a decider, in a stream, with its metadata. */
export interface Fact {
  id: string;
  streamId: string;
  event: DomainEvent;
  metadata: EventMetadata;
}

/** An instant `minutes` after a fixed start: facts carry it as `occurredAt`, rows as their timestamps. */
export function at(minutes: number): string {
  return new Date(Date.UTC(2026, 2, 2, 9, 0) + minutes * 60_000).toISOString();
}

/** One fact in `streamId`; metadata names the tenant (null: platform-level) and defaults to `at(0)`. */
export function fact(
  streamId: string,
  event: DomainEvent,
  metadata: Partial<EventMetadata> & Pick<EventMetadata, 'tenantId'>,
  id = randomUUID(),
): Fact {
  return { id, streamId, event, metadata: testMetadata({ occurredAt: at(0), ...metadata }) };
}

/**
 * An entity's stream driven by its own decider, for realistic facts: each command is decided against the
 * state its earlier facts folded into, exactly as the command handler does.
 */
export function entityStream<C, S, E extends DomainEvent>(
  decider: Decider<C, S, E>,
  streamId: string,
  metadata: Partial<EventMetadata> & Pick<EventMetadata, 'tenantId'>,
) {
  let state = decider.initialState;
  return {
    /** The facts `command` produces now (at `minutes`, default 0); the stream's state moves on. */
    decide(command: C, minutes = 0): Fact[] {
      const events = decider.decide(command, state);
      state = events.reduce(decider.evolve, state);
      return events.map((event) => fact(streamId, event, { ...metadata, occurredAt: at(minutes) }));
    },
    get state(): S {
      return state;
    },
  };
}

/** Reads rows of a read model as its users see them (see rowsOf). */
export type Rows<T> = (orm: MikroORM) => Promise<T[]>;

/**
 * The rows of one read-model entity. `tenant`: read as that organization's query would (the tenant filter
 * set, as query-api/scoped-entity-manager.ts does); without it, tables that carry the filter refuse to
 * answer, like the query side. Ordered by primary key unless `orderBy` says otherwise. Each row is a plain
 * object of the entity's properties.
 */
export function rowsOf<T extends object>(
  schema: EntitySchema<T>,
  options: { tenant?: string; where?: FilterQuery<T>; orderBy?: QueryOrderMap<T> } = {},
): Rows<T> {
  return async (orm) => {
    const em = orm.em.fork();
    if (options.tenant !== undefined) em.setFilterParams(TENANT_FILTER, { organizationId: options.tenant });
    const meta = orm.getMetadata().get(schema.meta.className);
    const orderBy = options.orderBy ?? (Object.fromEntries(meta.primaryKeys.map((key) => [key, 'asc'])) as QueryOrderMap<T>);
    const rows = await em.find(schema, options.where ?? ({} as FilterQuery<T>), { orderBy });
    return rows.map((row) => wrap(row, true).toObject() as T);
  };
}

export interface ParkedExpectation {
  eventType: string;
  /** What the error says (the runner stores `name: message`). */
  error: RegExp;
}

export interface Scenario {
  /** More facts, appended after the given ones were projected and projected by a restarted runner. */
  when(...facts: (Fact | Fact[])[]): Scenario;
  /** How many events the runner reads at once (default 100: a scenario's facts arrive in one batch). */
  inBatchesOf(size: number): Scenario;
  /**
   * Several runners of the projection at once, as several projector processes run it: both read the same
   * events, and the checkpoint decides which of them applies each batch.
   */
  byRunners(count: number): Scenario;
  /** Batches written as on the embedded database: no COPY, no statements prepared by name. */
  asOnEmbedded(): Scenario;
  /** Projects (once per scenario), then compares every row `rows` reads with `expected`, in order. */
  then<T>(rows: Rows<T>, expected: T[]): Promise<void>;
  /**
   * Projects (once per scenario), then compares the events the runner parked for this projection. Any
   * later `then` of the scenario accepts them; without this, `then` fails when an event was parked.
   */
  thenParked(expected: ParkedExpectation[]): Promise<void>;
  /** Projects (once per scenario) and answers what `rows` reads, for comparisons between scenarios. */
  rows<T>(rows: Rows<T>): Promise<T[]>;
}

type Stores = Awaited<ReturnType<typeof openStores>>;

interface RunOptions {
  batchSize: number;
  runners: number;
  server: boolean;
}

/**
 * The store as the runner reads it, but a wait for appends that starts after the runner was told to stop
 * returns at once. PostgresEventStore.waitForAppends does not look at a signal that is already aborted, so a
 * stop() that lands while the subscription reads its next page waits out a whole idle poll (1 s) per
 * scenario. Only the stop is quicker: every read goes to the store unchanged.
 */
function stoppable(store: PostgresEventStore): GlobalEventLog {
  return {
    readAll: (options) => store.readAll(options),
    readPage: (options) => store.readPage(options),
    headPosition: () => store.headPosition(),
    isValidPosition: (value) => store.isValidPosition(value),
    comparePositions: (a, b) => store.comparePositions(a, b),
    waitForAppends: (after, timeoutMs, signal) => (signal.aborted ? Promise.resolve() : store.waitForAppends(after, timeoutMs, signal)),
  };
}

/**
 * A Given/Then specification of `projection`. Call it inside a `describe`: it opens one test database for
 * the describe (hooks) and drops it afterwards; each scenario empties the log and the read models first.
 */
export function projectionSpec(projection: Projection) {
  let database: TestDatabase | null = null;
  let stores: Stores | null = null;
  let store: PostgresEventStore | null = null;
  const tables = [...new Set([...Object.values(projectionTables).flat(), 'projection_checkpoints', 'parked_events'])];

  before(async function () {
    this.timeout(60_000);
    database = await createTestDatabase('nf_test_projection');
    stores = await openStores(database.url);
  });
  after(async () => {
    await store?.close();
    await stores?.close();
    await database?.drop();
  });

  const opened = (): Stores => {
    if (!stores) throw new Error('projectionSpec(...) must be called inside a describe (its hooks open the database)');
    return stores;
  };

  /** An empty log and empty read models, and a store that has heard of no position yet. */
  async function reset(): Promise<PostgresEventStore> {
    const { pool, notifications } = opened();
    await store?.close();
    // DELETE rather than TRUNCATE: the tables hold a scenario's few rows, and TRUNCATE's new files cost more.
    await pool.query(
      `${['nf_events', ...tables].map((table) => `DELETE FROM ${table};`).join(' ')} UPDATE nf_log_head SET position = 0 WHERE id = 1`,
    );
    store = new PostgresEventStore(pool, notifications);
    return store;
  }

  async function project(log: PostgresEventStore, facts: Fact[], run: RunOptions): Promise<void> {
    for (const { id, streamId, event, metadata } of facts) {
      await log.append(streamId, [{ id, type: event.type, version: event.version, data: event.data, metadata }], 'any');
    }
    const head = await log.headPosition();
    const runners = Array.from(
      { length: run.runners },
      () => new ProjectionRunner(projection, stoppable(log), opened().orm, silentLogger, { batchSize: run.batchSize, server: run.server }),
    );
    await Promise.all(runners.map((runner) => runner.start()));
    try {
      // Whichever runner moves the checkpoint to the head (or skips to it) ends there; the others find the
      // events applied and drop them. stop() lets each finish the batch in hand.
      await eventually(
        () => runners.map((runner) => runner.status().position),
        (positions) => head === null || positions.includes(head),
      );
    } finally {
      await Promise.all(runners.map((runner) => runner.stop()));
    }
  }

  async function parkedEvents(): Promise<{ event_type: string; error: string }[]> {
    const { rows } = await opened().pool.query<{ event_type: string; error: string }>(
      'SELECT event_type, error FROM parked_events WHERE projection = $1 ORDER BY id',
      [projection.name],
    );
    return rows;
  }

  /** The scenario whose facts the database holds now: projecting another one replaced them. */
  let current: symbol | null = null;

  function scenario(phases: Fact[][], run: RunOptions): Scenario {
    const id = Symbol('scenario');
    let projected: Promise<void> | null = null;
    let parkedSeen = false;
    const applied = async () => {
      projected ??= (async () => {
        current = id;
        const log = await reset();
        for (const facts of phases) await project(log, facts, run);
      })();
      await projected;
      if (current !== id) throw new Error('another scenario was projected since this one: check a scenario before projecting the next');
    };
    return {
      when: (...facts) => scenario([...phases, facts.flat()], run),
      inBatchesOf: (batchSize) => scenario(phases, { ...run, batchSize }),
      byRunners: (runners) => scenario(phases, { ...run, runners }),
      asOnEmbedded: () => scenario(phases, { ...run, server: false }),
      async then(rows, expected) {
        await applied();
        const parked = await parkedEvents();
        if (!parkedSeen && parked.length > 0) {
          expect.fail(`the runner parked events (expect them with thenParked first): ${JSON.stringify(parked)}`);
        }
        expect(await rows(opened().orm)).to.deep.equal(expected);
      },
      async thenParked(expected) {
        await applied();
        const parked = await parkedEvents();
        expect(
          parked.map((p) => p.event_type),
          'types of the parked events',
        ).to.deep.equal(expected.map((e) => e.eventType));
        parked.forEach((p, i) => expect(p.error).to.match(expected[i]!.error));
        parkedSeen = true;
      },
      async rows(rows) {
        await applied();
        return rows(opened().orm);
      },
    };
  }

  return {
    /** The facts in the log before the projection runs, appended in this order (arrays are spread). */
    given: (...facts: (Fact | Fact[])[]): Scenario => scenario([facts.flat()], { batchSize: 100, runners: 1, server: true }),
  };
}
