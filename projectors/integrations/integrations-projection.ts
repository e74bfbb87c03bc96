import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import { integrationEventTypes, MAX_OPEN_REJECTS, rejectKey, type IntegrationEvent, type SyncReject } from '../../domain/integrations/integration.ts';
import { normalizeMapping } from '../../domain/integrations/mappings.ts';
import { defaultMappings } from '../../domain/integrations/providers.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { IntegrationSyncRunViewSchema, IntegrationViewSchema, type IntegrationSyncRunView, type IntegrationView } from './integration-view.ts';

const runKey = (integrationId: string, runId: string) => `${integrationId}\n${runId}`;

/**
 * Integrations and their sync runs, from the integration streams. The row folds the events the way the
 * decider's evolve does (the same reject keys and cap, the same re-sync bookkeeping), adding when things
 * happened and who connected. The whole batch is loaded at once, changed in memory, and written by the unit
 * of work in the transaction that moves the checkpoint: exactly once.
 */
export const integrationsProjection: Projection = {
  name: 'integrations',
  eventTypes: new Set(integrationEventTypes),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const handled = events as RecordedEvent<IntegrationEvent>[];
    const ids = [...new Set(handled.map((event) => event.data.integrationId))];
    const rows = new Map<string, IntegrationView>(
      (await em.find(IntegrationViewSchema, { id: { $in: ids } }, { filters: false })).map((row) => [row.id, row]),
    );
    const runIds = [...new Set(handled.flatMap((event) => ('runId' in event.data && event.data.runId ? [event.data.runId] : [])))];
    const runs = new Map<string, IntegrationSyncRunView>(
      runIds.length === 0
        ? []
        : (await em.find(IntegrationSyncRunViewSchema, { integrationId: { $in: ids }, runId: { $in: runIds } }, { filters: false })).map((run) => [
            runKey(run.integrationId, run.runId),
            run,
          ]),
    );

    for (const event of handled) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'IntegrationConnected') {
        if (rows.has(event.data.integrationId)) throw new ProjectionError(`integration ${event.data.integrationId} already exists`);
        rows.set(event.data.integrationId, em.create(IntegrationViewSchema, connected(event, at)));
        continue;
      }
      const row = rows.get(event.data.integrationId);
      if (!row) throw new ProjectionError(`integration ${event.data.integrationId} is not in the read model`);
      const runOf = (runId: string) => {
        const run = runs.get(runKey(row.id, runId));
        if (!run) throw new ProjectionError(`sync run ${runId} of integration ${row.id} never started`);
        return run;
      };
      switch (event.type) {
        case 'IntegrationReconnected': {
          const { accountId, accountLabel, instanceUrl, grantedScopes, tokenExpiresAt } = event.data;
          Object.assign(row, { accountId, accountLabel, instanceUrl, grantedScopes: [...grantedScopes], tokenExpiresAt: new Date(tokenExpiresAt) });
          row.status = 'connected';
          row.grantFailure = null;
          row.reconnectedAt = at;
          break;
        }
        case 'IntegrationTokensRefreshed':
          row.tokenExpiresAt = new Date(event.data.tokenExpiresAt);
          break;
        case 'IntegrationNeedsReconnect':
          row.status = 'needs_reconnect';
          row.grantFailure = { reason: event.data.reason, revoked: event.data.revoked, at: at.toISOString() };
          break;
        case 'IntegrationDisconnected':
          row.status = 'disconnected';
          row.disconnectedAt = at;
          break;
        case 'IntegrationMappingsChanged': {
          const touched = [...event.data.changedFields.added, ...event.data.changedFields.changed];
          row.mappings = event.data.mappings.map(normalizeMapping);
          row.fieldsToResync = [...new Set([...row.fieldsToResync, ...touched])].sort();
          // A run that started before the change read with the old mapping: it does not cover the changed fields.
          if (row.run) row.run = { ...row.run, resyncCovered: row.run.resyncCovered.filter((field) => !touched.includes(field)) };
          break;
        }
        case 'IntegrationSyncSettingsChanged':
          row.settings = { ...row.settings, ...event.data.changes };
          break;
        case 'SyncStarted': {
          const { runId, kind, direction, from, resumed, fields } = event.data;
          if (runs.has(runKey(row.id, runId))) throw new ProjectionError(`sync run ${runId} of integration ${row.id} already started`);
          const resyncCovered =
            kind === 'incremental' ? [] : fields === null ? [...row.fieldsToResync] : row.fieldsToResync.filter((f) => fields.includes(f));
          row.run = {
            runId,
            kind,
            direction,
            resumed,
            fields: fields === null ? null : [...fields],
            startedAt: at.toISOString(),
            counts: null,
            cursors: null,
            checkpointedAt: null,
            resyncCovered,
          };
          const run = em.create(IntegrationSyncRunViewSchema, {
            integrationId: row.id,
            runId,
            organizationId: row.organizationId,
            kind,
            direction,
            resumed,
            fields: fields === null ? null : [...fields],
            from: { ...from },
            status: 'running',
            counts: null,
            cursors: null,
            checkpoints: 0,
            reason: null,
            retryable: null,
            startedAt: at,
            checkpointedAt: null,
            finishedAt: null,
          });
          runs.set(runKey(row.id, runId), run);
          break;
        }
        case 'SyncCheckpointed': {
          const { runId, cursors, counts } = event.data;
          const run = runOf(runId);
          Object.assign(run, { counts: { ...counts }, cursors: { ...cursors }, checkpoints: run.checkpoints + 1, checkpointedAt: at });
          if (row.run?.runId === runId) row.run = { ...row.run, counts: { ...counts }, cursors: { ...cursors }, checkpointedAt: at.toISOString() };
          break;
        }
        case 'SyncCompleted': {
          const { runId, kind, direction, cursors, counts } = event.data;
          const run = runOf(runId);
          Object.assign(run, { status: 'completed', counts: { ...counts }, cursors: { ...cursors }, finishedAt: at });
          const covered = row.run?.runId === runId ? row.run.resyncCovered : [];
          if (row.run?.runId === runId) row.run = null;
          row.cursors = { ...row.cursors, ...cursors };
          row.fieldsToResync = row.fieldsToResync.filter((field) => !covered.includes(field));
          row.lastRun = {
            runId,
            kind,
            direction,
            outcome: 'completed',
            reason: null,
            retryable: null,
            counts: { ...counts },
            startedAt: run.startedAt.toISOString(),
            finishedAt: at.toISOString(),
          };
          Object.assign(row, { lastSyncAt: at, lastSyncOutcome: 'completed', lastSyncError: null });
          break;
        }
        case 'SyncFailed': {
          const { runId, reason, retryable } = event.data;
          const run = runOf(runId);
          Object.assign(run, { status: 'failed', reason, retryable, finishedAt: at });
          if (row.run?.runId === runId) row.run = null;
          row.lastRun = {
            runId,
            kind: run.kind,
            direction: run.direction,
            outcome: 'failed',
            reason,
            retryable,
            counts: run.counts ? { ...run.counts } : null,
            startedAt: run.startedAt.toISOString(),
            finishedAt: at.toISOString(),
          };
          Object.assign(row, { lastSyncAt: at, lastSyncOutcome: 'failed', lastSyncError: reason });
          break;
        }
        case 'RecordsRejected':
          withRejects(row, event.data.rejects);
          break;
        case 'RejectsResolved': {
          const gone = new Set(event.data.refs.map(rejectKey));
          row.rejects = row.rejects.filter((reject) => !gone.has(rejectKey(reject)));
          if (event.data.overflowCleared) row.rejectsOverflow = 0;
          break;
        }
        case 'IntegrationWebhookReceived':
          row.lastWebhookAt = new Date(event.data.receivedAt);
          break;
        default: {
          const unknown: never = event;
          throw new ProjectionError(`unexpected event ${(unknown as RecordedEvent).type}`);
        }
      }
      row.openRejects = row.rejects.length + row.rejectsOverflow;
      row.updatedAt = at;
      row.revision = event.revision;
    }
  },
};

function connected(event: Extract<RecordedEvent<IntegrationEvent>, { type: 'IntegrationConnected' }>, at: Date): IntegrationView {
  const { integrationId, organizationId, provider, settings, accountId, accountLabel, instanceUrl, grantedScopes, tokenExpiresAt } = event.data;
  return {
    id: integrationId,
    organizationId,
    provider,
    status: 'connected',
    accountId,
    accountLabel,
    instanceUrl,
    grantedScopes: [...grantedScopes],
    tokenExpiresAt: new Date(tokenExpiresAt),
    grantFailure: null,
    connectedAt: at,
    connectedByType: event.metadata.actor.type,
    connectedById: event.metadata.actor.id,
    reconnectedAt: null,
    disconnectedAt: null,
    // What the integration syncs until its own mappings are set (the decider's state says the same).
    mappings: defaultMappings(provider),
    settings: { ...settings },
    run: null,
    lastRun: null,
    lastSyncAt: null,
    lastSyncOutcome: null,
    lastSyncError: null,
    cursors: {},
    rejects: [],
    rejectsOverflow: 0,
    openRejects: 0,
    fieldsToResync: [],
    lastWebhookAt: null,
    updatedAt: at,
    revision: event.revision,
  };
}

/** As the decider folds them: a reject already open takes its latest reason; new ones join while there is room. */
function withRejects(row: IntegrationView, incoming: SyncReject[]): void {
  const rejects = [...row.rejects];
  let overflow = row.rejectsOverflow;
  const index = new Map(rejects.map((reject, i) => [rejectKey(reject), i]));
  for (const reject of incoming) {
    const at = index.get(rejectKey(reject));
    if (at !== undefined) rejects[at] = { ...reject };
    else if (rejects.length < MAX_OPEN_REJECTS) index.set(rejectKey(reject), rejects.push({ ...reject }) - 1);
    else overflow += 1;
  }
  row.rejects = rejects;
  row.rejectsOverflow = overflow;
}
