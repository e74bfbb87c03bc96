import type { Agent } from 'node:http';
import { Client } from '@hubspot/api-client';
import { CrmUnavailable } from '../../../projectors/integrations/ports.ts';
import type { ProviderOptions } from '../provider-options.ts';
import { hubSpotError } from './errors.ts';

export type HubSpotApis = ReturnType<HubSpotApi['apis']>;

/**
 * @hubspot/api-client, set up the way we need it:
 *
 * - `basePath` is HUBSPOT_API_URL (data and OAuth token calls alike: the token endpoint is on the API host);
 * - its HTTP goes through node-fetch with the `httpAgent` we give: the guarded outbound client's node agent. The
 *   host is the operator's, so this costs nothing and keeps one path for all outbound traffic (an operator who
 *   points HUBSPOT_API_URL at a private address opens it with OUTBOUND_ALLOW_CIDRS);
 * - no retries and no limiter: `numberOfApiCallRetries` is left unset, so a 429 or a 5xx reaches us at once and
 *   the sync honours Retry-After itself (the library's RetryDecorator would sleep 10 s per 429 and swallow the
 *   header, and would repeat a batch create);
 * - the library's decorators live in a process-wide singleton that every `new Client()` overwrites and that each
 *   API object captures when it is first built. So a Client is built per call and every API we use is taken from
 *   it in the same synchronous stretch: nothing another Client (with retries, in some other module) sets can
 *   slip in between;
 * - node-fetch gets no deadline from the library: {@link HubSpotApi.call} bounds each call by `timeoutMs`.
 */
export class HubSpotApi {
  private readonly agent: Agent;

  constructor(private readonly options: ProviderOptions) {
    const agents = options.outbound.nodeAgents({ keepAlive: true });
    this.agent = new URL(options.baseUrl).protocol === 'https:' ? agents.https : agents.http;
  }

  /** The generated APIs we use, authenticated by this access token (none for the OAuth token endpoint). */
  apis(accessToken?: string) {
    const client = new Client({ ...(accessToken !== undefined ? { accessToken } : {}), basePath: this.options.baseUrl, httpAgent: this.agent });
    const { crm, oauth } = client;
    return {
      contacts: crm.contacts,
      properties: crm.properties.coreApi,
      pipelines: crm.pipelines.pipelinesApi,
      tasks: crm.objects.tasks,
      deals: crm.deals,
      tokens: oauth.tokensApi,
      accessTokens: oauth.accessTokensApi,
      refreshTokens: oauth.refreshTokensApi,
    };
  }

  /** Runs one library call within the deadline; failures come back as the port's errors (see errors.ts). */
  async call<T>(what: string, run: () => Promise<T>, mapError: (err: unknown, what: string) => Error = hubSpotError): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CrmUnavailable(`HubSpot ${what}: no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    });
    try {
      return await Promise.race([run(), deadline]);
    } catch (err) {
      throw mapError(err, what);
    } finally {
      clearTimeout(timer);
    }
  }
}
