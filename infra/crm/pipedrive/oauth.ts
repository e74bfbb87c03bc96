import type { AuthorizationRequest, CrmGrant, CrmOAuth } from '../../../projectors/integrations/ports.ts';
import { CrmGrantRevoked, CrmRateLimited, CrmRequestRejected, CrmUnavailable } from '../../../projectors/integrations/ports.ts';
import type { ProviderOptions } from '../provider-options.ts';
import { apiHost, basicAuth, describeError, retryAfterMs, send, trustedFetch, type RestAnswer } from '../rest/rest.ts';
import type { PipedriveApi } from './api.ts';

interface TokenAnswer {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  scope?: string;
  api_domain?: string;
}

/**
 * Pipedrive's OAuth 2 (https://pipedrive.readme.io/docs/marketplace-oauth-authorization): authorize and token on
 * the OAuth host (PIPEDRIVE_OAUTH_URL), client credentials in HTTP Basic, no PKCE, no scope parameter (the app's
 * scopes are set in the Marketplace). The token answer names the company's `api_domain`; the account is the
 * company of `GET /api/v1/users/me` there.
 */
export class PipedriveOAuth implements CrmOAuth {
  private readonly oauthUrl: string;

  constructor(
    private readonly options: ProviderOptions,
    private readonly api: PipedriveApi,
  ) {
    this.oauthUrl = (options.oauthUrl ?? 'https://oauth.pipedrive.com').replace(/\/+$/, '');
  }

  authorizationUrl(request: AuthorizationRequest): string {
    const url = new URL(`${this.oauthUrl}/oauth/authorize`);
    url.searchParams.set('client_id', this.options.clientId);
    url.searchParams.set('redirect_uri', request.redirectUri);
    url.searchParams.set('state', request.state);
    return url.toString();
  }

  async exchangeCode(input: { code: string; redirectUri: string; codeVerifier: string | null }): Promise<CrmGrant> {
    const token = await this.token({ grant_type: 'authorization_code', code: input.code, redirect_uri: input.redirectUri }, false);
    const instanceUrl = requireHost(token);
    const me = await this.api.call<{ company_id?: number | string; company_name?: string; company_domain?: string }>(
      { accessToken: token.access_token!, instanceUrl },
      'GET',
      '/api/v1/users/me',
    );
    if (me.data?.company_id === undefined || me.data.company_id === null) throw new CrmRequestRejected('Pipedrive did not name the company', 0);
    return this.grant(token, instanceUrl, {
      accountId: String(me.data.company_id),
      accountLabel: me.data.company_name ?? me.data.company_domain ?? String(me.data.company_id),
    });
  }

  async refresh(refreshToken: string, previous: Pick<CrmGrant, 'instanceUrl' | 'accountId' | 'accountLabel' | 'scopes'>): Promise<CrmGrant> {
    const token = await this.token({ grant_type: 'refresh_token', refresh_token: refreshToken }, true);
    const instanceUrl = apiHost(token.api_domain) ?? previous.instanceUrl;
    const grant = this.grant(token, instanceUrl, previous);
    if (grant.scopes.length === 0) grant.scopes = previous.scopes;
    return grant;
  }

  async revoke(grant: { accessToken: string; refreshToken: string | null; instanceUrl: string | null }): Promise<void> {
    const form: Record<string, string> = grant.refreshToken
      ? { token: grant.refreshToken, token_type_hint: 'refresh_token' }
      : { token: grant.accessToken };
    try {
      await send(trustedFetch, { method: 'POST', url: `${this.oauthUrl}/oauth/revoke`, headers: this.clientAuth(), form }, this.options.timeoutMs);
    } catch {
      // Best effort: the grant is forgotten on our side whatever Pipedrive answers.
    }
  }

  private grant(token: TokenAnswer, instanceUrl: string | null, account: { accountId: string; accountLabel: string }): CrmGrant {
    return {
      accessToken: token.access_token!,
      refreshToken: token.refresh_token ?? null,
      expiresAt: new Date(Date.now() + (Number(token.expires_in) || 3600) * 1000).toISOString(),
      instanceUrl,
      accountId: account.accountId,
      accountLabel: account.accountLabel,
      scopes: (token.scope ?? '').split(/[\s,]+/).filter(Boolean),
    };
  }

  private clientAuth(): Record<string, string> {
    return { authorization: basicAuth(this.options.clientId, this.options.clientSecret) };
  }

  private async token(form: Record<string, string>, refreshing: boolean): Promise<TokenAnswer> {
    const answer = await send(
      trustedFetch,
      { method: 'POST', url: `${this.oauthUrl}/oauth/token`, headers: this.clientAuth(), form },
      this.options.timeoutMs,
    );
    const body = (answer.json ?? {}) as TokenAnswer & { error?: string };
    if (answer.status === 200 && typeof body.access_token === 'string') return body;
    throw tokenError(answer, refreshing);
  }
}

function requireHost(token: TokenAnswer): string {
  const host = apiHost(token.api_domain);
  if (!host) throw new CrmRequestRejected('Pipedrive token answer has no usable api_domain', 0);
  return host;
}

function tokenError(answer: RestAnswer, refreshing: boolean): Error {
  const message = describeError(answer.json, answer.text);
  const code = (answer.json as { error?: unknown } | undefined)?.error;
  if (answer.status === 429)
    return new CrmRateLimited(`Pipedrive OAuth rate limit: ${message}`, retryAfterMs(answer.headers.get('retry-after'), 2000));
  if (answer.status >= 500) return new CrmUnavailable(`Pipedrive OAuth answered ${answer.status}: ${message}`);
  // A refused refresh token (invalid_grant, or the app uninstalled) cannot be retried: the user must reconnect.
  if (refreshing && (code === 'invalid_grant' || (answer.status === 400 && code !== 'invalid_client')))
    return new CrmGrantRevoked(`Pipedrive refused the refresh token: ${message}`);
  return new CrmRequestRejected(`Pipedrive OAuth answered ${answer.status}: ${message}`, answer.status);
}
