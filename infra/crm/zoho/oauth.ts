import type { AuthorizationRequest, CrmGrant, CrmOAuth } from '../../../projectors/integrations/ports.ts';
import { CrmGrantRevoked, CrmRateLimited, CrmRequestRejected, CrmUnavailable } from '../../../projectors/integrations/ports.ts';
import type { ProviderOptions } from '../provider-options.ts';
import { apiHost, send, trustedFetch } from '../rest/rest.ts';
import type { ZohoApi } from './api.ts';

/** What we ask for: contacts, tasks and deals (modules), field metadata (settings), the org, and COQL reads. */
export const ZOHO_SCOPES = ['ZohoCRM.modules.ALL', 'ZohoCRM.settings.fields.READ', 'ZohoCRM.org.READ', 'ZohoCRM.coql.READ'];

interface TokenAnswer {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  api_domain?: string;
  scope?: string;
  error?: string;
}

/**
 * Zoho's OAuth 2 on the accounts host (ZOHO_ACCOUNTS_URL): `/oauth/v2/auth` with `access_type=offline` (so the code
 * exchange gives a refresh token; a refresh answer carries none), `/oauth/v2/token`, `/oauth/v2/token/revoke`.
 *
 * Zoho's quirk: a refused code or refresh token is answered with status 200 and a body `{"error":"invalid_code"}`,
 * so the body decides, never the status. A refused refresh token is a revoked grant. The token endpoint's own
 * throttle ("Access Denied", too many requests) is a rate limit.
 *
 * Known limit: Zoho's multi-DC consent redirects back with an `accounts-server` parameter; we exchange at the
 * configured accounts host, so an org in another data centre needs ZOHO_ACCOUNTS_URL set to its host.
 */
export class ZohoOAuth implements CrmOAuth {
  private readonly accountsUrl: string;

  constructor(
    private readonly options: ProviderOptions,
    private readonly api: ZohoApi,
  ) {
    this.accountsUrl = (options.oauthUrl ?? 'https://accounts.zoho.com').replace(/\/+$/, '');
  }

  authorizationUrl(request: AuthorizationRequest): string {
    const url = new URL(`${this.accountsUrl}/oauth/v2/auth`);
    url.searchParams.set('scope', ZOHO_SCOPES.join(','));
    url.searchParams.set('client_id', this.options.clientId);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('access_type', 'offline');
    url.searchParams.set('prompt', 'consent');
    url.searchParams.set('redirect_uri', request.redirectUri);
    url.searchParams.set('state', request.state);
    return url.toString();
  }

  async exchangeCode(input: { code: string; redirectUri: string; codeVerifier: string | null }): Promise<CrmGrant> {
    const token = await this.token({ grant_type: 'authorization_code', code: input.code, redirect_uri: input.redirectUri }, false);
    const instanceUrl = apiHost(token.api_domain);
    if (!instanceUrl) throw new CrmRequestRejected('Zoho token answer has no usable api_domain', 0);
    const org = await this.api.call<{ org?: { id?: string | number; company_name?: string; domain_name?: string }[] }>(
      { accessToken: token.access_token!, instanceUrl },
      'GET',
      '/crm/v6/org',
    );
    const first = org.body?.org?.[0];
    if (!first?.id) throw new CrmRequestRejected('Zoho did not name the org', 0);
    return this.grant(token, instanceUrl, {
      accountId: String(first.id),
      accountLabel: first.company_name ?? first.domain_name ?? String(first.id),
      scopes: ZOHO_SCOPES,
    });
  }

  async refresh(refreshToken: string, previous: Pick<CrmGrant, 'instanceUrl' | 'accountId' | 'accountLabel' | 'scopes'>): Promise<CrmGrant> {
    const token = await this.token({ grant_type: 'refresh_token', refresh_token: refreshToken }, true);
    return this.grant(token, apiHost(token.api_domain) ?? previous.instanceUrl, previous);
  }

  async revoke(grant: { accessToken: string; refreshToken: string | null; instanceUrl: string | null }): Promise<void> {
    const url = new URL(`${this.accountsUrl}/oauth/v2/token/revoke`);
    url.searchParams.set('token', grant.refreshToken ?? grant.accessToken);
    try {
      await send(trustedFetch, { method: 'POST', url: url.toString() }, this.options.timeoutMs);
    } catch {
      // Best effort: the grant is forgotten on our side whatever Zoho answers.
    }
  }

  private grant(token: TokenAnswer, instanceUrl: string | null, account: Pick<CrmGrant, 'accountId' | 'accountLabel' | 'scopes'>): CrmGrant {
    const scopes = (token.scope ?? '').split(/[\s,]+/).filter(Boolean);
    return {
      accessToken: token.access_token!,
      refreshToken: token.refresh_token ?? null,
      expiresAt: new Date(Date.now() + (Number(token.expires_in) || 3600) * 1000).toISOString(),
      instanceUrl,
      accountId: account.accountId,
      accountLabel: account.accountLabel,
      scopes: scopes.length > 0 ? scopes : account.scopes,
    };
  }

  private async token(form: Record<string, string>, refreshing: boolean): Promise<TokenAnswer> {
    const answer = await send(
      trustedFetch,
      {
        method: 'POST',
        url: `${this.accountsUrl}/oauth/v2/token`,
        form: { ...form, client_id: this.options.clientId, client_secret: this.options.clientSecret },
      },
      this.options.timeoutMs,
    );
    const body = (answer.json ?? {}) as TokenAnswer & { error_description?: string };
    if (answer.status === 200 && typeof body.access_token === 'string' && !body.error) return body;
    const error = body.error ?? `status ${answer.status}`;
    if (answer.status >= 500) throw new CrmUnavailable(`Zoho accounts answered ${answer.status}`);
    if (answer.status === 429 || error === 'Access Denied') throw new CrmRateLimited(`Zoho accounts throttled the token request (${error})`, 60_000);
    // invalid_code for a refresh token: revoked, expired, or the user removed the app's access.
    if (refreshing && (error === 'invalid_code' || error === 'invalid_grant' || error === 'invalid_token'))
      throw new CrmGrantRevoked(`Zoho refused the refresh token (${error})`);
    throw new CrmRequestRejected(`Zoho refused the token request (${error})`, answer.status);
  }
}
