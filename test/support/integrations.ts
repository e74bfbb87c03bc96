import { randomUUID } from 'node:crypto';
import type { Actor } from '../../domain/events.ts';
import {
  integrationDecider,
  integrationStream,
  type DirectionCursors,
  type IntegrationCommand,
  type SyncCounts,
  type SyncDirection,
  type SyncKind,
  type SyncReject,
} from '../../domain/integrations/integration.ts';
import type { FieldMapping } from '../../domain/integrations/mappings.ts';
import { providers, type ProviderId } from '../../domain/integrations/providers.ts';
import { at, entityStream, type Fact } from './projection-spec.ts';

export const syncCounts = (over: Partial<SyncCounts> = {}): SyncCounts => ({
  read: 0,
  created: 0,
  updated: 0,
  skipped: 0,
  rejected: 0,
  conflicts: 0,
  ...over,
});

type Without<C> = C extends { data: infer D } ? Omit<D, 'organizationId' | 'integrationId'> : never;
type CommandOf<T extends IntegrationCommand['type']> = Without<Extract<IntegrationCommand, { type: T }>>;

/**
 * An integration of `organizationId` as the command side and the sync process record it: connected by
 * `connectedBy` at `minutes`, each later command decided by the integration decider on its stream (the
 * facts carry `actor`: the sync process's, unless a command says otherwise).
 */
export function integrationFacts(
  organizationId: string,
  options: { provider?: ProviderId; minutes?: number; connectedBy?: Actor; accountLabel?: string } = {},
) {
  const id = randomUUID();
  const provider = options.provider ?? 'salesforce';
  const connectedBy = options.connectedBy ?? { type: 'user', id: randomUUID() };
  const minutes = options.minutes ?? 1;
  const streamId = integrationStream(id);
  const connector = entityStream(integrationDecider, streamId, { tenantId: organizationId, actor: connectedBy });
  const grant = {
    accountId: `acct-${id.slice(0, 8)}`,
    accountLabel: options.accountLabel ?? `Acme on ${providers[provider].displayName}`,
    instanceUrl: providers[provider].instanceUrl === 'required' ? `https://acme-${id.slice(0, 8)}.example.com` : null,
    grantedScopes: ['api', 'refresh_token'],
    tokenExpiresAt: at(minutes + 60),
    credentialsRef: `sealed:v1:${id}`,
  };
  const connected = connector.decide({ type: 'Connect', data: { organizationId, integrationId: id, provider, ...grant } }, minutes);
  // The state goes on from the connection for every actor: one decider state, facts stamped per actor.
  let state = connector.state;
  const ids = { organizationId, integrationId: id };

  function decide<T extends IntegrationCommand['type']>(type: T, data: CommandOf<T>, when: number, actor?: Actor): Fact[] {
    const stream = entityStream({ ...integrationDecider, initialState: state }, streamId, {
      tenantId: organizationId,
      actor: actor ?? { type: 'system', id: 'crm-sync' },
    });
    const facts = stream.decide({ type, data: { ...ids, ...data } } as IntegrationCommand, when);
    state = stream.state;
    return facts;
  }

  return {
    id,
    organizationId,
    provider,
    grant,
    connectedBy,
    connected,
    get state() {
      return state;
    },
    decide,
    start: (runId: string, when: number, kind: SyncKind = 'initial', direction: SyncDirection = 'both', actor?: Actor) =>
      decide('StartSync', { runId, kind, direction }, when, actor),
    checkpoint: (runId: string, when: number, counts: SyncCounts, cursors: DirectionCursors = {}) =>
      decide('RecordSyncProgress', { runId, cursors, counts }, when),
    complete: (runId: string, when: number, counts: SyncCounts, cursors: DirectionCursors = {}) =>
      decide('CompleteSync', { runId, cursors, counts }, when),
    fail: (runId: string, when: number, reason: string, retryable = true) => decide('FailSync', { runId, reason, retryable }, when),
    reject: (rejects: SyncReject[], when: number, runId?: string) => decide('RecordRejects', { rejects, ...(runId ? { runId } : {}) }, when),
    map: (mappings: FieldMapping[], when: number, actor: Actor = connectedBy) => decide('SetMappings', { mappings }, when, actor),
    grantFailure: (reason: string, when: number, revoked = true) => decide('ReportGrantFailure', { reason, revoked }, when),
    disconnect: (when: number, actor: Actor = connectedBy) => decide('Disconnect', {}, when, actor),
    /** A verified webhook naming provider records, as the command side records it. */
    webhook: (externalIds: string[], when: number) =>
      decide('NoteWebhook', { externalIds, receivedAt: at(when) }, when, { type: 'system', id: `${provider}-webhook` }),
  };
}
