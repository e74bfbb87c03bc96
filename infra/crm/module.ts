import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import type { CommandHandler } from '../../command-api/command-handling.ts';
import type { Mailer } from '../../command-api/ports.ts';
import { providerIds, providers as providerSpecs, type ProviderId } from '../../domain/integrations/providers.ts';
import type { CrmProvider, CrmProviders } from '../../projectors/integrations/ports.ts';
import { UserViewSchema } from '../../projectors/users/user-view.ts';
import type { Config } from '../config/config.ts';
import type { Lifecycle } from '../di/lifecycle.ts';
import { deps } from '../di/resolve.ts';
import { TOKENS } from '../di/tokens.ts';
import { AddressPolicy } from '../outbound/address-policy.ts';
import { GuardedHttpClient } from '../outbound/guarded-http.ts';
import type { Database, Secrets } from '../postgres/module.ts';
import { CredentialsVault, sealingKeys } from './credentials-vault.ts';
import { IntegrationConnections, type OrganizationAdmins } from './integration-connections.ts';
import { createHubSpotProvider } from './hubspot/hubspot-provider.ts';
import { createPipedriveProvider } from './pipedrive/pipedrive-provider.ts';
import { createSalesforceProvider } from './salesforce/salesforce-provider.ts';
import { createZohoProvider } from './zoho/zoho-provider.ts';
import type { ProviderOptions } from './provider-options.ts';

export type ProviderFactory = (options: ProviderOptions) => CrmProvider;

/** One adapter per provider (infra/crm/<provider>/). */
export const providerFactories: Readonly<Record<ProviderId, ProviderFactory>> = {
  salesforce: createSalesforceProvider,
  hubspot: createHubSpotProvider,
  pipedrive: createPipedriveProvider,
  zoho: createZohoProvider,
};

/** Deadline of one call to a provider (its client libraries' own defaults are minutes, or none). */
export const CRM_CALL_TIMEOUT_MS = 30_000;

/** The setting holding where a provider does OAuth, for those with a host of their own for it. */
const oauthUrlSetting: Partial<Record<ProviderId, 'HUBSPOT_OAUTH_URL' | 'PIPEDRIVE_OAUTH_URL' | 'ZOHO_ACCOUNTS_URL'>> = {
  hubspot: 'HUBSPOT_OAUTH_URL',
  pipedrive: 'PIPEDRIVE_OAUTH_URL',
  zoho: 'ZOHO_ACCOUNTS_URL',
};

/**
 * The providers configured in `config`: a provider is present only with both its client id and secret; each
 * adapter is made on first use and kept.
 */
export function configuredCrmProviders(
  config: Config,
  outbound: GuardedHttpClient,
  factories: Readonly<Record<ProviderId, ProviderFactory>>,
  timeoutMs = CRM_CALL_TIMEOUT_MS,
): CrmProviders {
  const settings = config as unknown as Readonly<Record<string, string | undefined>>;
  const made = new Map<ProviderId, CrmProvider>();
  const missingSettings = (id: ProviderId) => {
    const { clientId, clientSecret } = providerSpecs[id].env;
    return [clientId, clientSecret].filter((name) => !settings[name]?.trim());
  };
  return {
    missingSettings,
    get(id) {
      if (!providerIds.includes(id) || missingSettings(id).length > 0) return undefined;
      let provider = made.get(id);
      if (!provider) {
        const { env } = providerSpecs[id];
        const oauthSetting = oauthUrlSetting[id];
        const options: ProviderOptions = {
          clientId: settings[env.clientId]!,
          clientSecret: settings[env.clientSecret]!,
          baseUrl: (settings[env.baseUrl] ?? providerSpecs[id].defaultBaseUrl).replace(/\/+$/, ''),
          ...(oauthSetting ? { oauthUrl: config[oauthSetting].replace(/\/+$/, '') } : {}),
          outbound,
          timeoutMs,
        };
        provider = factories[id](options);
        made.set(id, provider);
      }
      return provider;
    },
  };
}

/**
 * CRM integrations' adapters: the configured providers, the vault of sealed credentials, and the connections
 * (credentials opened and refreshed) the sync runner and the command side call providers with. Also the
 * guarded outbound client that reaches hosts named by token answers (instance URLs).
 */
export const crmModule = new ContainerModule((bind) => {
  bind<GuardedHttpClient>(TOKENS.OutboundHttp).toDynamicValue(async (ctx) => {
    const [config, lifecycle] = await deps<[Config, Lifecycle]>(ctx, TOKENS.Config, TOKENS.Lifecycle);
    const client = new GuardedHttpClient({ policy: new AddressPolicy(config.OUTBOUND_ALLOW_CIDRS) });
    lifecycle.onStop('outbound http', () => client.close());
    return client;
  });
  bind<CrmProviders>(TOKENS.CrmProviders).toDynamicValue(async (ctx) => {
    const [config, outbound] = await deps<[Config, GuardedHttpClient]>(ctx, TOKENS.Config, TOKENS.OutboundHttp);
    return configuredCrmProviders(config, outbound, providerFactories);
  });
  bind<CredentialsVault>(TOKENS.CredentialsVault).toDynamicValue(async (ctx) => {
    const [config, database, secrets] = await deps<[Config, Database, Secrets]>(ctx, TOKENS.Config, TOKENS.Database, TOKENS.Secrets);
    return new CredentialsVault(database.pool, sealingKeys(config.CREDENTIALS_KEYS, secrets.dataKey));
  });
  bind<IntegrationConnections>(TOKENS.IntegrationConnections).toDynamicValue(async (ctx) => {
    const [config, providers, vault, handler, mailer, orm, logger] = await deps<
      [Config, CrmProviders, CredentialsVault, CommandHandler, Mailer, MikroORM, Logger]
    >(ctx, TOKENS.Config, TOKENS.CrmProviders, TOKENS.CredentialsVault, TOKENS.CommandHandler, TOKENS.Mailer, TOKENS.Orm, TOKENS.Logger);
    return new IntegrationConnections({
      providers,
      vault,
      handler,
      mailer,
      admins: organizationAdmins(orm),
      logger: logger.child({ component: 'crm-connections' }),
      appUrl: config.APP_URL ?? null,
    });
  });
});

/** The organization's active owners and admins, from the users read model. */
export function organizationAdmins(orm: MikroORM): OrganizationAdmins {
  return async (organizationId) => {
    const users = await orm.em
      .fork()
      .find(
        UserViewSchema,
        { organizationId, role: { $in: ['owner', 'admin'] }, status: 'active' },
        { filters: false, orderBy: { createdAt: 'asc' } },
      );
    return users.map((user) => ({ email: user.email, name: user.name }));
  };
}
