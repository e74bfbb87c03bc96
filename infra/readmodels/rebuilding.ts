import type { Logger } from 'pino';
import type { RebuildableReadModel } from '../../projectors/rebuild/ports.ts';
import { projections } from '../../projectors/read-models.ts';
import type { Projection } from '../../projectors/runner/projection.ts';
import { rebuildableReadModels } from '../../projectors/rebuild/read-models.ts';
import { ReadModelRebuilder } from '../../projectors/rebuild/rebuild.ts';
import type { Config } from '../config/config.ts';
import type { Platform } from '../platform.ts';
import { CheckpointWatcher } from './checkpoint-watcher.ts';

export interface Rebuilding {
  rebuilder: ReadModelRebuilder;
  readModels: RebuildableReadModel[];
  close(): void;
}

/** What a rebuild needs, over a started platform: the CLI's (and tests') composition of the rebuilder. */
export function rebuilding(platform: Platform, config: Pick<Config, 'PROJECTION_BATCH_SIZE'>, logger: Logger): Rebuilding {
  // The search projection reads workflow names from the ORM read models up to each event: it waits on them
  // through the checkpoint table (announcements from other processes arrive by NOTIFY on a server).
  const progress = new CheckpointWatcher(platform.orm, platform.eventStore, platform.notifications, logger);
  return {
    rebuilder: new ReadModelRebuilder({
      log: platform.eventStore,
      orm: platform.orm,
      pool: platform.pool,
      generations: platform.generations,
      logger,
      batchSize: config.PROJECTION_BATCH_SIZE,
    }),
    readModels: rebuildableReadModels({ search: platform.search, analytics: platform.analytics, progress }),
    close: () => progress.close(),
  };
}

/**
 * The projection that runs under a (checkpoint) name: a read-model projection, or a generation of a
 * rebuildable read model (`search@2`); null for reactors and unknown names.
 */
export function projectionByName(readModels: readonly RebuildableReadModel[]): (name: string) => Projection | null {
  return (name) => {
    const own = projections.find((p) => p.name === name);
    if (own) return own;
    const [readModel, generation] = name.split('@');
    const model = readModels.find((m) => m.name === readModel);
    return model ? model.projection(generation ? Number(generation) : 1) : null;
  };
}
