import { EntitySchema } from '@mikro-orm/core';
import type {
  DirectionCursors,
  IntegrationStatus,
  SyncCounts,
  SyncDirection,
  SyncKind,
  SyncReject,
  SyncSettings,
} from '../../domain/integrations/integration.ts';
import type { FieldMapping } from '../../domain/integrations/mappings.ts';
import type { ProviderId } from '../../domain/integrations/providers.ts';
import { tenantFilter } from '../tenant-scope.ts';

/** The run in progress as the status screen shows it; `resyncCovered` is the projection's own bookkeeping. */
export interface RunInProgressView {
  runId: string;
  kind: SyncKind;
  direction: SyncDirection;
  resumed: boolean;
  fields: string[] | null;
  startedAt: string;
  /** The last checkpoint's cumulative counts (null before the first checkpoint). */
  counts: SyncCounts | null;
  cursors: DirectionCursors | null;
  checkpointedAt: string | null;
  /** The fields waiting for a re-sync this run covers when it completes (as the decider folds it). */
  resyncCovered: string[];
}

/** The last run that ended. Counts are the completion's, or a failed run's last checkpoint's. */
export interface LastRunView {
  runId: string;
  kind: SyncKind;
  direction: SyncDirection;
  outcome: 'completed' | 'failed';
  reason: string | null;
  retryable: boolean | null;
  counts: SyncCounts | null;
  startedAt: string | null;
  finishedAt: string;
}

/**
 * A CRM integration of an organization as its admins (and staff) see it: the grant (never the credentials
 * reference), mappings and settings, the run in progress, the last run, cursors and the open rejects. The
 * scalar `lastSync*` and `openRejects` columns repeat parts of the JSON ones for lists and filters.
 */
export interface IntegrationView {
  id: string;
  organizationId: string;
  provider: ProviderId;
  status: IntegrationStatus;
  accountId: string;
  accountLabel: string;
  instanceUrl: string | null;
  grantedScopes: string[];
  tokenExpiresAt: Date;
  grantFailure: { reason: string; revoked: boolean; at: string } | null;
  connectedAt: Date;
  connectedByType: string;
  connectedById: string;
  reconnectedAt: Date | null;
  disconnectedAt: Date | null;
  mappings: FieldMapping[];
  settings: SyncSettings;
  run: RunInProgressView | null;
  lastRun: LastRunView | null;
  lastSyncAt: Date | null;
  lastSyncOutcome: 'completed' | 'failed' | null;
  lastSyncError: string | null;
  /** The last completed cursor per side. */
  cursors: DirectionCursors;
  /** The open rejects kept (oldest first, at most MAX_OPEN_REJECTS) and how many more are open. */
  rejects: SyncReject[];
  rejectsOverflow: number;
  openRejects: number;
  fieldsToResync: string[];
  lastWebhookAt: Date | null;
  updatedAt: Date;
  revision: number;
}

export const IntegrationViewSchema = new EntitySchema<IntegrationView>({
  name: 'IntegrationView',
  tableName: 'integrations',
  properties: {
    id: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    provider: { type: 'text' },
    status: { type: 'text' },
    accountId: { type: 'text' },
    accountLabel: { type: 'text' },
    instanceUrl: { type: 'text', nullable: true },
    grantedScopes: { type: 'text[]' },
    tokenExpiresAt: { type: 'datetime', columnType: 'timestamptz' },
    grantFailure: { type: 'json', nullable: true },
    connectedAt: { type: 'datetime', columnType: 'timestamptz' },
    connectedByType: { type: 'text' },
    connectedById: { type: 'text' },
    reconnectedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    disconnectedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    mappings: { type: 'json' },
    settings: { type: 'json' },
    run: { type: 'json', nullable: true },
    lastRun: { type: 'json', nullable: true },
    lastSyncAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    lastSyncOutcome: { type: 'text', nullable: true },
    lastSyncError: { type: 'text', nullable: true },
    cursors: { type: 'json' },
    rejects: { type: 'json' },
    rejectsOverflow: { type: 'integer' },
    openRejects: { type: 'integer' },
    fieldsToResync: { type: 'text[]' },
    lastWebhookAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
  filters: tenantFilter(),
});

/** One sync run of an integration, from its start to its end. */
export interface IntegrationSyncRunView {
  integrationId: string;
  runId: string;
  organizationId: string;
  kind: SyncKind;
  direction: SyncDirection;
  resumed: boolean;
  fields: string[] | null;
  /** Where reading started per side. */
  from: DirectionCursors;
  status: 'running' | 'completed' | 'failed';
  /** Cumulative: the latest checkpoint's, then the completion's. */
  counts: SyncCounts | null;
  cursors: DirectionCursors | null;
  checkpoints: number;
  reason: string | null;
  retryable: boolean | null;
  startedAt: Date;
  checkpointedAt: Date | null;
  finishedAt: Date | null;
}

export const IntegrationSyncRunViewSchema = new EntitySchema<IntegrationSyncRunView>({
  name: 'IntegrationSyncRunView',
  tableName: 'integration_sync_runs',
  properties: {
    integrationId: { type: 'uuid', primary: true },
    runId: { type: 'text', primary: true },
    organizationId: { type: 'uuid' },
    kind: { type: 'text' },
    direction: { type: 'text' },
    resumed: { type: 'boolean' },
    fields: { type: 'text[]', nullable: true },
    from: { type: 'json', fieldName: 'from_cursors' },
    status: { type: 'text' },
    counts: { type: 'json', nullable: true },
    cursors: { type: 'json', nullable: true },
    checkpoints: { type: 'integer' },
    reason: { type: 'text', nullable: true },
    retryable: { type: 'boolean', nullable: true },
    startedAt: { type: 'datetime', columnType: 'timestamptz' },
    checkpointedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    finishedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
  filters: tenantFilter(),
});
