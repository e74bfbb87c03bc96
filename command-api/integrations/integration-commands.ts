import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { roleGrants } from '../../domain/access/permissions.ts';
import { apiKeyDecider, apiKeyStream } from '../../domain/api-keys/api-key.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import {
  integrationDecider,
  integrationStream,
  MAX_WEBHOOK_IDS,
  type Integration,
  type LiveIntegration,
  type SyncDirection,
  type SyncKind,
  type SyncSettings,
} from '../../domain/integrations/integration.ts';
import { validateMappings, type DescribedField, type FieldMapping, type MappingProblem } from '../../domain/integrations/mappings.ts';
import { providers as providerSpecs, type ProviderId } from '../../domain/integrations/providers.ts';
import { claimDecider, type Claim, type ClaimEvent } from '../../domain/uniqueness/claim.ts';
import { organizationDecider, organizationStream } from '../../domain/organizations/organization.ts';
import type { CredentialsVault } from '../../infra/crm/credentials-vault.ts';
import type { IntegrationConnections } from '../../infra/crm/integration-connections.ts';
import {
  CrmUnauthorized,
  type CrmFieldDescription,
  type CrmGrant,
  type CrmProvider,
  type CrmProviders,
} from '../../projectors/integrations/ports.ts';
import type { CommandHandler, CommandOutcome } from '../command-handling.ts';
import { WrongExpectedRevisionError } from '../ports.ts';
import { claimStreamId, type ValueClaims } from '../uniqueness/value-claims.ts';
import { callingProvider, providerNotConfigured } from './crm-problems.ts';
import { sameOwner, type OAuthStates, type PendingAuthorization, type StateOwner } from './oauth-states.ts';

/** One live integration per provider and organization. */
const providerClaimStream = (organizationId: string, provider: ProviderId) => claimStreamId('integrationProvider', organizationId, provider);

export interface OAuthCallback {
  state: string;
  code?: string;
  error?: string;
  errorDescription?: string;
}

export interface CallbackCaller {
  /** The caller's own credential at the callback, when the browser sent one (it must be the state's owner). */
  owner: StateOwner | null;
  request: Omit<CommandContext, 'tenantId' | 'actor'>;
}

export interface ConnectedIntegration extends CommandOutcome<Integration> {
  id: string;
  reconnected: boolean;
}

export interface SyncRequest {
  kind?: 'incremental' | 'forced';
  direction?: SyncDirection;
  fields?: string[];
}

export interface IntegrationCommandsOptions {
  handler: CommandHandler;
  claims: ValueClaims;
  providers: CrmProviders;
  vault: CredentialsVault;
  connections: IntegrationConnections;
  states: OAuthStates;
  /** The OAuth apps' client secrets by provider (HubSpot signs webhooks with it). */
  clientSecret: (provider: ProviderId) => string | undefined;
  logger: Logger;
}

/**
 * The command side of CRM integrations: OAuth connect (state, PKCE, callback, sealed credentials, one live
 * integration per provider and organization), disconnect, sync starts, verified webhooks, mappings and
 * settings. Secrets never enter an event: the events name the credentials by reference.
 */
export class IntegrationCommands {
  constructor(private readonly o: IntegrationCommandsOptions) {}

  /** The configured provider, or 503 naming the settings the operator must add. */
  provider(id: ProviderId): CrmProvider {
    const provider = this.o.providers.get(id);
    if (!provider) throw providerNotConfigured(id, this.o.providers.missingSettings(id));
    return provider;
  }

  async beginConnect(context: CommandContext, owner: StateOwner, type: ProviderId, redirectUri: string) {
    const organizationId = context.tenantId!;
    const provider = this.provider(type);
    await this.refuseWhileConnected(organizationId, type);
    const { state, codeChallenge, expiresAt } = await this.o.states.begin(
      { provider: type, organizationId, owner, redirectUri },
      providerSpecs[type].pkce,
    );
    return { authorizationUrl: provider.oauth.authorizationUrl({ state, redirectUri, codeChallenge }), state, expiresAt, redirectUri };
  }

  /**
   * The provider sent the browser back. The state names who started and where; it is used up here, once.
   * The code is exchanged, the credentials sealed, and the integration connected (or reconnected, when the
   * organization's integration of this provider waits for a reconnect).
   */
  async completeConnect(callback: OAuthCallback, caller: CallbackCaller): Promise<ConnectedIntegration> {
    const pending = await this.o.states.peek(callback.state);
    if (!pending) throw new ValidationError([{ name: 'state', reason: 'is unknown, expired or already used: start the connection again' }]);
    if (caller.owner && !sameOwner(caller.owner, pending.owner))
      throw new ForbiddenError('This authorization was started by someone else', 'state_not_yours', 'state');
    if (!(await this.o.states.consume(callback.state)))
      throw new ValidationError([{ name: 'state', reason: 'is unknown, expired or already used: start the connection again' }]);
    if (callback.error !== undefined) {
      const said = callback.errorDescription ? `${callback.error}: ${callback.errorDescription}` : callback.error;
      throw new ValidationError(
        [{ name: 'error', reason: `${providerSpecs[pending.provider].displayName} refused the authorization (${said.slice(0, 300)})` }],
        'The provider refused the authorization.',
      );
    }
    if (!callback.code) throw new ValidationError([{ name: 'code', reason: 'is required' }]);
    const context: CommandContext = { ...caller.request, tenantId: pending.organizationId, actor: actorOf(pending.owner) };
    await this.requireStillAllowed(pending);
    const provider = this.provider(pending.provider);
    const grant = await callingProvider(pending.provider, () =>
      provider.oauth.exchangeCode({ code: callback.code!, redirectUri: pending.redirectUri, codeVerifier: pending.codeVerifier }),
    );
    const existing = await this.liveIntegrationOf(pending.organizationId, pending.provider);
    if (existing?.status === 'needs_reconnect') return this.reconnect(existing, grant, context);
    if (existing) throw new ConflictError(`${providerSpecs[pending.provider].displayName} is already connected`, 'integration_exists');
    return this.connect(pending, grant, context);
  }

  private async connect(pending: PendingAuthorization, grant: CrmGrant, context: CommandContext): Promise<ConnectedIntegration> {
    const integrationId = randomUUID();
    const { organizationId, provider } = pending;
    const credentialsRef = await this.o.vault.store(organizationId, {
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      webhookSecret: randomBytes(32).toString('base64url'),
      expiresAt: grant.expiresAt,
    });
    const command = {
      type: 'Connect' as const,
      data: { integrationId, organizationId, provider, ...grantData(grant), credentialsRef },
    };
    const claimStream = providerClaimStream(organizationId, provider);
    const append = (together: boolean) =>
      this.o.handler.handle(integrationStream(integrationId), integrationDecider, command, context, {
        newStream: true,
        ...(together ? { together: [this.o.claims.firstClaim(claimStream, integrationId, context)] } : {}),
      });
    try {
      try {
        // Usual case, one atomic append: a provider this organization never connected is claimed with it.
        return { ...(await append(true)), id: integrationId, reconnected: false };
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError && err.streamId === claimStream)) throw err;
      }
      await this.claim(organizationId, provider, integrationId, context);
      try {
        return { ...(await append(false)), id: integrationId, reconnected: false };
      } catch (err) {
        await this.release(organizationId, provider, integrationId, context);
        throw err;
      }
    } catch (err) {
      await this.o.vault.destroy(credentialsRef);
      throw err;
    }
  }

  private async reconnect(integration: LiveIntegration, grant: CrmGrant, context: CommandContext): Promise<ConnectedIntegration> {
    // The integration keeps its webhook secret: the provider's subscription is configured with it.
    const previous = await this.o.vault.open(integration.credentialsRef, integration.organizationId).catch(() => null);
    const credentialsRef = await this.o.vault.store(integration.organizationId, {
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      webhookSecret: previous?.webhookSecret ?? randomBytes(32).toString('base64url'),
      expiresAt: grant.expiresAt,
    });
    let outcome: CommandOutcome<Integration>;
    try {
      outcome = await this.o.handler.handle(
        integrationStream(integration.id),
        integrationDecider,
        {
          type: 'Reconnect',
          data: { integrationId: integration.id, organizationId: integration.organizationId, ...grantData(grant), credentialsRef },
        },
        context,
      );
    } catch (err) {
      await this.o.vault.destroy(credentialsRef);
      throw err;
    }
    await this.o.vault.destroy(integration.credentialsRef);
    return { ...outcome, id: integration.id, reconnected: true };
  }

  async disconnect(context: CommandContext, integrationId: string): Promise<CommandOutcome<Integration>> {
    const integration = await this.load(context, integrationId);
    const outcome = await this.o.handler.handle(
      integrationStream(integrationId),
      integrationDecider,
      { type: 'Disconnect', data: { integrationId, organizationId: integration.organizationId } },
      context,
    );
    await this.revokeAtProvider(integration);
    await this.o.vault.destroy(integration.credentialsRef);
    await this.release(integration.organizationId, integration.provider, integrationId, context);
    return outcome;
  }

  /** Best effort: the integration is disconnected here whatever the provider says. */
  private async revokeAtProvider(integration: LiveIntegration): Promise<void> {
    try {
      const provider = this.o.providers.get(integration.provider);
      if (!provider) return;
      const credentials = await this.o.vault.open(integration.credentialsRef, integration.organizationId);
      await provider.oauth.revoke({
        accessToken: credentials.accessToken,
        refreshToken: credentials.refreshToken,
        instanceUrl: integration.instanceUrl,
      });
    } catch (err) {
      this.o.logger.warn({ err, integrationId: integration.id }, 'could not revoke the grant at the provider; disconnected here regardless');
    }
  }

  async startSync(context: CommandContext, integrationId: string, request: SyncRequest) {
    const integration = await this.load(context, integrationId);
    const runId = randomUUID();
    const neverSynced = Object.keys(integration.cursors).length === 0 && integration.lastRun?.outcome !== 'completed';
    const kind: SyncKind = request.kind ?? (neverSynced ? 'initial' : 'incremental');
    const direction = request.direction ?? integration.settings.direction;
    const outcome = await this.o.handler.handle(
      integrationStream(integrationId),
      integrationDecider,
      {
        type: 'StartSync',
        data: {
          integrationId,
          organizationId: integration.organizationId,
          runId,
          kind,
          direction,
          ...(request.fields ? { fields: request.fields } : {}),
        },
      },
      context,
    );
    return { ...outcome, runId, kind, direction };
  }

  /**
   * A delivery to an integration's webhook: verified over the raw body with the integration's secrets, then
   * recorded as the ids it names (the sync fetches them). Unverifiable (unknown id, no credentials, bad
   * signature): false and nothing recorded, alike, so the endpoint tells nobody which ids exist.
   */
  async receiveWebhook(integrationId: string, delivery: Parameters<CrmProvider['webhooks']['verify']>[0]): Promise<boolean> {
    const { state } = await this.o.handler.load(integrationStream(integrationId), integrationDecider);
    if (state.status === 'absent' || state.status === 'disconnected') return false;
    const provider = this.o.providers.get(state.provider);
    const clientSecret = this.o.clientSecret(state.provider);
    if (!provider || !clientSecret) return false;
    const credentials = await this.o.vault.open(state.credentialsRef, state.organizationId).catch(() => null);
    if (!credentials) return false;
    const notice = provider.webhooks.verify(delivery, { clientSecret, integrationSecret: credentials.webhookSecret });
    if (!notice) return false;
    const context: CommandContext = {
      tenantId: state.organizationId,
      actor: { type: 'system', id: `${state.provider}-webhook` },
      correlationId: randomUUID(),
      causationId: randomUUID(),
      now: delivery.now,
    };
    const ids = [...new Set(notice.externalIds)];
    for (let at = 0; at < ids.length; at += MAX_WEBHOOK_IDS) {
      await this.o.handler.handle(
        integrationStream(integrationId),
        integrationDecider,
        {
          type: 'NoteWebhook',
          data: {
            integrationId,
            organizationId: state.organizationId,
            externalIds: ids.slice(at, at + MAX_WEBHOOK_IDS),
            receivedAt: delivery.now.toISOString(),
          },
        },
        context,
      );
    }
    return true;
  }

  /** Checked against the provider's described fields before they are saved (400 naming each bad mapping). */
  async setMappings(context: CommandContext, integrationId: string, mappings: FieldMapping[]): Promise<CommandOutcome<Integration>> {
    const integration = await this.load(context, integrationId);
    if (integration.status === 'needs_reconnect')
      throw new ConflictError('The provider refused the grant; reconnect the integration before changing mappings', 'needs_reconnect');
    const provider = this.o.connections.providerOf(integration);
    const describe = async (refresh: boolean) =>
      provider.client.describeContactFields(await this.o.connections.connectionFor(integration, { refresh }));
    const fields = await callingProvider(integration.provider, async () => {
      try {
        return await describe(false);
      } catch (err) {
        // The provider refused the token before its time (revoked session, clock skew): refresh once and retry.
        if (err instanceof CrmUnauthorized) return describe(true);
        throw err;
      }
    });
    const problems = mappingProblems(mappings, fields);
    if (problems.length > 0)
      throw new ValidationError(
        problems.map(({ name, reason }) => ({ name, reason })),
        'Some mappings do not fit the provider.',
      );
    return this.o.handler.handle(
      integrationStream(integrationId),
      integrationDecider,
      { type: 'SetMappings', data: { integrationId, organizationId: integration.organizationId, mappings } },
      context,
    );
  }

  async setSettings(context: CommandContext, integrationId: string, settings: Partial<SyncSettings>): Promise<CommandOutcome<Integration>> {
    const integration = await this.load(context, integrationId);
    return this.o.handler.handle(
      integrationStream(integrationId),
      integrationDecider,
      { type: 'SetSyncSettings', data: { integrationId, organizationId: integration.organizationId, settings } },
      context,
    );
  }

  /** The integration as its organization sees it; another organization's is "not found", like a missing one. */
  private async load(context: CommandContext, integrationId: string): Promise<LiveIntegration> {
    const { state } = await this.o.handler.loadFor(integrationStream(integrationId), integrationDecider, context);
    if (state.status === 'absent' || state.organizationId !== context.tenantId) throw new NotFoundError('Integration');
    return state;
  }

  /** The organization's integration of this provider that holds the claim, if it is still live. */
  private async liveIntegrationOf(organizationId: string, provider: ProviderId): Promise<LiveIntegration | null> {
    const claim = await this.o.handler.load<Claim, ClaimEvent>(providerClaimStream(organizationId, provider), claimDecider);
    const ownerId = claim.state.ownerId;
    if (!ownerId) return null;
    const { state } = await this.o.handler.load(integrationStream(ownerId), integrationDecider);
    if (state.status === 'absent' || state.status === 'disconnected' || state.organizationId !== organizationId) return null;
    return state;
  }

  /** A second connect of a connected provider is refused before the user is sent to consent. */
  private async refuseWhileConnected(organizationId: string, provider: ProviderId): Promise<void> {
    const existing = await this.liveIntegrationOf(organizationId, provider);
    if (existing?.status === 'connected')
      throw new ConflictError(`${providerSpecs[provider].displayName} is already connected; disconnect it first`, 'integration_exists');
  }

  /** The person (or key) who started may still manage integrations of a not-suspended organization. */
  private async requireStillAllowed(pending: PendingAuthorization): Promise<void> {
    const refused = () => new ForbiddenError('You may no longer manage integrations of this organization', 'insufficient_permission');
    const { state: organization } = await this.o.handler.load(organizationStream(pending.organizationId), organizationDecider);
    if (organization.status === 'absent') throw refused();
    if (organization.status === 'suspended')
      throw new ForbiddenError('Your organization is suspended: it can read its data but not change it. Contact support.', 'organization_suspended');
    if (pending.owner.kind === 'user') {
      const member = organization.members[pending.owner.userId];
      if (!member?.active || !roleGrants(member.role, 'integrations:manage')) throw refused();
      return;
    }
    const { state: key } = await this.o.handler.load(apiKeyStream(pending.owner.keyId), apiKeyDecider);
    const expired = key.status === 'active' && key.expiresAt !== null && Date.parse(key.expiresAt) <= Date.now();
    if (key.status !== 'active' || expired || key.organizationId !== pending.organizationId || !key.scopes.includes('integrations:manage'))
      throw refused();
  }

  private claim(organizationId: string, provider: ProviderId, integrationId: string, context: CommandContext): Promise<void> {
    return this.o.claims.claim(
      providerClaimStream(organizationId, provider),
      {
        ownerId: integrationId,
        field: 'provider',
        duplicateMessage: `${providerSpecs[provider].displayName} is already connected`,
        ownerStatus: async (ownerId) => {
          const { state } = await this.o.handler.load(integrationStream(ownerId), integrationDecider);
          if (state.status === 'absent') return 'absent';
          return state.status === 'disconnected' ? 'released' : 'holds';
        },
      },
      context,
    );
  }

  /** Never fails the command: a claim left behind is recognised as stale by the next claimant. */
  private async release(organizationId: string, provider: ProviderId, integrationId: string, context: CommandContext): Promise<void> {
    try {
      await this.o.claims.release(providerClaimStream(organizationId, provider), integrationId, context);
    } catch (err) {
      this.o.logger.warn({ err, integrationId }, 'could not release the provider claim; the next connect will find it stale');
    }
  }
}

const actorOf = (owner: StateOwner) =>
  owner.kind === 'user' ? { type: 'user' as const, id: owner.userId } : { type: 'apiKey' as const, id: owner.keyId };

function grantData(grant: CrmGrant) {
  return {
    accountId: grant.accountId,
    accountLabel: grant.accountLabel,
    instanceUrl: grant.instanceUrl,
    grantedScopes: grant.scopes,
    tokenExpiresAt: grant.expiresAt,
  };
}

/**
 * The domain's check against the described fields. A field of a type we cannot sync is left out of the
 * description, and a mapping naming it says so (rather than "no such field").
 */
export function mappingProblems(mappings: readonly FieldMapping[], fields: readonly CrmFieldDescription[]): MappingProblem[] {
  const described: DescribedField[] = [];
  const unsupported = new Set<string>();
  for (const field of fields) {
    if (field.type === 'other') unsupported.add(field.name);
    else
      described.push({
        name: field.name,
        type: field.type,
        updateable: field.updatable,
        ...(field.picklistValues ? { picklistValues: field.picklistValues } : {}),
      });
  }
  return validateMappings(mappings, described).map((problem) => {
    const index = /^mappings\[(\d+)\]\.theirs$/.exec(problem.name)?.[1];
    const theirs = index === undefined ? undefined : mappings[Number(index)]?.theirs;
    return problem.code === 'unknown_provider_field' && theirs !== undefined && unsupported.has(theirs)
      ? { ...problem, reason: `${theirs} is of a type NexusFlow cannot sync`, code: 'unsupported_provider_field' }
      : problem;
  });
}
