import type { EntityManager } from '@mikro-orm/postgresql';
import { DateTime, IANAZone } from 'luxon';
import type { ContactCreated, ContactDeleted, ContactErased } from '../../domain/contacts/contact.ts';
import { AI_TOKENS_USED, type AiTokensUsed } from '../../domain/ai/usage.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { OrganizationCreated } from '../../domain/organizations/lifecycle.ts';
import type { MemberDeactivated, MemberReactivated } from '../../domain/organizations/membership.ts';
import type { UserRegistered } from '../../domain/users/user.ts';
import type { ExecutionStarted } from '../../domain/workflows/execution.ts';
import type { WorkflowCreated, WorkflowDeleted, WorkflowPaused, WorkflowResumed } from '../../domain/workflows/workflow.ts';
import { COPY_FROM_ROWS, copyRows, executeBound, writeBound, pgArray } from '../../infra/readmodels/orm.ts';
import type { Projection } from '../runner/projection.ts';
import type { CounterMetric, GaugeMetric, Metric } from './metering-views.ts';

/** AI tokens consumed (domain/ai/usage.ts: the AI service records them, issue 22). */
export { AI_TOKENS_USED } from '../../domain/ai/usage.ts';

type Metered =
  | OrganizationCreated
  | ContactCreated
  | ContactDeleted
  | ContactErased
  | WorkflowCreated
  | WorkflowResumed
  | WorkflowPaused
  | WorkflowDeleted
  | UserRegistered
  | MemberReactivated
  | MemberDeactivated
  | ExecutionStarted
  | AiTokensUsed;

export const meteredEventTypes: readonly Metered['type'][] = [
  'OrganizationCreated',
  'ContactCreated',
  'ContactDeleted',
  'ContactErased',
  'WorkflowCreated',
  'WorkflowResumed',
  'WorkflowPaused',
  'WorkflowDeleted',
  'UserRegistered',
  'MemberReactivated',
  'MemberDeactivated',
  'ExecutionStarted',
  AI_TOKENS_USED,
];

/** A thing entering or leaving what a gauge counts; `organizationId` is known on entering only. */
type GaugeMove = { metric: GaugeMetric; entityId: string } & ({ enters: true; organizationId: string } | { enters: false });
type CounterAdd = { metric: CounterMetric; organizationId: string; quantity: number; at: string };

/** What one event does to the meters (nothing, for an organization's creation: it only gives the time zone). */
function effectOf(event: RecordedEvent<Metered>): GaugeMove | CounterAdd | null {
  switch (event.type) {
    case 'OrganizationCreated':
      return null;
    case 'ContactCreated':
      return { metric: 'contacts', entityId: event.data.contactId, enters: true, organizationId: event.data.organizationId };
    case 'ContactDeleted':
    case 'ContactErased':
      return { metric: 'contacts', entityId: event.data.contactId, enters: false };
    case 'WorkflowCreated':
    case 'WorkflowResumed':
      return { metric: 'active_workflows', entityId: event.data.workflowId, enters: true, organizationId: event.data.organizationId };
    case 'WorkflowPaused':
    case 'WorkflowDeleted':
      return { metric: 'active_workflows', entityId: event.data.workflowId, enters: false };
    case 'UserRegistered':
    case 'MemberReactivated':
      return { metric: 'seats', entityId: seatOf(event.data), enters: true, organizationId: event.data.organizationId };
    case 'MemberDeactivated':
      return { metric: 'seats', entityId: seatOf(event.data), enters: false };
    case 'ExecutionStarted':
      // The instant the execution says it started (what the executions read model shows), not when it was recorded.
      return { metric: 'executions', organizationId: event.data.organizationId, quantity: 1, at: event.data.startedAt };
    case AI_TOKENS_USED:
      return { metric: 'ai_tokens', organizationId: event.data.organizationId, quantity: event.data.tokens, at: event.metadata.occurredAt };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** A member's seat is per organization: the same person in two organizations takes a seat in each. */
const seatOf = (data: { organizationId: string; userId: string }) => `${data.organizationId}/${data.userId}`;

/**
 * Usage per organization, metric and day of the organization's calendar, counted from the log:
 * contacts (live), active workflows and seats (active members) as gauges, executions started and AI tokens as
 * counters (see metering-views.ts). Exact under the runner's guarantees: each batch is applied in the
 * transaction that moves the checkpoint, and events the checkpoint already covers are dropped, so a
 * redelivered batch adds nothing and a rebuild from an empty read model gives the same rows.
 *
 * Set-based per batch: one read of the gauge members the batch touches and of the time zones it needs, the
 * fold in memory, then at most four statements (time zones, members in, members out, day buckets), each
 * with the batch's rows as array parameters.
 */
export const meteringProjection: Projection = {
  name: 'metering',
  eventTypes: new Set(meteredEventTypes),
  sqlOnly: true,
  background: true,

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const batch = events as RecordedEvent<Metered>[];
    const zones = new Map<string, string>();
    for (const event of batch) {
      if (event.type === 'OrganizationCreated') zones.set(event.data.organizationId, zoneOrUtc(event.data.timezone));
    }
    const effects = batch.map((event) => ({ event, effect: effectOf(event) }));
    const moves = effects.filter((e): e is { event: RecordedEvent<Metered>; effect: GaugeMove } => e.effect !== null && 'enters' in e.effect);
    // A creation is its entity's first event: nothing stored can name it yet, so it is not looked up (in a
    // catch-up, most moves are new contacts; their lookup found nothing, at ~10 ms of the server's time a batch).
    const members = await loadMembers(
      em,
      moves.filter(({ event }) => !CREATIONS.has(event.type)).map(({ effect }) => effect),
    );
    const initial = new Map(members);

    const buckets = new Buckets();
    const pending: { organizationId: string; metric: Metric; quantity: number; at: string }[] = [];
    for (const { event, effect } of effects) {
      if (effect === null) continue;
      if (!('enters' in effect)) {
        pending.push(effect);
        continue;
      }
      const key = memberKey(effect.metric, effect.entityId);
      const member = members.get(key);
      // Only a real change moves the gauge: entering twice or leaving what never entered counts nothing.
      if (effect.enters === (member !== undefined)) continue;
      const organizationId = effect.enters ? effect.organizationId : member!;
      if (effect.enters) members.set(key, effect.organizationId);
      else members.delete(key);
      pending.push({ organizationId, metric: effect.metric, quantity: effect.enters ? 1 : -1, at: event.metadata.occurredAt });
    }

    await loadZones(
      em,
      zones,
      pending.map((p) => p.organizationId),
    );
    for (const p of pending) buckets.add(p.organizationId, p.metric, dayIn(zones.get(p.organizationId) ?? 'UTC', Date.parse(p.at)), p.quantity);

    await saveZones(em, batch, zones);
    await saveMembers(em, initial, members);
    await buckets.save(em);
  },
};

const memberKey = (metric: string, entityId: string) => `${metric}\n${entityId}`;

/** The events that start their entity's stream: the entity enters its gauge for the first time. */
const CREATIONS: ReadonlySet<string> = new Set<Metered['type']>(['ContactCreated', 'WorkflowCreated']);

/** A zone the runtime does not know buckets in UTC (as the usage route reads it) rather than parking the organization. */
function zoneOrUtc(zone: string): string {
  return IANAZone.isValidZone(zone) ? zone : 'UTC';
}

/** The stored gauge members among those the batch moves: key → organization. */
async function loadMembers(em: EntityManager, moves: GaugeMove[]): Promise<Map<string, string>> {
  const keys = [...new Map(moves.map((m) => [memberKey(m.metric, m.entityId), m])).values()];
  if (keys.length === 0) return new Map();
  const rows = await executeBound<{ metric: string; entity_id: string; organization_id: string }>(
    em,
    `SELECT m.metric, m.entity_id, m.organization_id FROM usage_gauge_members m
     JOIN unnest(?::text[], ?::text[]) AS k(metric, entity_id) ON m.metric = k.metric AND m.entity_id = k.entity_id`,
    [pgArray(keys.map((k) => k.metric)), pgArray(keys.map((k) => k.entityId))],
  );
  return new Map(rows.map((row) => [memberKey(row.metric, row.entity_id), row.organization_id]));
}

/** Adds the stored time zones of `organizationIds` not already in `zones`. */
async function loadZones(em: EntityManager, zones: Map<string, string>, organizationIds: string[]): Promise<void> {
  const missing = [...new Set(organizationIds)].filter((id) => !zones.has(id));
  if (missing.length === 0) return;
  const rows = await executeBound<{ organization_id: string; timezone: string }>(
    em,
    'SELECT organization_id, timezone FROM usage_organizations WHERE organization_id = ANY(?::uuid[])',
    [pgArray(missing)],
  );
  for (const row of rows) zones.set(row.organization_id, row.timezone);
}

async function saveZones(em: EntityManager, batch: RecordedEvent<Metered>[], zones: Map<string, string>): Promise<void> {
  const created = [...new Set(batch.filter((e) => e.type === 'OrganizationCreated').map((e) => e.data.organizationId))];
  if (created.length === 0) return;
  await writeBound(
    em,
    `INSERT INTO usage_organizations (organization_id, timezone) SELECT * FROM unnest(?::uuid[], ?::text[])
     ON CONFLICT (organization_id) DO NOTHING`,
    [pgArray(created), pgArray(created.map((id) => zones.get(id)!))],
  );
}

/** Members that entered in the batch are inserted, those that left deleted (entered and left again: neither). */
async function saveMembers(em: EntityManager, before: Map<string, string>, after: Map<string, string>): Promise<void> {
  const entered = [...after].filter(([key]) => !before.has(key));
  const left = [...before.keys()].filter((key) => !after.has(key));
  const split = (key: string): [string, string] => {
    const at = key.indexOf('\n');
    return [key.slice(0, at), key.slice(at + 1)];
  };
  if (left.length > 0) {
    await writeBound(
      em,
      `DELETE FROM usage_gauge_members m USING unnest(?::text[], ?::text[]) AS k(metric, entity_id)
       WHERE m.metric = k.metric AND m.entity_id = k.entity_id`,
      [pgArray(left.map((key) => split(key)[0])), pgArray(left.map((key) => split(key)[1]))],
    );
  }
  // Many new members (a catch-up, an import) go by COPY where the server takes it (see copyRows): those not
  // found by loadMembers are not there at the COPY either, since a batch this large holds the projection's
  // checkpoint row from its start (the runner's transactChecked).
  const copied =
    entered.length >= COPY_FROM_ROWS &&
    (await copyRows(
      em,
      'usage_gauge_members',
      ['metric', 'entity_id', 'organization_id'],
      entered.map(([key, organizationId]) => [...split(key), organizationId]),
    ));
  if (entered.length > 0 && !copied) {
    await writeBound(
      em,
      'INSERT INTO usage_gauge_members (metric, entity_id, organization_id) SELECT * FROM unnest(?::text[], ?::text[], ?::uuid[])',
      [pgArray(entered.map(([key]) => split(key)[0])), pgArray(entered.map(([key]) => split(key)[1])), pgArray(entered.map(([, org]) => org))],
    );
  }
}

/** The batch's changes summed per organization, metric and day, then added to the stored buckets in one statement. */
class Buckets {
  private readonly sums = new Map<string, { organizationId: string; metric: Metric; day: string; quantity: number }>();

  add(organizationId: string, metric: Metric, day: string, quantity: number): void {
    const key = `${organizationId}|${metric}|${day}`;
    const bucket = this.sums.get(key);
    if (bucket) bucket.quantity += quantity;
    else this.sums.set(key, { organizationId, metric, day, quantity });
  }

  async save(em: EntityManager): Promise<void> {
    const rows = [...this.sums.values()];
    if (rows.length === 0) return;
    // One row per key in the statement (summed above): ON CONFLICT may not meet the same row twice.
    await writeBound(
      em,
      `INSERT INTO usage_daily (organization_id, metric, day, quantity)
       SELECT * FROM unnest(?::uuid[], ?::text[], ?::date[], ?::bigint[])
       ON CONFLICT (organization_id, metric, day) DO UPDATE SET quantity = usage_daily.quantity + excluded.quantity`,
      [
        pgArray(rows.map((r) => r.organizationId)),
        pgArray(rows.map((r) => r.metric)),
        pgArray(rows.map((r) => r.day)),
        pgArray(rows.map((r) => String(r.quantity))),
      ],
    );
  }
}

const SLOT_MS = 15 * 60_000;
const days = new Map<string, string>();

/**
 * The day (`YYYY-MM-DD`) of `instantMs` in `zone`. Remembered per zone and quarter hour of UTC (every UTC
 * offset in use is a whole number of quarter hours, so a day starts on a quarter hour): a batch of thousands
 * of events asks the zone rules a few times. A quarter hour whose two ends fall on different days (a rule
 * that moves midnight oddly) is not remembered.
 */
export function dayIn(zone: string, instantMs: number): string {
  const slot = Math.floor(instantMs / SLOT_MS);
  const key = `${zone}|${slot}`;
  const known = days.get(key);
  if (known !== undefined) return known;
  const day = DateTime.fromMillis(instantMs, { zone }).toISODate()!;
  const first = DateTime.fromMillis(slot * SLOT_MS, { zone }).toISODate();
  const last = DateTime.fromMillis((slot + 1) * SLOT_MS - 1, { zone }).toISODate();
  if (first === day && last === day) {
    if (days.size > 100_000) days.clear();
    days.set(key, day);
  }
  return day;
}

/**
 * The days of `zone`'s calendar that belong to the period [start, end): those whose midnight falls within it.
 * Every day then belongs to exactly one period, and it is the period Stripe bills a meter event timestamped
 * at that midnight in (what the usage reporter sends). Answers [from, to) as `YYYY-MM-DD`.
 */
export function daysOfPeriod(zone: string, start: Date, end: Date): { from: string; to: string } {
  return { from: firstMidnightFrom(zone, start), to: firstMidnightFrom(zone, end) };
}

/** The day whose midnight is the first at or after `instant`. */
function firstMidnightFrom(zone: string, instant: Date): string {
  const local = DateTime.fromJSDate(instant, { zone });
  const midnight = local.startOf('day');
  return (midnight.toMillis() === instant.getTime() ? midnight : midnight.plus({ days: 1 })).toISODate()!;
}
