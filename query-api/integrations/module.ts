import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import { configuredProviders, providerIds, providers } from '../../domain/integrations/providers.ts';
import type { Config } from '../../infra/config/config.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import { integrationQueryRoutes } from './routes.ts';

/** CRM integrations: status, mappings and sync runs (never the credentials). */
export const integrationQueriesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [orm, config] = await deps<[MikroORM, Config]>(ctx, TOKENS.Orm, TOKENS.Config);
    return integrationQueryRoutes(orm, configuredProviders(oauthSettings(config)).ready);
  });
});

/** Each provider's OAuth app variables as the configuration holds them. */
function oauthSettings(config: Config): Record<string, string | undefined> {
  const settings: Record<string, string | undefined> = {};
  const values = config as unknown as Record<string, unknown>;
  for (const id of providerIds) {
    for (const name of [providers[id].env.clientId, providers[id].env.clientSecret]) {
      const value = values[name];
      settings[name] = typeof value === 'string' ? value : undefined;
    }
  }
  return settings;
}
