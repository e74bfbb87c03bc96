import type { CrmProvider } from '../../../projectors/integrations/ports.ts';
import type { ProviderOptions } from '../provider-options.ts';
import { HubSpotClient } from './client.ts';
import { HubSpotApi } from './hubspot-api.ts';
import { HubSpotOAuth } from './oauth.ts';
import { HubSpotWebhooks } from './webhooks.ts';

/**
 * HubSpot behind the CRM port, through its official client (@hubspot/api-client) for data and OAuth token calls
 * alike, at HUBSPOT_API_URL; the consent page at HUBSPOT_OAUTH_URL. One API host for every portal, so a grant
 * has no instance URL. Webhooks are signed with the app's client secret (signature v3).
 */
export function createHubSpotProvider(options: ProviderOptions): CrmProvider {
  const api = new HubSpotApi(options);
  return {
    id: 'hubspot',
    oauth: new HubSpotOAuth(options, api),
    client: new HubSpotClient(api),
    webhooks: new HubSpotWebhooks(),
  };
}
