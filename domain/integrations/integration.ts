import type { Decider } from '../decider.ts';
import { ConflictError, NotFoundError, RuleViolationError, ValidationError } from '../errors.ts';
import type { DomainEvent } from '../events.ts';
import { storableText, textProblem } from '../text.ts';
import type { SyncCursor } from './cursor.ts';
import {
  diffMappings,
  mappingShapeProblems,
  normalizeMapping,
  type ConflictPolicy,
  type FieldMapping,
  type MappingDiff,
  type MappingDirection,
} from './mappings.ts';
import { defaultMappings, isProviderId, providers, type ProviderId } from './providers.ts';
import { instantMs } from './values.ts';

/**
 * A CRM integration of one organization (stream `integration-<id>`): the grant (which provider account,
 * scopes, token expiry and a reference to the sealed credentials: the secret itself never enters an event),
 * the field mappings and sync settings, the sync runs with their cursors, and the records the provider
 * refused. One live integration per provider and organization is a claim (domain/uniqueness), taken by the
 * command side before Connect; this decider only knows its own stream.
 *
 * Lifecycle: connected ⇄ needs_reconnect (a grant failure stops syncing; Reconnect resumes) → disconnected
 * (terminal: every command but Disconnect is refused with `integration_disconnected`; connect again as a
 * new integration).
 */
export type IntegrationStatus = 'connected' | 'needs_reconnect' | 'disconnected';
export type SyncDirection = MappingDirection;
export type DeletePolicy = 'delete' | 'archive' | 'ignore';
export type SyncKind = 'initial' | 'incremental' | 'forced';
/** The side whose changes a cursor follows: 'in' the provider's records, 'out' our contacts. */
export type CursorSide = 'in' | 'out';
export type DirectionCursors = Partial<Record<CursorSide, SyncCursor>>;

export interface SyncSettings {
  /** What runs do unless told otherwise; a run may not go beyond it. */
  direction: SyncDirection;
  /** What a deletion on one side does on the other. */
  deletePolicy: DeletePolicy;
  /** The conflict policy of two-way mappings that name none. */
  conflictPolicy: ConflictPolicy;
  pollIntervalMinutes: number;
  /** Provider API calls the sync may spend per day (the provider's limit is shared with the customer's other tools). */
  dailyApiBudget: number;
}

export const defaultSyncSettings: SyncSettings = {
  direction: 'both',
  // Nothing is deleted or archived until someone chooses so: a mapping mistake must not wipe a CRM.
  deletePolicy: 'ignore',
  conflictPolicy: 'most_recent',
  pollIntervalMinutes: 15,
  dailyApiBudget: 10_000,
};

export const POLL_INTERVAL_BOUNDS = { min: 5, max: 1_440 } as const;
export const MAX_OPEN_REJECTS = 1_000;
export const MAX_REJECTS_PER_COMMAND = 1_000;
/** Record ids one webhook notice may name (providers batch up to a few hundred per delivery). */
export const MAX_WEBHOOK_IDS = 1_000;
const MAX_REASON_LENGTH = 1_000;
const MAX_SCOPES = 200;

export interface SyncCounts {
  read: number;
  created: number;
  updated: number;
  skipped: number;
  rejected: number;
  conflicts: number;
}
export const syncCountNames = ['read', 'created', 'updated', 'skipped', 'rejected', 'conflicts'] as const satisfies readonly (keyof SyncCounts)[];

/** What the provider granted: recorded at Connect and replaced at Reconnect. */
export interface Grant {
  /** The provider's id of the connected account (org, portal, company): a reconnect must not switch it. */
  accountId: string;
  /** How people recognise the account (its name or the user who connected it). */
  accountLabel: string;
  /** The account's API host where the provider has one per account (see providers.ts), else null. */
  instanceUrl: string | null;
  grantedScopes: string[];
  tokenExpiresAt: string;
  /** Where the sealed credentials are kept (a vault key), never the tokens themselves. */
  credentialsRef: string;
}

/** A record the provider (or we) refused in a sync; `reason` is the provider's message, made storable. */
export interface SyncReject {
  direction: CursorSide;
  /** The provider's record id; null for a record it refused to create. */
  externalId: string | null;
  /** Our contact's id; null for a provider record we could not create a contact from. */
  contactId: string | null;
  reason: string;
}
export type RejectRef = Omit<SyncReject, 'reason'>;

type Base = { organizationId: string; integrationId: string };

export type IntegrationConnected = DomainEvent<'IntegrationConnected', Base & { provider: ProviderId; settings: SyncSettings } & Grant>;
export type IntegrationReconnected = DomainEvent<'IntegrationReconnected', Base & Grant>;
export type IntegrationTokensRefreshed = DomainEvent<'IntegrationTokensRefreshed', Base & { tokenExpiresAt: string; credentialsRef: string }>;
export type IntegrationNeedsReconnect = DomainEvent<'IntegrationNeedsReconnect', Base & { reason: string; revoked: boolean }>;
/** Carries the credentials reference so the process that destroys sealed secrets knows which. */
export type IntegrationDisconnected = DomainEvent<'IntegrationDisconnected', Base & { provider: ProviderId; credentialsRef: string }>;
/** The full new list, and our fields it affects, so a re-sync visits only those. */
export type IntegrationMappingsChanged = DomainEvent<'IntegrationMappingsChanged', Base & { mappings: FieldMapping[]; changedFields: MappingDiff }>;
/** Only what changed. */
export type IntegrationSyncSettingsChanged = DomainEvent<'IntegrationSyncSettingsChanged', Base & { changes: Partial<SyncSettings> }>;
export type SyncStarted = DomainEvent<
  'SyncStarted',
  Base & {
    runId: string;
    kind: SyncKind;
    direction: SyncDirection;
    /** Where reading starts per side; an absent side reads everything. */
    from: DirectionCursors;
    /** Whether `from` is the last checkpoint of a failed run of the same kind and direction. */
    resumed: boolean;
    /** Our fields a forced run visits; null: all mapped fields. */
    fields: string[] | null;
  }
>;
/** Cumulative counts of the run so far and where it got to: the resume point after a crash. */
export type SyncCheckpointed = DomainEvent<'SyncCheckpointed', Base & { runId: string; cursors: DirectionCursors; counts: SyncCounts }>;
export type SyncCompleted = DomainEvent<
  'SyncCompleted',
  Base & { runId: string; kind: SyncKind; direction: SyncDirection; cursors: DirectionCursors; counts: SyncCounts }
>;
export type SyncFailed = DomainEvent<'SyncFailed', Base & { runId: string; reason: string; retryable: boolean }>;
export type RecordsRejected = DomainEvent<'RecordsRejected', Base & { runId: string | null; rejects: SyncReject[] }>;
/** `overflowCleared`: the rejects beyond the kept list are known resolved too (a clean full run). */
export type RejectsResolved = DomainEvent<'RejectsResolved', Base & { refs: RejectRef[]; overflowCleared: boolean }>;
/**
 * A provider's webhook (signature verified) named these records as changed: only their ids, which the sync
 * fetches itself (a forged or replayed body can never write data). Changes no state: webhooks get lost, so
 * polling runs regardless.
 */
export type IntegrationWebhookReceived = DomainEvent<
  'IntegrationWebhookReceived',
  Base & { provider: ProviderId; externalIds: string[]; receivedAt: string }
>;

export type IntegrationEvent =
  | IntegrationConnected
  | IntegrationReconnected
  | IntegrationTokensRefreshed
  | IntegrationNeedsReconnect
  | IntegrationDisconnected
  | IntegrationMappingsChanged
  | IntegrationSyncSettingsChanged
  | SyncStarted
  | SyncCheckpointed
  | SyncCompleted
  | SyncFailed
  | RecordsRejected
  | RejectsResolved
  | IntegrationWebhookReceived;

export const integrationEventTypes = [
  'IntegrationConnected',
  'IntegrationReconnected',
  'IntegrationTokensRefreshed',
  'IntegrationNeedsReconnect',
  'IntegrationDisconnected',
  'IntegrationMappingsChanged',
  'IntegrationSyncSettingsChanged',
  'SyncStarted',
  'SyncCheckpointed',
  'SyncCompleted',
  'SyncFailed',
  'RecordsRejected',
  'RejectsResolved',
  'IntegrationWebhookReceived',
] as const satisfies readonly IntegrationEvent['type'][];

export interface RunInProgress {
  runId: string;
  kind: SyncKind;
  direction: SyncDirection;
  from: DirectionCursors;
  fields: string[] | null;
  /** The fields waiting for a re-sync this run will have visited when it completes. */
  resyncCovered: string[];
  checkpoint: { cursors: DirectionCursors; counts: SyncCounts } | null;
}

export type LiveIntegration = Grant & {
  status: IntegrationStatus;
  id: string;
  organizationId: string;
  provider: ProviderId;
  /** Why syncing stopped, while status is needs_reconnect. */
  grantFailure: { reason: string; revoked: boolean } | null;
  mappings: FieldMapping[];
  settings: SyncSettings;
  /** The last completed cursor per side. */
  cursors: DirectionCursors;
  run: RunInProgress | null;
  /** The checkpoint of a run that failed and may be retried: the next run of the same kind and direction starts there. */
  resume: { kind: SyncKind; direction: SyncDirection; cursors: DirectionCursors } | null;
  lastRun: { runId: string; outcome: 'completed' | 'failed'; reason: string | null } | null;
  /** Our fields whose mapping changed since a full (initial or forced) run last visited them. */
  fieldsToResync: string[];
  /** The open rejects, oldest first, at most MAX_OPEN_REJECTS; `rejectsOverflow` counts those not kept. */
  rejects: SyncReject[];
  rejectsOverflow: number;
};

export type Integration = { status: 'absent' } | LiveIntegration;

export const integrationStream = (integrationId: string) => `integration-${integrationId}`;
export const initialIntegration: Integration = { status: 'absent' };

type Ids = { integrationId: string; organizationId: string };
type GrantInput = Omit<Grant, 'instanceUrl' | 'grantedScopes'> & { instanceUrl?: string | null; grantedScopes: string[] };

export type Connect = { type: 'Connect'; data: Ids & { provider: ProviderId } & GrantInput };
/** A new grant for the same account after a failure (or to change scopes): back to connected. */
export type Reconnect = { type: 'Reconnect'; data: Ids & GrantInput };
/** `credentialsRef`: the new sealed credentials when the provider rotated the refresh token. */
export type RefreshTokens = { type: 'RefreshTokens'; data: Ids & { tokenExpiresAt: string; credentialsRef?: string } };
export type ReportGrantFailure = { type: 'ReportGrantFailure'; data: Ids & { reason: string; revoked: boolean } };
export type Disconnect = { type: 'Disconnect'; data: Ids };
export type SetMappings = { type: 'SetMappings'; data: Ids & { mappings: FieldMapping[] } };
export type SetSyncSettings = { type: 'SetSyncSettings'; data: Ids & { settings: Partial<SyncSettings> } };
export type StartSync = { type: 'StartSync'; data: Ids & { runId: string; kind: SyncKind; direction: SyncDirection; fields?: string[] } };
export type RecordSyncProgress = { type: 'RecordSyncProgress'; data: Ids & { runId: string; cursors: DirectionCursors; counts: SyncCounts } };
export type CompleteSync = { type: 'CompleteSync'; data: Ids & { runId: string; cursors: DirectionCursors; counts: SyncCounts } };
export type FailSync = { type: 'FailSync'; data: Ids & { runId: string; reason: string; retryable: boolean } };
export type RecordRejects = { type: 'RecordRejects'; data: Ids & { runId?: string; rejects: SyncReject[] } };
export type ResolveRejects = { type: 'ResolveRejects'; data: Ids & { refs: RejectRef[] } };
/** A verified webhook delivery naming provider records that changed. */
export type NoteWebhook = { type: 'NoteWebhook'; data: Ids & { externalIds: string[]; receivedAt: string } };

export type IntegrationCommand =
  | Connect
  | Reconnect
  | RefreshTokens
  | ReportGrantFailure
  | Disconnect
  | SetMappings
  | SetSyncSettings
  | StartSync
  | RecordSyncProgress
  | CompleteSync
  | FailSync
  | RecordRejects
  | ResolveRejects
  | NoteWebhook;

// ---------------------------------------------------------------------------------------------------------
// evolve

export function evolveIntegration(state: Integration, event: IntegrationEvent): Integration {
  if (event.type === 'IntegrationConnected') return connected(event);
  if (state.status === 'absent') return state;
  switch (event.type) {
    case 'IntegrationReconnected': {
      const { organizationId: _o, integrationId: _i, ...grant } = event.data;
      return { ...state, ...grant, grantedScopes: [...grant.grantedScopes], status: 'connected', grantFailure: null };
    }
    case 'IntegrationTokensRefreshed':
      return { ...state, tokenExpiresAt: event.data.tokenExpiresAt, credentialsRef: event.data.credentialsRef };
    case 'IntegrationNeedsReconnect':
      return { ...state, status: 'needs_reconnect', grantFailure: { reason: event.data.reason, revoked: event.data.revoked } };
    case 'IntegrationDisconnected':
      return { ...state, status: 'disconnected' };
    case 'IntegrationMappingsChanged':
      return mappingsChanged(state, event.data);
    case 'IntegrationSyncSettingsChanged':
      return { ...state, settings: { ...state.settings, ...event.data.changes } };
    case 'SyncStarted':
      return syncStarted(state, event.data);
    case 'SyncCheckpointed':
      if (state.run?.runId !== event.data.runId) return state;
      return { ...state, run: { ...state.run, checkpoint: { cursors: { ...event.data.cursors }, counts: { ...event.data.counts } } } };
    case 'SyncCompleted':
      return syncCompleted(state, event.data);
    case 'SyncFailed':
      return syncFailed(state, event.data);
    case 'RecordsRejected':
      return rejected(state, event.data.rejects);
    case 'RejectsResolved': {
      const gone = new Set(event.data.refs.map(rejectKey));
      const rejects = state.rejects.filter((reject) => !gone.has(rejectKey(reject)));
      return { ...state, rejects, rejectsOverflow: event.data.overflowCleared ? 0 : state.rejectsOverflow };
    }
    case 'IntegrationWebhookReceived':
      return state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function connected(event: IntegrationConnected): LiveIntegration {
  const { organizationId, integrationId, provider, settings, ...grant } = event.data;
  return {
    status: 'connected',
    id: integrationId,
    organizationId,
    provider,
    ...grant,
    grantedScopes: [...grant.grantedScopes],
    grantFailure: null,
    // The standard fields, until someone maps their own: a later SetMappings re-syncs only what differs from them.
    mappings: defaultMappings(provider),
    settings: { ...settings },
    cursors: {},
    run: null,
    resume: null,
    lastRun: null,
    fieldsToResync: [],
    rejects: [],
    rejectsOverflow: 0,
  };
}

function mappingsChanged(state: LiveIntegration, data: IntegrationMappingsChanged['data']): LiveIntegration {
  const touched = [...data.changedFields.added, ...data.changedFields.changed];
  const fieldsToResync = [...new Set([...state.fieldsToResync, ...touched])].sort();
  // A run that started before the change read with the old mapping: it does not cover the changed fields.
  const run = state.run && { ...state.run, resyncCovered: state.run.resyncCovered.filter((field) => !touched.includes(field)) };
  return { ...state, mappings: data.mappings.map(normalizeMapping), fieldsToResync, run };
}

function syncStarted(state: LiveIntegration, data: SyncStarted['data']): LiveIntegration {
  const resyncCovered =
    data.kind === 'incremental'
      ? []
      : data.fields === null
        ? [...state.fieldsToResync]
        : state.fieldsToResync.filter((f) => data.fields!.includes(f));
  const run: RunInProgress = {
    runId: data.runId,
    kind: data.kind,
    direction: data.direction,
    from: { ...data.from },
    fields: data.fields === null ? null : [...data.fields],
    resyncCovered,
    checkpoint: null,
  };
  return { ...state, run, resume: null };
}

function syncCompleted(state: LiveIntegration, data: SyncCompleted['data']): LiveIntegration {
  const covered = state.run?.runId === data.runId ? state.run.resyncCovered : [];
  return {
    ...state,
    cursors: { ...state.cursors, ...data.cursors },
    run: state.run?.runId === data.runId ? null : state.run,
    lastRun: { runId: data.runId, outcome: 'completed', reason: null },
    fieldsToResync: state.fieldsToResync.filter((field) => !covered.includes(field)),
  };
}

function syncFailed(state: LiveIntegration, data: SyncFailed['data']): LiveIntegration {
  const run = state.run?.runId === data.runId ? state.run : null;
  const resume =
    run && data.retryable && run.checkpoint ? { kind: run.kind, direction: run.direction, cursors: { ...run.checkpoint.cursors } } : state.resume;
  return {
    ...state,
    run: run ? null : state.run,
    resume,
    lastRun: { runId: data.runId, outcome: 'failed', reason: data.reason },
  };
}

/** A reject already open is updated in place (its latest reason); new ones join while there is room. */
function rejected(state: LiveIntegration, incoming: SyncReject[]): LiveIntegration {
  const rejects = [...state.rejects];
  let rejectsOverflow = state.rejectsOverflow;
  const index = new Map(rejects.map((reject, i) => [rejectKey(reject), i]));
  for (const reject of incoming) {
    const at = index.get(rejectKey(reject));
    if (at !== undefined) rejects[at] = { ...reject };
    else if (rejects.length < MAX_OPEN_REJECTS) index.set(rejectKey(reject), rejects.push({ ...reject }) - 1);
    else rejectsOverflow += 1;
  }
  return { ...state, rejects, rejectsOverflow };
}

export function rejectKey(ref: RejectRef): string {
  return JSON.stringify([ref.direction, ref.externalId, ref.contactId]);
}

// ---------------------------------------------------------------------------------------------------------
// decide

export function decideIntegration(command: IntegrationCommand, state: Integration): IntegrationEvent[] {
  switch (command.type) {
    case 'Connect':
      return connect(command.data, state);
    case 'Reconnect':
      return reconnect(command.data, requireOpen(state, command.data));
    case 'RefreshTokens':
      return refreshTokens(command.data, requireConnected(state, command.data));
    case 'ReportGrantFailure':
      return reportGrantFailure(command.data, requireOpen(state, command.data));
    case 'Disconnect':
      return disconnect(requireOwn(state, command.data));
    case 'SetMappings':
      return setMappings(command.data, requireOpen(state, command.data));
    case 'SetSyncSettings':
      return setSyncSettings(command.data, requireOpen(state, command.data));
    case 'StartSync':
      return startSync(command.data, requireConnected(state, command.data));
    case 'RecordSyncProgress':
      return recordProgress(command.data, requireOpen(state, command.data));
    case 'CompleteSync':
      return completeSync(command.data, requireOpen(state, command.data));
    case 'FailSync':
      return failSync(command.data, requireOwn(state, command.data));
    case 'RecordRejects':
      return recordRejects(command.data, requireOpen(state, command.data));
    case 'ResolveRejects':
      return resolveRejects(command.data, requireOpen(state, command.data));
    case 'NoteWebhook':
      return noteWebhook(command.data, requireConnected(state, command.data));
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

/** Another organization's integration is reported exactly like a missing one, so ids never leak across tenants. */
function requireOwn(state: Integration, ids: Ids): LiveIntegration {
  if (state.status === 'absent' || state.id !== ids.integrationId || state.organizationId !== ids.organizationId)
    throw new NotFoundError('Integration');
  return state;
}

function requireOpen(state: Integration, ids: Ids): LiveIntegration {
  const integration = requireOwn(state, ids);
  if (integration.status === 'disconnected')
    throw new ConflictError('The integration is disconnected; connect the provider again as a new integration', 'integration_disconnected');
  return integration;
}

/** Calls to the provider need a working grant. */
function requireConnected(state: Integration, ids: Ids): LiveIntegration {
  const integration = requireOpen(state, ids);
  if (integration.status === 'needs_reconnect')
    throw new ConflictError('The provider refused the grant; reconnect the integration first', 'needs_reconnect');
  return integration;
}

const base = (integration: LiveIntegration): Base => ({ organizationId: integration.organizationId, integrationId: integration.id });

function connect(data: Connect['data'], state: Integration): IntegrationEvent[] {
  if (state.status === 'disconnected')
    throw new ConflictError('The integration is disconnected; connect the provider again as a new integration', 'integration_disconnected');
  if (state.status !== 'absent') throw new ConflictError('This integration is already connected; reconnect it instead', 'integration_exists');
  if (!isProviderId(data.provider)) throw new RuleViolationError(`Unknown provider ${String(data.provider)}`, 'unknown_provider', 'provider');
  const grant = checkGrant(data, data.provider);
  return [
    {
      type: 'IntegrationConnected',
      version: 1,
      data: {
        organizationId: data.organizationId,
        integrationId: data.integrationId,
        provider: data.provider,
        settings: { ...defaultSyncSettings },
        ...grant,
      },
    },
  ];
}

function reconnect(data: Reconnect['data'], integration: LiveIntegration): IntegrationEvent[] {
  const grant = checkGrant(data, integration.provider);
  if (grant.accountId !== integration.accountId)
    throw new ConflictError('The grant is for another provider account; connect that account as a new integration', 'account_mismatch', 'accountId');
  return [{ type: 'IntegrationReconnected', version: 1, data: { ...base(integration), ...grant } }];
}

function refreshTokens(data: RefreshTokens['data'], integration: LiveIntegration): IntegrationEvent[] {
  checkInstant(data.tokenExpiresAt, 'tokenExpiresAt');
  if (data.credentialsRef !== undefined) checkCredentialsRef(data.credentialsRef);
  const credentialsRef = data.credentialsRef ?? integration.credentialsRef;
  if (data.tokenExpiresAt === integration.tokenExpiresAt && credentialsRef === integration.credentialsRef) return [];
  return [{ type: 'IntegrationTokensRefreshed', version: 1, data: { ...base(integration), tokenExpiresAt: data.tokenExpiresAt, credentialsRef } }];
}

/** Syncing stops: a run in progress fails (retryable: it can resume from its checkpoint after a reconnect). */
function reportGrantFailure(data: ReportGrantFailure['data'], integration: LiveIntegration): IntegrationEvent[] {
  if (integration.status === 'needs_reconnect') return [];
  const reason = providerText(data.reason);
  const events: IntegrationEvent[] = [];
  if (integration.run)
    events.push({
      type: 'SyncFailed',
      version: 1,
      data: { ...base(integration), runId: integration.run.runId, reason: 'grant_failure', retryable: true },
    });
  events.push({ type: 'IntegrationNeedsReconnect', version: 1, data: { ...base(integration), reason, revoked: data.revoked === true } });
  return events;
}

function disconnect(integration: LiveIntegration): IntegrationEvent[] {
  if (integration.status === 'disconnected') return [];
  const events: IntegrationEvent[] = [];
  if (integration.run)
    events.push({
      type: 'SyncFailed',
      version: 1,
      data: { ...base(integration), runId: integration.run.runId, reason: 'disconnected', retryable: false },
    });
  events.push({
    type: 'IntegrationDisconnected',
    version: 1,
    data: { ...base(integration), provider: integration.provider, credentialsRef: integration.credentialsRef },
  });
  return events;
}

function setMappings(data: SetMappings['data'], integration: LiveIntegration): IntegrationEvent[] {
  if (!Array.isArray(data.mappings)) throw new ValidationError([{ name: 'mappings', reason: 'must be a list' }]);
  const problems = mappingShapeProblems(data.mappings);
  if (problems.length > 0) throw new ValidationError(problems.map(({ name, reason }) => ({ name, reason })));
  const mappings = data.mappings.map(normalizeMapping);
  const changedFields = diffMappings(integration.mappings, mappings);
  if (changedFields.added.length + changedFields.removed.length + changedFields.changed.length === 0) return [];
  return [{ type: 'IntegrationMappingsChanged', version: 1, data: { ...base(integration), mappings, changedFields } }];
}

function setSyncSettings(data: SetSyncSettings['data'], integration: LiveIntegration): IntegrationEvent[] {
  const wanted = data.settings;
  checkSettings(wanted);
  const changes: Partial<SyncSettings> = {};
  for (const name of Object.keys(defaultSyncSettings) as (keyof SyncSettings)[]) {
    const value = wanted[name];
    if (value !== undefined && value !== integration.settings[name]) (changes as Record<string, unknown>)[name] = value;
  }
  if (Object.keys(changes).length === 0) return [];
  return [{ type: 'IntegrationSyncSettingsChanged', version: 1, data: { ...base(integration), changes } }];
}

function startSync(data: StartSync['data'], integration: LiveIntegration): IntegrationEvent[] {
  checkId(data.runId, 'runId');
  // The same run started again (a process resuming after a crash): nothing new, it carries on from its checkpoint.
  if (integration.run?.runId === data.runId) return [];
  if (integration.run) throw new ConflictError(`Sync run ${integration.run.runId} is still in progress`, 'sync_in_progress');
  if (!['initial', 'incremental', 'forced'].includes(data.kind))
    throw new RuleViolationError('The kind must be initial, incremental or forced', 'invalid_kind', 'kind');
  if (!covers(integration.settings.direction, data.direction))
    throw new RuleViolationError(`This integration syncs ${integration.settings.direction} only`, 'direction_not_allowed', 'direction');
  const fields = data.fields === undefined ? null : checkFields(data.fields, data.kind);
  const resume = integration.resume;
  const resumed = resume !== null && resume.kind === data.kind && resume.direction === data.direction;
  // An incremental run reads from the last completed cursors; initial and forced runs read everything.
  const start = data.kind === 'incremental' ? pick(integration.cursors, data.direction) : {};
  const from = resumed ? { ...start, ...pick(resume.cursors, data.direction) } : start;
  return [
    {
      type: 'SyncStarted',
      version: 1,
      data: { ...base(integration), runId: data.runId, kind: data.kind, direction: data.direction, from, resumed, fields },
    },
  ];
}

function recordProgress(data: RecordSyncProgress['data'], integration: LiveIntegration): IntegrationEvent[] {
  const run = requireRun(integration, data.runId);
  const cursors = checkCursors(data.cursors, run.direction);
  const counts = checkCounts(data.counts);
  return [{ type: 'SyncCheckpointed', version: 1, data: { ...base(integration), runId: run.runId, cursors, counts } }];
}

/**
 * A run's end: its cursors become the completed ones (a side it did not move keeps where it started). A
 * clean full run (no rejects) of a side proves every earlier reject of that side resolved.
 */
function completeSync(data: CompleteSync['data'], integration: LiveIntegration): IntegrationEvent[] {
  if (integration.lastRun?.runId === data.runId && integration.lastRun.outcome === 'completed') return [];
  const run = requireRun(integration, data.runId);
  const counts = checkCounts(data.counts);
  const cursors = { ...run.from, ...(run.checkpoint?.cursors ?? {}), ...checkCursors(data.cursors, run.direction) };
  const events: IntegrationEvent[] = [
    {
      type: 'SyncCompleted',
      version: 1,
      data: { ...base(integration), runId: run.runId, kind: run.kind, direction: run.direction, cursors, counts },
    },
  ];
  if (run.kind !== 'incremental' && run.fields === null && counts.rejected === 0) {
    const refs = integration.rejects.filter((reject) => covers(run.direction, reject.direction)).map(refOf);
    const overflowCleared = run.direction === 'both' && integration.rejectsOverflow > 0;
    if (refs.length > 0 || overflowCleared)
      events.push({ type: 'RejectsResolved', version: 1, data: { ...base(integration), refs, overflowCleared } });
  }
  return events;
}

function failSync(data: FailSync['data'], integration: LiveIntegration): IntegrationEvent[] {
  if (integration.lastRun?.runId === data.runId) return [];
  const run = requireRun(integration, data.runId);
  return [
    {
      type: 'SyncFailed',
      version: 1,
      data: { ...base(integration), runId: run.runId, reason: providerText(data.reason), retryable: data.retryable === true },
    },
  ];
}

function recordRejects(data: RecordRejects['data'], integration: LiveIntegration): IntegrationEvent[] {
  if (data.runId !== undefined) checkId(data.runId, 'runId');
  if (!Array.isArray(data.rejects) || data.rejects.length > MAX_REJECTS_PER_COMMAND)
    throw new RuleViolationError(`Record 1 to ${MAX_REJECTS_PER_COMMAND} rejects at a time`, 'too_many_rejects', 'rejects');
  if (data.rejects.length === 0) return [];
  const rejects = data.rejects.map((reject, index) => ({ ...checkRef(reject, `rejects[${index}]`), reason: providerText(reject.reason) }));
  return [{ type: 'RecordsRejected', version: 1, data: { ...base(integration), runId: data.runId ?? null, rejects } }];
}

function resolveRejects(data: ResolveRejects['data'], integration: LiveIntegration): IntegrationEvent[] {
  const open = new Set(integration.rejects.map(rejectKey));
  const refs = data.refs.map((ref, index) => checkRef(ref, `refs[${index}]`)).filter((ref) => open.has(rejectKey(ref)));
  const unique = [...new Map(refs.map((ref) => [rejectKey(ref), ref])).values()];
  if (unique.length === 0) return [];
  return [{ type: 'RejectsResolved', version: 1, data: { ...base(integration), refs: unique, overflowCleared: false } }];
}

function noteWebhook(data: NoteWebhook['data'], integration: LiveIntegration): IntegrationEvent[] {
  if (!Array.isArray(data.externalIds) || data.externalIds.length === 0 || data.externalIds.length > MAX_WEBHOOK_IDS)
    throw new RuleViolationError(`A webhook names 1 to ${MAX_WEBHOOK_IDS} records`, 'invalid_external_ids', 'externalIds');
  const externalIds = [...new Set(data.externalIds.map((id, index) => checkId(id, `externalIds[${index}]`)))];
  const receivedAt = checkInstant(data.receivedAt, 'receivedAt');
  return [
    {
      type: 'IntegrationWebhookReceived',
      version: 1,
      data: { ...base(integration), provider: integration.provider, externalIds, receivedAt },
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------
// checks: the decider trusts no edge (the route, the sync process) to have checked

function requireRun(integration: LiveIntegration, runId: string): RunInProgress {
  if (integration.run?.runId !== runId) throw new ConflictError(`Sync run ${runId} is not in progress`, 'run_not_in_progress', 'runId');
  return integration.run;
}

/** Whether a run (or reject) in `inner` direction fits within `outer`. */
function covers(outer: SyncDirection, inner: SyncDirection): boolean {
  return outer === 'both' || outer === inner;
}

const sidesOf = (direction: SyncDirection): CursorSide[] => (direction === 'both' ? ['in', 'out'] : [direction]);

function pick(cursors: DirectionCursors, direction: SyncDirection): DirectionCursors {
  const picked: DirectionCursors = {};
  for (const side of sidesOf(direction)) if (cursors[side]) picked[side] = { ...cursors[side] };
  return picked;
}

const refOf = (reject: RejectRef): RejectRef => ({ direction: reject.direction, externalId: reject.externalId, contactId: reject.contactId });

/** Text a person or a client chose (a label, a scope, an id): refused when it breaks the text rule. */
function checkText(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > maxLength)
    throw new RuleViolationError(`${field} needs 1 to ${maxLength} characters`, 'invalid_text', field);
  const problem = textProblem(value, 'single-line');
  if (problem) throw new RuleViolationError(`${field} ${problem}`, 'invalid_text', field);
  return value;
}

const checkId = (value: unknown, field: string) => checkText(value, field, 255);

/** Text from the provider or the sync (an error message): kept, made storable and cut to length. */
function providerText(value: unknown): string {
  const text = typeof value === 'string' && value.trim() !== '' ? value.trim() : 'unknown';
  return storableText(text.slice(0, MAX_REASON_LENGTH));
}

function checkInstant(value: unknown, field: string): string {
  if (typeof value !== 'string' || instantMs(value) === null)
    throw new RuleViolationError(`${field} must be an ISO 8601 date and time with a zone`, 'invalid_timestamp', field);
  return value;
}

/** A reference to sealed credentials looks like a key, not like a token or JSON. */
const CREDENTIALS_REF = /^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,499}$/;

function checkCredentialsRef(value: unknown): string {
  if (typeof value !== 'string' || !CREDENTIALS_REF.test(value))
    throw new RuleViolationError(
      'credentialsRef must be a reference to sealed credentials (letters, digits and . _ : / # -)',
      'invalid_credentials_ref',
      'credentialsRef',
    );
  return value;
}

function checkGrant(data: GrantInput, provider: ProviderId): Grant {
  const accountId = checkId(data.accountId, 'accountId');
  const accountLabel = checkText(data.accountLabel, 'accountLabel', 200).trim();
  const instanceUrl = checkInstanceUrl(data.instanceUrl ?? null, provider);
  if (!Array.isArray(data.grantedScopes) || data.grantedScopes.length > MAX_SCOPES)
    throw new RuleViolationError(`grantedScopes holds at most ${MAX_SCOPES} scopes`, 'invalid_scopes', 'grantedScopes');
  const grantedScopes = [...new Set(data.grantedScopes.map((scope, index) => checkId(scope, `grantedScopes[${index}]`)))];
  const tokenExpiresAt = checkInstant(data.tokenExpiresAt, 'tokenExpiresAt');
  const credentialsRef = checkCredentialsRef(data.credentialsRef);
  return { accountId, accountLabel, instanceUrl, grantedScopes, tokenExpiresAt, credentialsRef };
}

/**
 * The account's API host: https (tokens travel to it), and only for providers that have one per account. Plain
 * http only to a loopback host: such a host never crosses a network, and the guarded outbound client reaches
 * it only where the operator opened loopback (OUTBOUND_ALLOW_CIDRS: tests, a developer's machine).
 */
function checkInstanceUrl(value: string | null, provider: ProviderId): string | null {
  if (providers[provider].instanceUrl === 'none') {
    if (value !== null)
      throw new RuleViolationError(`${providers[provider].displayName} has no per-account host`, 'unexpected_instance_url', 'instanceUrl');
    return null;
  }
  if (value === null)
    throw new RuleViolationError(`${providers[provider].displayName} needs the account's API host`, 'instance_url_required', 'instanceUrl');
  let url: URL | null = null;
  try {
    url = new URL(checkText(value, 'instanceUrl', 500));
  } catch (err) {
    if (err instanceof RuleViolationError) throw err;
  }
  const secure = url !== null && (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname)));
  if (!url || !secure || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
    throw new RuleViolationError(
      'instanceUrl must be an https URL (http only to a loopback host) without credentials, query or fragment',
      'invalid_instance_url',
      'instanceUrl',
    );
  return url.origin + url.pathname.replace(/\/+$/, '');
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

function checkSettings(settings: Partial<SyncSettings>): void {
  const oneOf = (field: keyof SyncSettings, allowed: readonly string[]) => {
    const value = settings[field];
    if (value !== undefined && !allowed.includes(value as string))
      throw new RuleViolationError(`${field} must be one of ${allowed.join(', ')}`, 'invalid_setting', field);
  };
  oneOf('direction', ['in', 'out', 'both']);
  oneOf('deletePolicy', ['delete', 'archive', 'ignore']);
  oneOf('conflictPolicy', ['ours', 'theirs', 'most_recent']);
  const { pollIntervalMinutes: poll, dailyApiBudget: budget } = settings;
  if (poll !== undefined && (!Number.isSafeInteger(poll) || poll < POLL_INTERVAL_BOUNDS.min || poll > POLL_INTERVAL_BOUNDS.max))
    throw new RuleViolationError(
      `pollIntervalMinutes must be a whole number from ${POLL_INTERVAL_BOUNDS.min} to ${POLL_INTERVAL_BOUNDS.max}`,
      'invalid_setting',
      'pollIntervalMinutes',
    );
  if (budget !== undefined && (!Number.isSafeInteger(budget) || budget < 1))
    throw new RuleViolationError('dailyApiBudget must be a positive whole number', 'invalid_setting', 'dailyApiBudget');
}

/** A forced run may target some of our fields (those a mapping change affects); other kinds visit all. */
function checkFields(fields: unknown, kind: SyncKind): string[] {
  if (kind !== 'forced') throw new RuleViolationError('Only a forced run targets fields', 'fields_not_allowed', 'fields');
  if (!Array.isArray(fields) || fields.length === 0 || fields.length > 500)
    throw new RuleViolationError('fields lists 1 to 500 of our fields', 'invalid_fields', 'fields');
  return [...new Set(fields.map((field, index) => checkId(field, `fields[${index}]`)))].sort();
}

function checkCursors(cursors: unknown, direction: SyncDirection): DirectionCursors {
  if (cursors === null || typeof cursors !== 'object') throw new RuleViolationError('cursors must be an object', 'invalid_cursor', 'cursors');
  const allowed = sidesOf(direction);
  const checked: DirectionCursors = {};
  for (const [side, cursor] of Object.entries(cursors) as [string, unknown][]) {
    if (cursor === undefined) continue;
    if (!allowed.includes(side as CursorSide))
      throw new RuleViolationError(`A run syncing ${direction} has no ${side} cursor`, 'invalid_cursor', `cursors.${side}`);
    const { stamp, lastId } = (cursor ?? {}) as Partial<SyncCursor>;
    checked[side as CursorSide] = { stamp: checkInstant(stamp, `cursors.${side}.stamp`), lastId: checkId(lastId, `cursors.${side}.lastId`) };
  }
  return checked;
}

function checkCounts(counts: unknown): SyncCounts {
  const given = (counts ?? {}) as Partial<Record<string, unknown>>;
  const checked = {} as SyncCounts;
  for (const name of syncCountNames) {
    const value = given[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
      throw new RuleViolationError(`counts.${name} must be a whole, non-negative number`, 'invalid_counts', `counts.${name}`);
    checked[name] = value;
  }
  return checked;
}

function checkRef(ref: RejectRef, at: string): RejectRef {
  if (ref.direction !== 'in' && ref.direction !== 'out')
    throw new RuleViolationError(`${at}.direction must be in or out`, 'invalid_reject', `${at}.direction`);
  if (ref.externalId === null && ref.contactId === null)
    throw new RuleViolationError(`${at} needs an externalId or a contactId`, 'invalid_reject', `${at}.externalId`);
  return {
    direction: ref.direction,
    externalId: ref.externalId === null ? null : checkId(ref.externalId, `${at}.externalId`),
    contactId: ref.contactId === null ? null : checkId(ref.contactId, `${at}.contactId`),
  };
}

export const integrationDecider: Decider<IntegrationCommand, Integration, IntegrationEvent> = {
  decide: decideIntegration,
  evolve: evolveIntegration,
  initialState: initialIntegration,
};
