import { Connection } from 'jsforce';
import { CrmRequestRejected, type CrmConnection } from '../../../projectors/integrations/ports.ts';
import type { ProviderOptions } from '../provider-options.ts';
import { FetchTransport, type FetchLike } from './transport.ts';

/** The REST API version we speak (Winter '25); sObject Collections need 42.0+, Opportunity.ContactId 46.0+. */
export const API_VERSION = '62.0';

export interface SalesforceTransports {
  /** The login host from config (SALESFORCE_LOGIN_URL): trusted, reached directly. */
  login: FetchTransport;
  /** Hosts from a token answer (instance_url, the identity URL): only through the guarded outbound client. */
  instance: FetchTransport;
}

export function salesforceTransports(options: ProviderOptions): SalesforceTransports {
  return {
    login: new FetchTransport(globalThis.fetch as FetchLike, options.timeoutMs, 'oauth'),
    instance: new FetchTransport(options.outbound.fetch as FetchLike, options.timeoutMs, 'api'),
  };
}

/**
 * A jsforce Connection for one call on the org's instance. No OAuth client is given to it on purpose: jsforce
 * would refresh on a 401 by itself, while the port leaves refreshing to the caller (who seals the new token).
 */
export function openConnection(connection: CrmConnection, transports: SalesforceTransports): Connection {
  if (!connection.instanceUrl) throw new CrmRequestRejected('a Salesforce connection needs its instance URL', 400);
  const conn = new Connection({ instanceUrl: connection.instanceUrl, accessToken: connection.accessToken, version: API_VERSION });
  conn._transport = transports.instance.asJsforce();
  return conn;
}
