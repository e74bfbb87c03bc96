import type { GuardedHttpClient } from '../outbound/guarded-http.ts';

/**
 * What every provider adapter is made from (`create<Provider>Provider(options)` in infra/crm/<provider>/).
 * The configured URLs are the operator's (trusted, reached directly); hosts that come from a token answer
 * (Salesforce's instance_url, Pipedrive's and Zoho's api_domain) are reached only through `outbound`, the
 * guarded client (its `fetch` or `nodeAgents()`), so no loopback, private or metadata address is ever called
 * unless the operator's OUTBOUND_ALLOW_CIDRS opens it (tests open 127.0.0.1/32).
 */
export interface ProviderOptions {
  clientId: string;
  clientSecret: string;
  /** The provider's base URL from config (SALESFORCE_LOGIN_URL, HUBSPOT_API_URL, PIPEDRIVE_API_URL, ZOHO_API_URL). */
  baseUrl: string;
  /** Where OAuth happens when the provider has a host of its own for it (HUBSPOT_OAUTH_URL, PIPEDRIVE_OAUTH_URL, ZOHO_ACCOUNTS_URL). */
  oauthUrl?: string;
  outbound: GuardedHttpClient;
  /** Deadline of one call to the provider. */
  timeoutMs: number;
}
