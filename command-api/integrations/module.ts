import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import type { ProviderId } from '../../domain/integrations/providers.ts';
import { providers as providerSpecs } from '../../domain/integrations/providers.ts';
import type { Config } from '../../infra/config/config.ts';
import type { CredentialsVault } from '../../infra/crm/credentials-vault.ts';
import type { IntegrationConnections } from '../../infra/crm/integration-connections.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';
import type { PrincipalAuthenticator } from '../../infra/http/authenticate.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import type { CrmProviders } from '../../projectors/integrations/ports.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { ValueClaims } from '../uniqueness/value-claims.ts';
import { IntegrationCommands } from './integration-commands.ts';
import { OAuthStates } from './oauth-states.ts';
import { integrationCommandRoutes } from './routes.ts';

/** CRM integrations' commands: connect (OAuth), disconnect, sync starts, webhooks, mappings and settings. */
export const integrationServicesModule = new ContainerModule((bind) => {
  bind<IntegrationCommands>(TOKENS.IntegrationCommands).toDynamicValue(async (ctx) => {
    const [config, handler, claims, providers, vault, connections, ephemeral, logger] = await deps<
      [Config, CommandHandler, ValueClaims, CrmProviders, CredentialsVault, IntegrationConnections, EphemeralStore, Logger]
    >(
      ctx,
      TOKENS.Config,
      TOKENS.CommandHandler,
      TOKENS.ValueClaims,
      TOKENS.CrmProviders,
      TOKENS.CredentialsVault,
      TOKENS.IntegrationConnections,
      TOKENS.Ephemeral,
      TOKENS.Logger,
    );
    const settings = config as unknown as Readonly<Record<string, string | undefined>>;
    return new IntegrationCommands({
      handler,
      claims,
      providers,
      vault,
      connections,
      states: new OAuthStates(ephemeral),
      clientSecret: (provider: ProviderId) => settings[providerSpecs[provider].env.clientSecret],
      logger: logger.child({ component: 'integrations' }),
    });
  });
});

export const integrationRoutesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [config, commands, authenticator] = await deps<[Config, IntegrationCommands, PrincipalAuthenticator]>(
      ctx,
      TOKENS.Config,
      TOKENS.IntegrationCommands,
      TOKENS.Authenticator,
    );
    return integrationCommandRoutes(commands, { appUrl: config.APP_URL ?? null, authenticator });
  });
});
