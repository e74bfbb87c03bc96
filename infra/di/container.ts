import 'reflect-metadata';
import { Container, ContainerModule } from 'inversify';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { adapterModules } from '../adapters.ts';
import { loadConfig, type Config, type Role } from '../config/config.ts';
import type { EventStore, StoredLog } from '../eventstore/event-store.ts';
import type { HttpEndpoint } from '../http/module.ts';
import { createLogger } from '../logging.ts';
import { SchemaMigrations, SchemaVersion, type MigrationReport } from '../migrations/schema.ts';
import type { Notifications } from '../notifications/notifications.ts';
import type { Database } from '../postgres/module.ts';
import type { PersonalDataKeys } from '../privacy/personal-data-sealing.ts';
import type { ReadModelGenerations } from '../readmodels/generations.ts';
import { Metrics } from '../observability/metrics.ts';
import { HealthChecks, Lifecycle } from './lifecycle.ts';
import { TOKENS } from './tokens.ts';

/**
 * A container for one process: its configuration, logger, lifecycle and health registry, the adapters the
 * configuration chooses (infra/adapters.ts), then the modules of its role (and, in tests, modules that
 * observe what is built). The same modules wherever the container is made: roles, the command line, tests.
 */
export function createContainer(config: Config, logger: Logger, modules: readonly ContainerModule[]): { container: Container; lifecycle: Lifecycle } {
  const container = new Container({ defaultScope: 'Singleton' });
  const lifecycle = new Lifecycle(logger);
  container.bind(TOKENS.Config).toConstantValue(config);
  container.bind(TOKENS.Logger).toConstantValue(logger);
  container.bind(TOKENS.Lifecycle).toConstantValue(lifecycle);
  container.bind(TOKENS.HealthChecks).toConstantValue(new HealthChecks());
  container.bind(TOKENS.Metrics).toConstantValue(new Metrics());
  container.load(...adapterModules(config), ...new Set(modules));
  container.bind(SchemaMigrationsToken).toDynamicValue(async (ctx) => {
    const [database, orm] = await Promise.all([ctx.container.getAsync<Database>(TOKENS.Database), ctx.container.getAsync<MikroORM>(TOKENS.Orm)]);
    return new SchemaMigrations({
      config,
      database,
      orm,
      generations: () => ctx.container.getAsync(TOKENS.Generations),
      search: () => ctx.container.getAsync(TOKENS.SearchIndex),
      analytics: () => ctx.container.getAsync(TOKENS.AnalyticsStore),
      logger,
    });
  });
  return { container, lifecycle };
}

const SchemaMigrationsToken = Symbol.for('nexusflow.SchemaMigrations');

/** Brings the schema to this build's version (`nexusflow migrate`; `npm start` on the embedded default). */
export async function migrateSchema(container: Container) {
  return (await container.getAsync<SchemaMigrations>(SchemaMigrationsToken)).migrate();
}

/**
 * Migrates the database an environment names, as `nexusflow migrate` does (tests and benches do it before
 * starting processes on a fresh database), and closes what it opened.
 */
export async function migrateDatabase(env: NodeJS.ProcessEnv): Promise<MigrationReport> {
  const config = loadConfig(env, 'cli');
  const { container, lifecycle } = createContainer(config, createLogger({ level: config.LOG_LEVEL, service: 'migrate' }), []);
  try {
    return await migrateSchema(container);
  } finally {
    await lifecycle.stop();
  }
}

/** What tests and tools in the same process may look at in a started process (never its container). */
export interface Inspection {
  embedded: boolean;
  pool: Database['pool'];
  notifications: Notifications;
  eventStore: EventStore;
  storedLog: EventStore;
  readable: StoredLog['readable'];
  personalDataKeys: PersonalDataKeys;
  orm: MikroORM;
  generations: ReadModelGenerations;
}

export interface StartedProcess {
  config: Config;
  logger: Logger;
  server: { readonly port: number };
  /** The adapters of this process, for tests and tools running in it (opens those the role did not need). */
  inspect(): Promise<Inspection>;
  stop(): Promise<void>;
}

export interface RoleOptions {
  /** Modules added after the role's: tests observe what is built (onActivation), never replace our code. */
  observers?: readonly ContainerModule[];
}

/**
 * Starts one process: the role's modules over the chosen adapters. The schema must be this build's (it is
 * migrated here only for the all-in-one process on the embedded database, which nobody else shares); then
 * the role's services are made, the HTTP server last, and everything starts in the order it was made.
 */
export async function startRole(
  role: Role,
  modules: readonly ContainerModule[],
  env: NodeJS.ProcessEnv = process.env,
  options: RoleOptions = {},
): Promise<StartedProcess> {
  const config = loadConfig(env, role);
  const logger = createLogger({ level: config.LOG_LEVEL, service: role === 'all' ? 'nexusflow' : role });
  const { container, lifecycle } = createContainer(config, logger, [...modules, ...(options.observers ?? [])]);
  try {
    const database = await container.getAsync<Database>(TOKENS.Database);
    if (role === 'all' && database.embedded) await migrateSchema(container);
    else await new SchemaVersion(database).require();
    if (container.isBound(TOKENS.Services)) await container.getAllAsync(TOKENS.Services);
    const server = await container.getAsync<HttpEndpoint>(TOKENS.HttpServer);
    await lifecycle.start();
    const inspect = async (): Promise<Inspection> => ({
      embedded: database.embedded,
      pool: database.pool,
      notifications: await container.getAsync(TOKENS.Notifications),
      eventStore: await container.getAsync(TOKENS.EventStore),
      storedLog: (await container.getAsync<StoredLog>(TOKENS.StoredLog)).log,
      readable: (await container.getAsync<StoredLog>(TOKENS.StoredLog)).readable,
      personalDataKeys: await container.getAsync(TOKENS.PersonalDataKeys),
      orm: await container.getAsync(TOKENS.Orm),
      generations: await container.getAsync(TOKENS.Generations),
    });
    return { config, logger, server, inspect, stop: () => lifecycle.stop() };
  } catch (err) {
    await lifecycle.stop();
    throw err;
  }
}
