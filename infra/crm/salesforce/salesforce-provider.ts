import type { CrmProvider } from '../../../projectors/integrations/ports.ts';
import type { ProviderOptions } from '../provider-options.ts';
import { SalesforceClient } from './client.ts';
import { salesforceTransports } from './connection.ts';
import { SalesforceOAuth } from './oauth.ts';
import { SalesforceWebhooks } from './webhooks.ts';

/**
 * Salesforce through jsforce 3: OAuth 2 web-server flow with PKCE against the login URL (SALESFORCE_LOGIN_URL),
 * the REST API on the org's instance URL, which comes from the token answer and is therefore reached only
 * through the guarded outbound client (see transport.ts for how jsforce is routed through it).
 */
export function createSalesforceProvider(options: ProviderOptions): CrmProvider {
  const transports = salesforceTransports(options);
  return {
    id: 'salesforce',
    oauth: new SalesforceOAuth(options, transports),
    client: new SalesforceClient(transports),
    webhooks: new SalesforceWebhooks(),
  };
}
