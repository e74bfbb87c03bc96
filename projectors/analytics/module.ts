import { ContainerModule } from 'inversify';
import type { AnalyticsStore } from '../../infra/analytics/analytics-store.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { generationName, type RebuildableReadModel } from '../rebuild/ports.ts';
import { analyticsProjection } from './analytics-projection.ts';

/** Analytics facts: a read model in ClickHouse (or PostgreSQL), rebuilt into generations. */
export const analyticsProjectorsModule = new ContainerModule((bind) => {
  bind<RebuildableReadModel>(TOKENS.RebuildableReadModels).toDynamicValue(async (ctx) => {
    const [analytics] = await deps<[AnalyticsStore]>(ctx, TOKENS.AnalyticsStore);
    return {
      name: 'analytics',
      store: analytics,
      projection: (generation) => analyticsProjection(analytics.writerFor(generation), generationName('analytics', generation)),
    };
  });
});
