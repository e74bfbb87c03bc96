import { ContainerModule } from 'inversify';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { CheckpointWatcher } from '../../infra/readmodels/checkpoint-watcher.ts';
import type { SearchIndex } from '../../infra/search/search-index.ts';
import { generationName, type RebuildableReadModel } from '../rebuild/ports.ts';
import { searchProjection } from './search-projection.ts';

/** Search documents of contacts and executions: a read model outside the ORM's tables, rebuilt into generations. */
export const searchProjectorsModule = new ContainerModule((bind) => {
  bind<RebuildableReadModel>(TOKENS.RebuildableReadModels).toDynamicValue(async (ctx) => {
    // The search projection reads workflow names from the ORM read models up to each event: it waits on them.
    const [search, progress] = await deps<[SearchIndex, CheckpointWatcher]>(ctx, TOKENS.SearchIndex, TOKENS.CheckpointWatcher);
    return {
      name: 'search',
      store: search,
      projection: (generation) => searchProjection(search.writerFor(generation), progress, generationName('search', generation)),
    };
  });
});
