import { z } from 'zod';
import { syncCountNames, type DirectionCursors, type SyncCounts } from '../../domain/integrations/integration.ts';
import { providerIds, providers, type ProviderId } from '../../domain/integrations/providers.ts';
import type { IntegrationSyncRunView, IntegrationView } from '../../projectors/integrations/integration-view.ts';

const statuses = ['connected', 'needs_reconnect', 'disconnected'] as const;
const kinds = ['initial', 'incremental', 'forced'] as const;
const directions = ['in', 'out', 'both'] as const;

export const countsSchema = z
  .object(Object.fromEntries(syncCountNames.map((name) => [name, z.number().int()])) as Record<keyof SyncCounts, z.ZodNumber>)
  .describe('Cumulative counts of the run: records read, created, updated, skipped, rejected, and conflicts decided');

const cursorSchema = z.object({ stamp: z.string().describe("The provider's (or our) modification stamp"), lastId: z.string() });
const cursorsSchema = z
  .object({ in: cursorSchema.nullable(), out: cursorSchema.nullable() })
  .describe("How far each side was read: 'in' the provider's records, 'out' our contacts");

const transformSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('trim') }),
  z.object({ kind: z.literal('lower') }),
  z.object({ kind: z.literal('date'), format: z.enum(['iso-date', 'iso-datetime', 'epoch-ms']) }),
  z.object({ kind: z.literal('picklist'), values: z.record(z.string(), z.string()).describe("Our value → the provider's") }),
]);

export const mappingSchema = z.object({
  ours: z.string().describe('Our contact field (`email`, `firstName`, …, or `customFields.<key>`)'),
  theirs: z.string().describe("The provider's field (API name)"),
  direction: z.enum(directions),
  transform: transformSchema.optional(),
  conflictPolicy: z.enum(['ours', 'theirs', 'most_recent']).optional().describe("Two-way mappings only; absent: the integration's default"),
});

export const settingsSchema = z.object({
  direction: z.enum(directions),
  deletePolicy: z.enum(['delete', 'archive', 'ignore']),
  conflictPolicy: z.enum(['ours', 'theirs', 'most_recent']),
  pollIntervalMinutes: z.number().int(),
  dailyApiBudget: z.number().int(),
});

const grantFailureSchema = z
  .object({ reason: z.string(), revoked: z.boolean(), at: z.string() })
  .nullable()
  .describe('Why syncing stopped (status needs_reconnect): reconnect the integration to resume');

const lastSyncSchema = z
  .object({
    runId: z.string(),
    kind: z.enum(kinds),
    direction: z.enum(directions),
    outcome: z.enum(['completed', 'failed']),
    reason: z.string().nullable().describe('Why it failed'),
    retryable: z.boolean().nullable().describe('Whether the next run of the same kind resumes from its last checkpoint'),
    counts: countsSchema.nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string(),
  })
  .nullable();

export const providerSchema = z.object({
  id: z.enum(providerIds),
  displayName: z.string(),
  beta: z.boolean(),
  configured: z.boolean().describe("Whether this deployment has the provider's OAuth app (connect answers 503 otherwise)"),
});

export const integrationSummarySchema = z.object({
  id: z.string(),
  provider: z.enum(providerIds),
  providerName: z.string(),
  status: z.enum(statuses),
  account: z.object({ id: z.string(), label: z.string() }),
  instanceUrl: z.string().nullable(),
  grantedScopes: z.array(z.string()),
  tokenExpiresAt: z.string(),
  grantFailure: grantFailureSchema,
  connectedAt: z.string(),
  connectedBy: z.object({ type: z.string(), id: z.string() }),
  disconnectedAt: z.string().nullable(),
  syncing: z.boolean(),
  lastSync: lastSyncSchema,
  openRejects: z.number().int().describe('Records the provider (or we) refused, still open'),
});

export const integrationStatusSchema = z.object({
  id: z.string(),
  provider: z.enum(providerIds),
  status: z.enum(statuses),
  grantFailure: grantFailureSchema,
  runInProgress: z
    .object({
      runId: z.string(),
      kind: z.enum(kinds),
      direction: z.enum(directions),
      resumed: z.boolean(),
      fields: z.array(z.string()).nullable().describe('The fields a forced run visits; null: all mapped fields'),
      startedAt: z.string(),
      lastCheckpointAt: z.string().nullable(),
      counts: countsSchema.nullable().describe('As of the last checkpoint'),
    })
    .nullable(),
  lastSync: lastSyncSchema,
  cursors: cursorsSchema,
  errors: z
    .array(z.object({ source: z.enum(['grant', 'sync']), message: z.string(), at: z.string() }))
    .describe('What stops or stopped syncing now: a refused grant, the last run failing'),
  rejects: z.object({
    open: z.number().int().describe('Every open reject, those not listed included'),
    items: z.array(
      z.object({
        direction: z.enum(['in', 'out']),
        externalId: z.string().nullable().describe("The provider's record id"),
        contactId: z.string().nullable().describe("Our contact's id"),
        reason: z.string(),
      }),
    ),
  }),
  fieldsToResync: z.array(z.string()).describe('Fields whose mapping changed since a full run last visited them'),
  lastWebhookAt: z.string().nullable(),
  nextPollDueAt: z
    .string()
    .nullable()
    .describe('When the poller is next due to start an incremental run (the last run plus the poll interval); null while not polling'),
  settings: settingsSchema,
});

export const mappingsAnswerSchema = z.object({
  integrationId: z.string(),
  provider: z.enum(providerIds),
  mappings: z.array(mappingSchema),
  defaultConflictPolicy: z.enum(['ours', 'theirs', 'most_recent']),
  fieldsToResync: z.array(z.string()),
});

export const runSchema = z.object({
  runId: z.string(),
  kind: z.enum(kinds),
  direction: z.enum(directions),
  resumed: z.boolean(),
  fields: z.array(z.string()).nullable(),
  status: z.enum(['running', 'completed', 'failed']),
  from: cursorsSchema,
  cursors: cursorsSchema.nullable(),
  counts: countsSchema.nullable(),
  checkpoints: z.number().int(),
  reason: z.string().nullable(),
  retryable: z.boolean().nullable(),
  startedAt: z.string(),
  lastCheckpointAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

const iso = (value: Date | null) => value?.toISOString() ?? null;
const cursorsOf = (cursors: DirectionCursors) => ({ in: cursors.in ?? null, out: cursors.out ?? null });

export function providerList(configured: readonly ProviderId[]): z.infer<typeof providerSchema>[] {
  return providerIds.map((id) => ({ id, displayName: providers[id].displayName, beta: providers[id].beta, configured: configured.includes(id) }));
}

export function toSummary(row: IntegrationView): z.infer<typeof integrationSummarySchema> {
  return {
    id: row.id,
    provider: row.provider,
    providerName: providers[row.provider]?.displayName ?? row.provider,
    status: row.status,
    account: { id: row.accountId, label: row.accountLabel },
    instanceUrl: row.instanceUrl,
    grantedScopes: row.grantedScopes,
    tokenExpiresAt: row.tokenExpiresAt.toISOString(),
    grantFailure: row.grantFailure,
    connectedAt: row.connectedAt.toISOString(),
    connectedBy: { type: row.connectedByType, id: row.connectedById },
    disconnectedAt: iso(row.disconnectedAt),
    syncing: row.run !== null,
    lastSync: row.lastRun,
    openRejects: row.openRejects,
  };
}

/**
 * When the poller is due next: an estimate the sync process may refine (it adds jitter, waits out quotas). Only
 * a connected integration with no run in progress polls; one never synced is due from its connection.
 */
export function nextPollDue(row: IntegrationView): Date | null {
  if (row.status !== 'connected' || row.run !== null) return null;
  if (row.lastSyncAt === null) return row.reconnectedAt ?? row.connectedAt;
  const due = new Date(row.lastSyncAt.getTime() + row.settings.pollIntervalMinutes * 60_000);
  return row.reconnectedAt && row.reconnectedAt > row.lastSyncAt ? row.reconnectedAt : due;
}

export function toStatus(row: IntegrationView): z.infer<typeof integrationStatusSchema> {
  const errors: z.infer<typeof integrationStatusSchema>['errors'] = [];
  if (row.status === 'needs_reconnect' && row.grantFailure)
    errors.push({ source: 'grant', message: row.grantFailure.reason, at: row.grantFailure.at });
  if (row.lastRun?.outcome === 'failed') errors.push({ source: 'sync', message: row.lastRun.reason ?? 'failed', at: row.lastRun.finishedAt });
  const run = row.run;
  return {
    id: row.id,
    provider: row.provider,
    status: row.status,
    grantFailure: row.grantFailure,
    runInProgress: run && {
      runId: run.runId,
      kind: run.kind,
      direction: run.direction,
      resumed: run.resumed,
      fields: run.fields,
      startedAt: run.startedAt,
      lastCheckpointAt: run.checkpointedAt,
      counts: run.counts,
    },
    lastSync: row.lastRun,
    cursors: cursorsOf(row.cursors),
    errors,
    rejects: { open: row.openRejects, items: row.rejects },
    fieldsToResync: row.fieldsToResync,
    lastWebhookAt: iso(row.lastWebhookAt),
    nextPollDueAt: iso(nextPollDue(row)),
    settings: row.settings,
  };
}

export function toMappings(row: IntegrationView): z.infer<typeof mappingsAnswerSchema> {
  return {
    integrationId: row.id,
    provider: row.provider,
    mappings: row.mappings,
    defaultConflictPolicy: row.settings.conflictPolicy,
    fieldsToResync: row.fieldsToResync,
  };
}

export function toRun(run: IntegrationSyncRunView): z.infer<typeof runSchema> {
  return {
    runId: run.runId,
    kind: run.kind,
    direction: run.direction,
    resumed: run.resumed,
    fields: run.fields,
    status: run.status,
    from: cursorsOf(run.from),
    cursors: run.cursors && cursorsOf(run.cursors),
    counts: run.counts,
    checkpoints: run.checkpoints,
    reason: run.reason,
    retryable: run.retryable,
    startedAt: run.startedAt.toISOString(),
    lastCheckpointAt: iso(run.checkpointedAt),
    finishedAt: iso(run.finishedAt),
  };
}
