import { createHmac, timingSafeEqual } from 'node:crypto';
import { Connection, OAuth2, type TokenResponse } from 'jsforce';
import {
  CrmError,
  CrmGrantRevoked,
  CrmRequestRejected,
  CrmUnavailable,
  type AuthorizationRequest,
  type CrmGrant,
  type CrmOAuth,
} from '../../../projectors/integrations/ports.ts';
import type { ProviderOptions } from '../provider-options.ts';
import { API_VERSION, type SalesforceTransports } from './connection.ts';

/** What we ask for: the REST API and a refresh token (Salesforce scopes are space separated). */
const SCOPES = 'api refresh_token';

/**
 * Salesforce's token answer carries no `expires_in` (the session lifetime is an org setting, 15 minutes to 24
 * hours). The introspection endpoint tells the real `exp`; where a connected app does not allow introspection,
 * we assume the shortest lifetime, so the token is refreshed early rather than found dead.
 */
const SHORTEST_SESSION_MS = 15 * 60_000;

export class SalesforceOAuth implements CrmOAuth {
  constructor(
    private readonly options: ProviderOptions,
    private readonly transports: SalesforceTransports,
  ) {}

  authorizationUrl(request: AuthorizationRequest): string {
    // jsforce's own PKCE (useVerifier) makes a verifier per OAuth2 object; ours comes from the caller, who
    // keeps it with the `state`, so the challenge is passed in as a parameter (Salesforce assumes S256).
    return this.oauth2(request.redirectUri).getAuthorizationUrl({
      scope: SCOPES,
      state: request.state,
      ...(request.codeChallenge ? { code_challenge: request.codeChallenge } : {}),
    });
  }

  async exchangeCode(input: { code: string; redirectUri: string; codeVerifier: string | null }): Promise<CrmGrant> {
    const answer = await this.tokenCall('exchange', () =>
      this.oauth2(input.redirectUri).requestToken(input.code, input.codeVerifier ? { code_verifier: input.codeVerifier } : {}),
    );
    const instanceUrl = this.instanceUrlOf(answer);
    const { accountId, accountLabel } = await this.account(answer, instanceUrl);
    return {
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token ?? null,
      expiresAt: await this.expiresAt(answer),
      instanceUrl,
      accountId,
      accountLabel,
      scopes: scopesOf(answer),
    };
  }

  async refresh(refreshToken: string, previous: Pick<CrmGrant, 'instanceUrl' | 'accountId' | 'accountLabel' | 'scopes'>): Promise<CrmGrant> {
    const answer = await this.tokenCall('refresh', () => this.oauth2().refreshToken(refreshToken));
    const orgId = orgIdOf(answer.id);
    if (orgId !== null && !sameId(orgId, previous.accountId))
      throw new CrmGrantRevoked(`the refreshed Salesforce token belongs to org ${orgId}, not ${previous.accountId}`);
    return {
      accessToken: answer.access_token,
      // Salesforce keeps the refresh token unless the connected app rotates it.
      refreshToken: answer.refresh_token ?? null,
      expiresAt: await this.expiresAt(answer),
      instanceUrl: this.instanceUrlOf(answer),
      accountId: previous.accountId,
      accountLabel: previous.accountLabel,
      scopes: answer.scope ? scopesOf(answer) : previous.scopes,
    };
  }

  async revoke(grant: { accessToken: string; refreshToken: string | null; instanceUrl: string | null }): Promise<void> {
    // Revoking the refresh token ends every access token issued from it.
    try {
      await this.oauth2().revokeToken(grant.refreshToken ?? grant.accessToken);
    } catch (err) {
      if (err instanceof CrmUnavailable) throw err;
      // A token Salesforce no longer knows is as revoked as it gets.
    }
  }

  private oauth2(redirectUri?: string): OAuth2 {
    const oauth2 = new OAuth2({
      loginUrl: this.options.baseUrl,
      clientId: this.options.clientId,
      clientSecret: this.options.clientSecret,
      ...(redirectUri ? { redirectUri } : {}),
    });
    oauth2._transport = this.transports.login.asJsforce();
    return oauth2;
  }

  /** A token call, its refusal mapped: `invalid_grant` is a dead grant on refresh, a bad code on exchange. */
  private async tokenCall(kind: 'exchange' | 'refresh', call: () => Promise<TokenResponse>): Promise<TokenResponse> {
    let answer: TokenResponse;
    try {
      answer = await call();
    } catch (err) {
      if (err instanceof CrmError) throw err;
      const code = err instanceof Error ? err.name : 'error';
      const message = `Salesforce refused the ${kind === 'exchange' ? 'code exchange' : 'token refresh'}: ${code}: ${err instanceof Error ? err.message : String(err)}`;
      if (kind === 'refresh' && code === 'invalid_grant') throw new CrmGrantRevoked(message);
      throw new CrmRequestRejected(message, 400);
    }
    if (!answer || typeof answer.access_token !== 'string' || typeof answer.id !== 'string')
      throw new CrmRequestRejected('Salesforce answered the token request without an access token', 502);
    this.checkSignature(answer);
    return answer;
  }

  /** Salesforce signs `id + issued_at` with the app's client secret: an answer not made for our app is refused. */
  private checkSignature(answer: TokenResponse): void {
    if (!answer.signature) return;
    const expected = createHmac('sha256', this.options.clientSecret).update(`${answer.id}${answer.issued_at}`).digest();
    const given = Buffer.from(answer.signature, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new CrmRequestRejected('the Salesforce token answer carries a signature that does not match our client secret', 502);
  }

  private instanceUrlOf(answer: TokenResponse): string {
    let url: URL;
    try {
      url = new URL(answer.instance_url);
    } catch {
      throw new CrmRequestRejected(`Salesforce answered an instance_url that is not a URL: ${String(answer.instance_url)}`, 502);
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password)
      throw new CrmRequestRejected(`Salesforce answered an unusable instance_url: ${url.origin}`, 502);
    return url.origin;
  }

  /** The org (the connected account) from the identity URL, its name from the Organization object. */
  private async account(answer: TokenResponse, instanceUrl: string): Promise<{ accountId: string; accountLabel: string }> {
    const conn = new Connection({ instanceUrl, accessToken: answer.access_token, version: API_VERSION });
    conn._transport = this.transports.instance.asJsforce();
    // The identity URL is a host from the token answer too: through the guarded transport like the instance.
    const identity = await conn.request<{ organization_id?: string; username?: string }>({ method: 'GET', url: answer.id });
    const accountId = identity.organization_id ?? orgIdOf(answer.id);
    if (!accountId) throw new CrmRequestRejected('Salesforce did not name the org of this grant', 502);
    const org = await conn.query<{ Name?: string }>('SELECT Id, Name FROM Organization LIMIT 1');
    return { accountId, accountLabel: org.records[0]?.Name ?? identity.username ?? accountId };
  }

  private async expiresAt(answer: TokenResponse): Promise<string> {
    const issuedAt = Number(answer.issued_at);
    const fallback = new Date((Number.isFinite(issuedAt) ? issuedAt : Date.now()) + SHORTEST_SESSION_MS).toISOString();
    try {
      const response = await this.transports.login.httpRequest({
        method: 'POST',
        url: `${this.options.baseUrl.replace(/\/+$/, '')}/services/oauth2/introspect`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          token: answer.access_token,
          token_type_hint: 'access_token',
          client_id: this.options.clientId,
          client_secret: this.options.clientSecret,
        }).toString(),
      });
      const introspection = JSON.parse(response.body) as { active?: boolean; exp?: number };
      if (response.statusCode === 200 && introspection.active && typeof introspection.exp === 'number')
        return new Date(introspection.exp * 1000).toISOString();
    } catch {
      // introspection not allowed for this app, or down: the conservative lifetime below
    }
    return fallback;
  }
}

function scopesOf(answer: TokenResponse): string[] {
  return (answer.scope ?? '').split(/\s+/).filter(Boolean);
}

/** The org id in an identity URL (https://login.salesforce.com/id/<orgId>/<userId>). */
function orgIdOf(idUrl: string): string | null {
  try {
    return /^\/id\/([A-Za-z0-9]{15,18})\/[A-Za-z0-9]{15,18}\/?$/.exec(new URL(idUrl).pathname)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Salesforce ids in their 15- and 18-character forms name the same record. */
function sameId(a: string, b: string): boolean {
  return a.slice(0, 15) === b.slice(0, 15);
}
