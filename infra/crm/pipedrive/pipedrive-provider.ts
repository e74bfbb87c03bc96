import type { CrmProvider } from '../../../projectors/integrations/ports.ts';
import type { ProviderOptions } from '../provider-options.ts';
import { PipedriveApi } from './api.ts';
import { PipedriveClient } from './client.ts';
import { PipedriveOAuth } from './oauth.ts';
import { PipedriveWebhooks } from './webhooks.ts';

/**
 * Pipedrive behind the CRM port, over REST (API v2 where it exists) with undici's fetch: the official `pipedrive`
 * package is large and generated, and we need a dozen endpoints. Data calls go to the company's `api_domain`
 * (from the token answer) through the guarded outbound client only; OAuth goes to PIPEDRIVE_OAUTH_URL.
 */
export function createPipedriveProvider(options: ProviderOptions): CrmProvider {
  const api = new PipedriveApi(options.outbound.fetch, options.timeoutMs);
  return {
    id: 'pipedrive',
    oauth: new PipedriveOAuth(options, api),
    client: new PipedriveClient(api),
    webhooks: new PipedriveWebhooks(),
  };
}
