import { ContainerModule, type interfaces } from 'inversify';
import { upcast } from '../../domain/upcasting.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { DataProtection } from '../auth/data-protection.ts';
import type { Config } from '../config/config.ts';
import { HealthChecks, Lifecycle } from '../di/lifecycle.ts';
import { TOKENS } from '../di/tokens.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Notifications } from '../notifications/notifications.ts';
import type { Database, Secrets } from '../postgres/module.ts';
import { PersonalDataKeys, PersonalDataSealingStore, personalDataSealing } from '../privacy/personal-data-sealing.ts';
import type { EventStore, StoredLog } from './event-store.ts';
import { HashChainedEventStore } from './hash-chain.ts';
import { PostgresEventStore } from './postgres/postgres-event-store.ts';

const get = <T>(ctx: interfaces.Context, token: symbol) => ctx.container.getAsync<T>(token);

/** Events in PostgreSQL (the database's nf_events tables; `nexusflow migrate` creates them). */
export const postgresEventStoreModule = new ContainerModule((bind) => {
  bind<EventStore>(TOKENS.StoredEvents).toDynamicValue(async (ctx) => {
    const [database, notifications, lifecycle, metrics] = await Promise.all([
      get<Database>(ctx, TOKENS.Database),
      get<Notifications>(ctx, TOKENS.Notifications),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
      get<Metrics>(ctx, TOKENS.Metrics),
    ]);
    // Embedded: one shared session, so no named statements (see PostgresEventStoreOptions).
    const store = new PostgresEventStore(database.pool, notifications, {
      namedStatements: !database.embedded,
      copyBulk: !database.embedded,
      metrics,
    });
    lifecycle.onStop('event store', () => store.close());
    return store;
  });
});

/** Events in EventStoreDB / KurrentDB (EVENTSTORE_URL); personal-data keys stay in PostgreSQL. */
export const eventStoreDbModule = new ContainerModule((bind) => {
  bind<EventStore>(TOKENS.StoredEvents).toDynamicValue(async (ctx) => {
    const [config, lifecycle] = await Promise.all([get<Config>(ctx, TOKENS.Config), get<Lifecycle>(ctx, TOKENS.Lifecycle)]);
    // Loaded only when used: the gRPC client is heavy and most deployments run on PostgreSQL.
    const { EventStoreDbEventStore } = await import('./eventstoredb/eventstoredb-event-store.ts');
    const store = new EventStoreDbEventStore(config.EVENTSTORE_URL!);
    lifecycle.onStop('event store', () => store.close());
    return store;
  });
});

/**
 * The layers every event passes, from the store up, whichever store: every appended event links to the one
 * before it in its stream (tamper evidence); personal data is sealed with its person's key (erasure destroys
 * the key); old versions of events are upgraded on the way out (domain/upcasting.ts).
 */
export const eventStoreLayersModule = new ContainerModule((bind) => {
  bind<PersonalDataKeys>(TOKENS.PersonalDataKeys).toDynamicValue(async (ctx) => {
    const [config, database, secrets, notifications, lifecycle, metrics] = await Promise.all([
      get<Config>(ctx, TOKENS.Config),
      get<Database>(ctx, TOKENS.Database),
      get<Secrets>(ctx, TOKENS.Secrets),
      get<Notifications>(ctx, TOKENS.Notifications),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
      get<Metrics>(ctx, TOKENS.Metrics),
    ]);
    const keys = new PersonalDataKeys(
      database.pool,
      secrets.dataKey ? new DataProtection(secrets.dataKey) : null,
      notifications,
      !config.EVENTSTORE_URL,
      metrics,
    );
    lifecycle.onStop('personal data keys', () => keys.close());
    return keys;
  });
  bind<StoredLog>(TOKENS.StoredLog).toDynamicValue(async (ctx) => {
    const [stored, keys, metrics] = await Promise.all([
      get<EventStore>(ctx, TOKENS.StoredEvents),
      get<PersonalDataKeys>(ctx, TOKENS.PersonalDataKeys),
      get<Metrics>(ctx, TOKENS.Metrics),
    ]);
    const sealing = personalDataSealing(keys);
    return {
      log: new HashChainedEventStore(stored, metrics),
      readable: async (events: RecordedEvent[]) => (await sealing.onRead!(events)).map(upcast),
    };
  });
  bind<EventStore>(TOKENS.EventStore).toDynamicValue(async (ctx) => {
    const [stored, keys, health, config, metrics] = await Promise.all([
      get<StoredLog>(ctx, TOKENS.StoredLog),
      get<PersonalDataKeys>(ctx, TOKENS.PersonalDataKeys),
      get<HealthChecks>(ctx, TOKENS.HealthChecks),
      get<Config>(ctx, TOKENS.Config),
      get<Metrics>(ctx, TOKENS.Metrics),
    ]);
    const store = new PersonalDataSealingStore(stored.log, keys, stored.readable, metrics);
    health.add({
      name: 'eventStore',
      check: async () => ({ ok: true, detail: { kind: config.EVENTSTORE_URL ? 'eventstoredb' : 'postgres', head: await store.headPosition() } }),
    });
    return store;
  });
});
