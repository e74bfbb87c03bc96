import { CrmError, type AuthorizationRequest, type CrmGrant, type CrmOAuth } from '../../../projectors/integrations/ports.ts';
import type { ProviderOptions } from '../provider-options.ts';
import { hubSpotTokenError } from './errors.ts';
import type { HubSpotApi } from './hubspot-api.ts';

/**
 * The scopes we ask for: contacts (read, write, their property definitions), deals (for `crm_action`) and the
 * property-definition writes that create our idempotency-key properties on tasks and deals (see client.ts).
 * Tasks are written under the contacts scope (HubSpot files engagements there).
 */
export const HUBSPOT_SCOPES = [
  'oauth',
  'crm.objects.contacts.read',
  'crm.objects.contacts.write',
  'crm.schemas.contacts.read',
  'crm.objects.deals.read',
  'crm.objects.deals.write',
  'crm.schemas.deals.write',
];

/**
 * HubSpot's OAuth 2 (https://developers.hubspot.com/docs/api/oauth-quickstart-guide), a confidential client
 * without PKCE (providers.ts): the consent page at HUBSPOT_OAUTH_URL/oauth/authorize (built here: the library's
 * `getAuthorizationUrl` hard-codes app.hubspot.com); the token, token-info and revoke calls through the
 * library's oauth APIs on the API host. Access tokens live 30 minutes; the refresh token does not change on
 * refresh, and HubSpot answers it again anyway.
 */
export class HubSpotOAuth implements CrmOAuth {
  constructor(
    private readonly options: ProviderOptions,
    private readonly api: HubSpotApi,
  ) {}

  authorizationUrl(request: AuthorizationRequest): string {
    const url = new URL('/oauth/authorize', this.options.oauthUrl ?? 'https://app.hubspot.com');
    url.searchParams.set('client_id', this.options.clientId);
    url.searchParams.set('redirect_uri', request.redirectUri);
    url.searchParams.set('scope', HUBSPOT_SCOPES.join(' '));
    url.searchParams.set('state', request.state);
    return url.toString();
  }

  async exchangeCode(input: { code: string; redirectUri: string; codeVerifier: string | null }): Promise<CrmGrant> {
    const { tokens, accessTokens } = this.api.apis();
    const { clientId, clientSecret } = this.options;
    const answer = await this.api.call(
      'code exchange',
      () => tokens.create('authorization_code', input.code, input.redirectUri, clientId, clientSecret),
      hubSpotTokenError,
    );
    // The token answer names no account: the token-info call does (hub_id, hub_domain, the granted scopes).
    const info = await this.api.call('access token info', () => accessTokens.get(answer.accessToken));
    if (!info.hubId) throw new CrmError('HubSpot access token info named no hub_id', false);
    return {
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken || null,
      expiresAt: expiry(answer.expiresIn),
      instanceUrl: null,
      accountId: String(info.hubId),
      accountLabel: info.hubDomain || `HubSpot portal ${info.hubId}`,
      scopes: info.scopes ?? [],
    };
  }

  async refresh(refreshToken: string, previous: Pick<CrmGrant, 'instanceUrl' | 'accountId' | 'accountLabel' | 'scopes'>): Promise<CrmGrant> {
    const { tokens } = this.api.apis();
    const { clientId, clientSecret } = this.options;
    const answer = await this.api.call(
      'token refresh',
      () => tokens.create('refresh_token', undefined, undefined, clientId, clientSecret, refreshToken),
      hubSpotTokenError,
    );
    return {
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken || null,
      expiresAt: expiry(answer.expiresIn),
      instanceUrl: null,
      accountId: previous.accountId,
      accountLabel: previous.accountLabel,
      scopes: previous.scopes,
    };
  }

  /** Deletes the refresh token (HubSpot has no access-token revoke; the access token dies within 30 minutes). */
  async revoke(grant: { accessToken: string; refreshToken: string | null; instanceUrl: string | null }): Promise<void> {
    if (!grant.refreshToken) return;
    const { refreshTokens } = this.api.apis();
    try {
      await this.api.call('refresh token revoke', () => refreshTokens.archive(grant.refreshToken!), hubSpotTokenError);
    } catch (err) {
      // Already gone (404, or refused as unknown) is what we wanted; a transient failure the caller may retry.
      if (err instanceof CrmError && err.retryable) throw err;
    }
  }
}

function expiry(expiresInSeconds: number | undefined): string {
  const seconds = Number.isFinite(expiresInSeconds) && expiresInSeconds! > 0 ? expiresInSeconds! : 1800;
  return new Date(Date.now() + seconds * 1000).toISOString();
}
