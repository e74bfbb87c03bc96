import type { CrmProvider } from '../../../projectors/integrations/ports.ts';
import type { ProviderOptions } from '../provider-options.ts';
import { ZohoApi } from './api.ts';
import { ZohoClient } from './client.ts';
import { ZohoOAuth } from './oauth.ts';
import { ZohoWebhooks } from './webhooks.ts';

/**
 * Zoho CRM (beta) behind the CRM port, over REST (API v6) with undici's fetch: Zoho's Node SDK is not well kept.
 * Data calls go to the org's `api_domain` (from the token answer) through the guarded outbound client only;
 * OAuth goes to ZOHO_ACCOUNTS_URL.
 */
export function createZohoProvider(options: ProviderOptions): CrmProvider {
  const api = new ZohoApi(options.outbound.fetch, options.timeoutMs);
  return { id: 'zoho', oauth: new ZohoOAuth(options, api), client: new ZohoClient(api), webhooks: new ZohoWebhooks() };
}
