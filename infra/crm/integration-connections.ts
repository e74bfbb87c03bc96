import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CommandHandler } from '../../command-api/command-handling.ts';
import type { Mailer } from '../../command-api/ports.ts';
import { ConflictError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import { integrationDecider, integrationStream, type Integration, type LiveIntegration } from '../../domain/integrations/integration.ts';
import { providers as providerSpecs } from '../../domain/integrations/providers.ts';
import { CrmError, CrmGrantRevoked, type CrmConnection, type CrmProvider, type CrmProviders } from '../../projectors/integrations/ports.ts';
import type { CredentialsVault, IntegrationCredentials } from './credentials-vault.ts';

/** A token expiring within this is refreshed before use. */
export const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;
/** Credentials older than this are refreshed even when the token has long to live (a dead grant is found within a day). */
export const REFRESH_AT_LEAST_EVERY_MS = 24 * 60 * 60_000;

/** A provider the integration uses is not configured in this deployment (its OAuth app settings are missing). */
export class ProviderNotConfiguredError extends CrmError {
  constructor(
    readonly provider: string,
    readonly missing: string[],
  ) {
    super(`${provider} is not configured here: set ${missing.join(', ')}`, false);
  }
}

/** Who to tell when an integration needs a reconnect: the organization's active owners and admins. */
export type OrganizationAdmins = (organizationId: string) => Promise<{ email: string; name: string }[]>;

export interface IntegrationConnectionsOptions {
  providers: CrmProviders;
  vault: CredentialsVault;
  handler: CommandHandler;
  mailer: Mailer;
  admins: OrganizationAdmins;
  logger: Logger;
  /** Where the settings page is, for the admins' mail (APP_URL). */
  appUrl: string | null;
  now?: () => Date;
}

/**
 * How the sync runner and the command side call a provider as an integration: the sealed credentials opened,
 * the access token refreshed before it expires (and at least daily, so a revoked grant is noticed even while
 * nothing syncs), each refresh recorded as RefreshTokens. A refresh the provider refuses is a grant failure:
 * ReportGrantFailure moves the integration to needs_reconnect (syncing stops) and the organization's admins
 * get a mail; nothing retries it until someone reconnects.
 */
export class IntegrationConnections {
  /** Refreshes in flight in this process, by integration: concurrent callers share one call to the provider. */
  private readonly refreshing = new Map<string, Promise<CrmConnection>>();
  private readonly now: () => Date;

  constructor(private readonly options: IntegrationConnectionsOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** The configured provider of an integration, or ProviderNotConfiguredError naming the missing settings. */
  providerOf(integration: Pick<LiveIntegration, 'provider'>): CrmProvider {
    const provider = this.options.providers.get(integration.provider);
    if (!provider) throw new ProviderNotConfiguredError(integration.provider, this.options.providers.missingSettings(integration.provider));
    return provider;
  }

  /**
   * A usable connection. `refresh: true` forces a refresh (the provider answered 401 to the current token).
   * Fails with ConflictError `needs_reconnect` / `integration_disconnected` when the integration cannot call
   * the provider, with CrmGrantRevoked when the refresh was refused (the integration was moved to
   * needs_reconnect), and with the provider's retryable CrmErrors as they come.
   */
  async connectionFor(state: Integration, options: { refresh?: boolean } = {}): Promise<CrmConnection> {
    const integration = requireConnected(state);
    this.providerOf(integration);
    const { credentials, sealedAt } = await this.options.vault.openEntry(integration.credentialsRef, integration.organizationId);
    const now = this.now().getTime();
    const expiresAt = Date.parse(credentials.expiresAt);
    const due = options.refresh === true || expiresAt - now <= REFRESH_BEFORE_EXPIRY_MS || now - sealedAt.getTime() >= REFRESH_AT_LEAST_EVERY_MS;
    if (!due) return connectionOf(integration, credentials);
    if (credentials.refreshToken === null) {
      // Nothing to refresh with: usable until it expires, then only a reconnect helps.
      if (expiresAt > now && options.refresh !== true) return connectionOf(integration, credentials);
      throw await this.grantFailed(integration, 'The access token expired and the provider issued no refresh token', false);
    }
    return this.sharedRefresh(integration, credentials);
  }

  private sharedRefresh(integration: LiveIntegration, credentials: IntegrationCredentials): Promise<CrmConnection> {
    const running = this.refreshing.get(integration.id);
    if (running) return running;
    const refresh = this.refresh(integration, credentials).finally(() => this.refreshing.delete(integration.id));
    this.refreshing.set(integration.id, refresh);
    return refresh;
  }

  private async refresh(integration: LiveIntegration, credentials: IntegrationCredentials): Promise<CrmConnection> {
    const provider = this.providerOf(integration);
    let grant;
    try {
      grant = await provider.oauth.refresh(credentials.refreshToken!, {
        instanceUrl: integration.instanceUrl,
        accountId: integration.accountId,
        accountLabel: integration.accountLabel,
        scopes: integration.grantedScopes,
      });
    } catch (err) {
      if (!(err instanceof CrmError) || err.retryable) throw err;
      // Another process may have refreshed (and rotated the refresh token) meanwhile: its tokens stand.
      const current = await this.options.vault.open(integration.credentialsRef, integration.organizationId);
      if (current.refreshToken !== credentials.refreshToken && Date.parse(current.expiresAt) - this.now().getTime() > REFRESH_BEFORE_EXPIRY_MS)
        return connectionOf(integration, current);
      throw await this.grantFailed(integration, err.message, err instanceof CrmGrantRevoked);
    }
    const renewed: IntegrationCredentials = {
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken ?? credentials.refreshToken,
      webhookSecret: credentials.webhookSecret,
      expiresAt: grant.expiresAt,
    };
    // Sealed first: a rotated refresh token is the only one that works from now on.
    await this.options.vault.replace(integration.credentialsRef, integration.organizationId, renewed);
    await this.options.handler.handle(
      integrationStream(integration.id),
      integrationDecider,
      { type: 'RefreshTokens', data: { integrationId: integration.id, organizationId: integration.organizationId, tokenExpiresAt: grant.expiresAt } },
      this.context(integration),
    );
    return connectionOf(integration, renewed);
  }

  /**
   * Records the grant failure (once: a second report changes nothing and mails nobody) and tells the admins.
   * Answers the error for the caller to throw.
   */
  async grantFailed(integration: LiveIntegration, reason: string, revoked: boolean): Promise<CrmGrantRevoked> {
    const outcome = await this.options.handler.handle(
      integrationStream(integration.id),
      integrationDecider,
      { type: 'ReportGrantFailure', data: { integrationId: integration.id, organizationId: integration.organizationId, reason, revoked } },
      this.context(integration),
    );
    if (outcome.appended.some((event) => event.type === 'IntegrationNeedsReconnect')) await this.tellAdmins(integration, reason, outcome.revision);
    return new CrmGrantRevoked(reason);
  }

  private async tellAdmins(integration: LiveIntegration, reason: string, revision: number): Promise<void> {
    const name = providerSpecs[integration.provider].displayName;
    const settings = this.options.appUrl ? `${this.options.appUrl.replace(/\/+$/, '')}/settings/integrations` : 'the integration settings';
    try {
      const admins = await this.options.admins(integration.organizationId);
      for (const admin of admins)
        await this.options.mailer.send({
          to: admin.email,
          subject: `Your ${name} integration needs to be reconnected`,
          text:
            `Hello ${admin.name},\n\n${name} refused NexusFlow's access to ${integration.accountLabel} (${reason}). ` +
            `Syncing has stopped and will not resume by itself. Reconnect ${name} in ${settings} to resume it.\n`,
          template: 'integration-needs-reconnect',
          idempotencyKey: `integration-needs-reconnect:${integration.id}:${revision}:${admin.email}`,
        });
    } catch (err) {
      // The state change is recorded (and shown in status); a lost mail must not hide it.
      this.options.logger.error({ err, integrationId: integration.id }, 'could not mail the admins about an integration needing a reconnect');
    }
  }

  private context(integration: LiveIntegration): CommandContext {
    const id = randomUUID();
    return {
      tenantId: integration.organizationId,
      actor: { type: 'system', id: 'crm-connections' },
      correlationId: id,
      causationId: id,
      now: this.now(),
    };
  }
}

function requireConnected(state: Integration): LiveIntegration {
  if (state.status === 'absent') throw new ConflictError('No such integration', 'integration_absent');
  if (state.status === 'disconnected') throw new ConflictError('The integration is disconnected', 'integration_disconnected');
  if (state.status === 'needs_reconnect')
    throw new ConflictError('The provider refused the grant; reconnect the integration first', 'needs_reconnect');
  return state;
}

function connectionOf(integration: LiveIntegration, credentials: IntegrationCredentials): CrmConnection {
  return { accessToken: credentials.accessToken, instanceUrl: integration.instanceUrl };
}
