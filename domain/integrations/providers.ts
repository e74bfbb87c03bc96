import type { FieldMapping } from './mappings.ts';

/**
 * The CRM providers NexusFlow connects to, as data: the OAuth adapters, the settings screen and the
 * configuration check read this table instead of switching on provider names.
 *
 * Assumptions (from the providers' public OAuth documentation as we know it; check before relying on them):
 * - PKCE: Salesforce accepts code_challenge/code_verifier on its web-server flow. HubSpot, Pipedrive and Zoho
 *   document a confidential-client flow (client secret) without PKCE; we send none to them. An adapter may
 *   still add PKCE where a provider starts to accept it: flip `pkce` here once verified.
 * - Instance: Salesforce answers the token request with the org's `instance_url`, Pipedrive with the company's
 *   `api_domain`, Zoho with the data centre's `api_domain` (zohoapis.com, .eu, .in, …): API calls must go
 *   there, so the integration records it. HubSpot has one API host for every portal.
 * - The base URL variable names where the adapter starts: Salesforce's login host (a sandbox uses
 *   https://test.salesforce.com), the API host for the others.
 */
export const providerIds = ['salesforce', 'hubspot', 'pipedrive', 'zoho'] as const;
export type ProviderId = (typeof providerIds)[number];

export interface ProviderSpec {
  id: ProviderId;
  displayName: string;
  /** Offered with a "beta" label; behaviour may change. */
  beta: boolean;
  /** Whether the authorization request carries a PKCE challenge. */
  pkce: boolean;
  /** Whether the token answer names a per-account API host the integration must keep (instanceUrl). */
  instanceUrl: 'required' | 'none';
  /** Names of the environment variables holding the OAuth app's id and secret and the base URL. */
  env: { clientId: string; clientSecret: string; baseUrl: string };
  /** The base URL when its variable is unset. */
  defaultBaseUrl: string;
}

export const providers: Readonly<Record<ProviderId, ProviderSpec>> = {
  salesforce: {
    id: 'salesforce',
    displayName: 'Salesforce',
    beta: false,
    pkce: true,
    instanceUrl: 'required',
    env: { clientId: 'SALESFORCE_CLIENT_ID', clientSecret: 'SALESFORCE_CLIENT_SECRET', baseUrl: 'SALESFORCE_LOGIN_URL' },
    defaultBaseUrl: 'https://login.salesforce.com',
  },
  hubspot: {
    id: 'hubspot',
    displayName: 'HubSpot',
    beta: false,
    pkce: false,
    instanceUrl: 'none',
    env: { clientId: 'HUBSPOT_CLIENT_ID', clientSecret: 'HUBSPOT_CLIENT_SECRET', baseUrl: 'HUBSPOT_API_URL' },
    defaultBaseUrl: 'https://api.hubapi.com',
  },
  pipedrive: {
    id: 'pipedrive',
    displayName: 'Pipedrive',
    beta: false,
    pkce: false,
    instanceUrl: 'required',
    env: { clientId: 'PIPEDRIVE_CLIENT_ID', clientSecret: 'PIPEDRIVE_CLIENT_SECRET', baseUrl: 'PIPEDRIVE_API_URL' },
    defaultBaseUrl: 'https://api.pipedrive.com',
  },
  zoho: {
    id: 'zoho',
    displayName: 'Zoho CRM',
    beta: true,
    pkce: false,
    instanceUrl: 'required',
    env: { clientId: 'ZOHO_CLIENT_ID', clientSecret: 'ZOHO_CLIENT_SECRET', baseUrl: 'ZOHO_API_URL' },
    defaultBaseUrl: 'https://www.zohoapis.com',
  },
};

export function isProviderId(value: unknown): value is ProviderId {
  return typeof value === 'string' && (providerIds as readonly string[]).includes(value);
}

/**
 * The base URL a provider's adapter uses given the environment (passed in: the domain reads no process
 * state). An empty variable counts as unset; a trailing slash is dropped so paths can be appended.
 */
export function providerBaseUrl(id: ProviderId, env: Readonly<Record<string, string | undefined>>): string {
  const spec = providers[id];
  const configured = env[spec.env.baseUrl]?.trim();
  return (configured ? configured : spec.defaultBaseUrl).replace(/\/+$/, '');
}

/**
 * The providers whose OAuth app is configured (both id and secret set): only those are offered. A provider
 * with half a configuration is reported, so a deployment check can name the missing variable.
 */
export function configuredProviders(env: Readonly<Record<string, string | undefined>>): {
  ready: ProviderId[];
  missing: { provider: ProviderId; variable: string }[];
} {
  const ready: ProviderId[] = [];
  const missing: { provider: ProviderId; variable: string }[] = [];
  for (const id of providerIds) {
    const { clientId, clientSecret } = providers[id].env;
    const unset = [clientId, clientSecret].filter((name) => !env[name]?.trim());
    if (unset.length === 0) ready.push(id);
    else if (unset.length === 1) missing.push({ provider: id, variable: unset[0]! });
  }
  return { ready, missing };
}

/**
 * The mappings an integration syncs with until someone sets its own: the standard contact fields both sides
 * have, two-way, under the integration's conflict policy. (Company is left out where the provider keeps it
 * on another object: Salesforce's Account, Pipedrive's organization, Zoho's Account lookup.)
 */
export function defaultMappings(id: ProviderId): FieldMapping[] {
  const names: Record<ProviderId, Partial<Record<'email' | 'firstName' | 'lastName' | 'phone' | 'title' | 'company', string>>> = {
    salesforce: { email: 'Email', firstName: 'FirstName', lastName: 'LastName', phone: 'Phone', title: 'Title' },
    hubspot: { email: 'email', firstName: 'firstname', lastName: 'lastname', phone: 'phone', title: 'jobtitle', company: 'company' },
    pipedrive: { email: 'email', firstName: 'first_name', lastName: 'last_name', phone: 'phone' },
    zoho: { email: 'Email', firstName: 'First_Name', lastName: 'Last_Name', phone: 'Phone', title: 'Title' },
  };
  return Object.entries(names[id]).map(([ours, theirs]) => ({ ours, theirs: theirs!, direction: 'both' as const }));
}
