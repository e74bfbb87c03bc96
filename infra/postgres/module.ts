import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ContainerModule, type interfaces } from 'inversify';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { HealthChecks, Lifecycle } from '../di/lifecycle.ts';
import { TOKENS } from '../di/tokens.ts';
import { InProcessNotifications } from '../notifications/in-process-notifications.ts';
import type { Notifications } from '../notifications/notifications.ts';
import { PgNotifications } from '../notifications/pg-notifications.ts';
import { EmbeddedPostgres } from './embedded-postgres.ts';

/** The PostgreSQL database of the event store and the read models. */
export interface Database {
  url: string;
  /** PGlite in this process (one session shared by every connection). */
  embedded: boolean;
  pool: pg.Pool;
}

/** The token signing secret (null only for the command line against a server without JWT_SECRET) and the data key. */
export interface Secrets {
  jwtSecret: string | null;
  /** Seals personal data and second-factor secrets: DATA_ENCRYPTION_KEY, else the signing secret. */
  dataKey: string | null;
}

const get = <T>(ctx: interfaces.Context, token: symbol) => ctx.container.getAsync<T>(token);

function poolFor(url: string, config: Config, logger: Logger, lifecycle: Lifecycle): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: config.DB_POOL_SIZE, keepAlive: true });
  // An idle connection that dies (server restart) must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger.warn({ err }, 'idle database connection lost'));
  lifecycle.onStop('database pool', () => pool.end());
  return pool;
}

function databaseCheck(database: Database) {
  return {
    name: 'database',
    check: async () => {
      await database.pool.query('SELECT 1');
      return { ok: true, detail: database.embedded ? 'embedded' : 'server' };
    },
  };
}

/** A PostgreSQL server at DATABASE_URL; wake-ups by LISTEN/NOTIFY. */
export const serverDatabaseModule = new ContainerModule((bind) => {
  bind<Database>(TOKENS.Database).toDynamicValue(async (ctx) => {
    const [config, logger, lifecycle, health] = await Promise.all([
      get<Config>(ctx, TOKENS.Config),
      get<Logger>(ctx, TOKENS.Logger),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
      get<HealthChecks>(ctx, TOKENS.HealthChecks),
    ]);
    const database = { url: config.DATABASE_URL!, embedded: false, pool: poolFor(config.DATABASE_URL!, config, logger, lifecycle) };
    health.add(databaseCheck(database));
    return database;
  });
  bind<Notifications>(TOKENS.Notifications).toDynamicValue(async (ctx) => {
    const [database, logger, lifecycle] = await Promise.all([
      get<Database>(ctx, TOKENS.Database),
      get<Logger>(ctx, TOKENS.Logger),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
    ]);
    const notifications = new PgNotifications(database.url, database.pool, logger.child({ component: 'notifications' }));
    lifecycle.onStop('notifications', () => notifications.close());
    return notifications;
  });
  bind<Secrets>(TOKENS.Secrets).toDynamicValue(async (ctx) => {
    const config = await get<Config>(ctx, TOKENS.Config);
    const jwtSecret = config.JWT_SECRET ?? null;
    return { jwtSecret, dataKey: config.DATA_ENCRYPTION_KEY ?? jwtSecret };
  });
});

/** PGlite in this process, its data in NEXUSFLOW_DATA_DIR (or memory); wake-ups in process. */
export const embeddedDatabaseModule = new ContainerModule((bind) => {
  bind<Database>(TOKENS.Database).toDynamicValue(async (ctx) => {
    const [config, logger, lifecycle, health] = await Promise.all([
      get<Config>(ctx, TOKENS.Config),
      get<Logger>(ctx, TOKENS.Logger),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
      get<HealthChecks>(ctx, TOKENS.HealthChecks),
    ]);
    const server = await EmbeddedPostgres.start(config.NEXUSFLOW_DATA_DIR, logger);
    lifecycle.onStop('embedded database', () => server.stop());
    const database = { url: server.url, embedded: true, pool: poolFor(server.url, config, logger, lifecycle) };
    health.add(databaseCheck(database));
    return database;
  });
  bind<Notifications>(TOKENS.Notifications).toDynamicValue(async (ctx) => {
    const lifecycle = await get<Lifecycle>(ctx, TOKENS.Lifecycle);
    const notifications = new InProcessNotifications();
    lifecycle.onStop('notifications', () => notifications.close());
    return notifications;
  });
  bind<Secrets>(TOKENS.Secrets).toDynamicValue(async (ctx) => {
    const config = await get<Config>(ctx, TOKENS.Config);
    await get<Database>(ctx, TOKENS.Database); // the data directory the secret is kept in
    const jwtSecret = config.JWT_SECRET ?? (await embeddedJwtSecret(config.NEXUSFLOW_DATA_DIR));
    return { jwtSecret, dataKey: config.DATA_ENCRYPTION_KEY ?? jwtSecret };
  });
});

/**
 * On the embedded default nobody has to configure a signing secret: one is generated once and kept next to
 * the data (so tokens survive restarts). In memory, it lives as long as the process.
 */
async function embeddedJwtSecret(dataDir: string): Promise<string> {
  if (dataDir.startsWith('memory://')) return randomBytes(32).toString('hex');
  const file = path.join(dataDir, 'jwt-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('hex');
    await writeFile(file, secret, { mode: 0o600, flag: 'wx' }).catch(async () => undefined);
    await chmod(file, 0o600).catch(() => undefined);
    return (await readFile(file, 'utf8')).trim();
  }
}
