import { ContainerModule } from 'inversify';
import type { Config } from '../infra/config/config.ts';
import { deps } from '../infra/di/resolve.ts';
import { TOKENS } from '../infra/di/tokens.ts';
import type { CheckpointWatcher } from '../infra/readmodels/checkpoint-watcher.ts';
import { generationalProgress, type ReadModelGenerations } from '../infra/readmodels/generations.ts';
import { readYourWrites } from './read-your-writes.ts';

/**
 * What every query needs, whichever capability: X-Min-Position (read your writes) waits for the route's
 * read models, following the generation each rebuildable one serves. The capability modules
 * (query-api/<capability>/module.ts) bind the routes.
 */
export const queryCoreModule = new ContainerModule((bind) => {
  bind(TOKENS.BeforeHandler).toDynamicValue(async (ctx) => {
    const [config, watcher, generations] = await deps<[Config, CheckpointWatcher, ReadModelGenerations]>(
      ctx,
      TOKENS.Config,
      TOKENS.CheckpointWatcher,
      TOKENS.Generations,
    );
    return readYourWrites(generationalProgress(watcher, generations), config.READ_YOUR_WRITES_TIMEOUT_MS);
  });
});
