import type { Logger } from 'pino';
import { quotaModule } from '../../command-api/billing/module.ts';
import { contactServicesModule } from '../../command-api/contacts/module.ts';
import { organizationServicesModule } from '../../command-api/organizations/module.ts';
import { commandCoreModule } from '../../command-api/module.ts';
import { operationsCommandsModule } from '../../command-api/operations/module.ts';
import type { ParkedEventRetries } from '../../command-api/operations/parked-event-retries.ts';
import { privacyCommandsModule } from '../../command-api/privacy/module.ts';
import type { PersonalDataErasure } from '../../command-api/privacy/erasure.ts';
import { staffAccountsModule } from '../../command-api/staff/module.ts';
import type { StaffAccounts } from '../../command-api/staff/staff-accounts.ts';
import type { Config } from '../../infra/config/config.ts';
import { createContainer, migrateSchema, type Inspection } from '../../infra/di/container.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { StoredLog } from '../../infra/eventstore/event-store.ts';
import { SchemaVersion, type MigrationReport } from '../../infra/migrations/schema.ts';
import type { Database } from '../../infra/postgres/module.ts';
import { projectionModules } from '../../projectors/projection-modules.ts';
import { readModelOperationsModule } from '../../projectors/rebuild/module.ts';
import type { RebuildableReadModel } from '../../projectors/rebuild/ports.ts';
import type { ReadModelRebuilder } from '../../projectors/rebuild/rebuild.ts';
import type { Projection } from '../../projectors/runner/projection.ts';

/** The command line's composition root: the modules its commands act through. */
const cliModules = [
  commandCoreModule,
  organizationServicesModule,
  quotaModule,
  contactServicesModule,
  privacyCommandsModule,
  staffAccountsModule,
  operationsCommandsModule,
  readModelOperationsModule,
  ...projectionModules,
];

/** What the commands use, made when first asked for. */
export interface CliServices {
  staffAccounts(): Promise<StaffAccounts>;
  erasure(): Promise<PersonalDataErasure>;
  parkedEventRetries(): Promise<ParkedEventRetries>;
  rebuilder(): Promise<ReadModelRebuilder>;
  rebuildableReadModels(): Promise<RebuildableReadModel[]>;
  /** The read-model projections (not the rebuildable ones). */
  projections(): Promise<Projection[]>;
}

export interface OpenCli {
  logger: Logger;
  services: CliServices;
  requireSchema(): Promise<void>;
  migrate(): Promise<MigrationReport>;
  inspect(): Promise<Inspection>;
}

/** Opens the platform for one command, and closes everything it opened afterwards, whatever happens. */
export async function openCli<T>(config: Config, logger: Logger, work: (cli: OpenCli) => Promise<T>): Promise<T> {
  const { container, lifecycle } = createContainer(config, logger, cliModules);
  const get = <V>(token: symbol) => container.getAsync<V>(token);
  const all = async <V>(token: symbol) => (container.isBound(token) ? container.getAllAsync<V>(token) : []);
  try {
    return await work({
      logger,
      services: {
        staffAccounts: () => get(TOKENS.StaffAccounts),
        erasure: () => get(TOKENS.PersonalDataErasure),
        parkedEventRetries: () => get(TOKENS.ParkedEventRetries),
        rebuilder: () => get(TOKENS.ReadModelRebuilder),
        rebuildableReadModels: () => all(TOKENS.RebuildableReadModels),
        projections: () => all(TOKENS.Projections),
      },
      requireSchema: async () => new SchemaVersion(await get<Database>(TOKENS.Database)).require(),
      migrate: () => migrateSchema(container),
      inspect: async () => {
        const database = await get<Database>(TOKENS.Database);
        const stored = await get<StoredLog>(TOKENS.StoredLog);
        return {
          embedded: database.embedded,
          pool: database.pool,
          notifications: await get(TOKENS.Notifications),
          eventStore: await get(TOKENS.EventStore),
          storedLog: stored.log,
          readable: stored.readable,
          personalDataKeys: await get(TOKENS.PersonalDataKeys),
          orm: await get(TOKENS.Orm),
          generations: await get(TOKENS.Generations),
        };
      },
    });
  } finally {
    await lifecycle.stop();
  }
}
