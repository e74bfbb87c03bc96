import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../domain/events.ts';
import { organizationEventTypes, organizationStream, type OrganizationEvent } from '../../domain/organizations/organization.ts';
import { executeBound, writeBound } from '../../infra/readmodels/orm.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import type { OrganizationView } from './organization-view.ts';

type Handled = OrganizationEvent | RecordedEvent<{ type: 'ContactCreated' | 'ContactDeleted' | 'UserRegistered'; version: number; data: unknown }>;

/**
 * Events of the organization's stream that change nothing the row shows: they move its revision only, which
 * must stay the stream's (it is the ETag that If-Match on the organization's commands is compared with).
 */
const revisionOnly = new Set<string>([
  'MemberInvited',
  'InvitationRevoked',
  'MemberJoined',
  'MemberRoleChanged',
  'MemberDeactivated',
  'MemberReactivated',
  'ImpersonationStarted',
]);

/** Events of other streams that move a count (most of what this projection sees: every contact created). */
const countsOnly = new Set<string>(['ContactCreated', 'ContactDeleted', 'UserRegistered']);

/** Organizations, with live contact and user counts (kept per event, so a double-apply would show), plan, trial and AI setting. */
export const organizationsProjection: Projection = {
  name: 'organizations',
  eventTypes: new Set([
    'OrganizationCreated',
    'OrganizationRenamed',
    'OrganizationSuspended',
    'OrganizationReactivated',
    'OrganizationPlanChanged',
    'TrialExtended',
    'AiSettingsChanged',
    'ContactCreated',
    'ContactDeleted',
    'UserRegistered',
    ...revisionOnly,
  ]),
  sqlOnly: true,

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    // Most of what this projection sees moves a count (every contact created): those batches are one UPDATE.
    if (events.every((event) => countsOnly.has(event.type))) return applyCounts(events, em);
    const ids = [...new Set(events.map(organizationOf))];
    const organizations = new Map<string, OrganizationView>((await loadOrganizations(em, ids)).map((row) => [row.id, row]));
    const changed = new Set<OrganizationView>();

    for (const event of events as RecordedEvent<Handled>[]) {
      if (event.type === 'OrganizationCreated') {
        const at = new Date(event.metadata.occurredAt);
        const { organizationId, name, ownerUserId, timezone, trialEndsAt } = (
          event as RecordedEvent<OrganizationEvent & { type: 'OrganizationCreated' }>
        ).data;
        if (organizations.has(organizationId)) throw new ProjectionError(`organization ${organizationId} already exists`);
        const view: OrganizationView = {
          id: organizationId,
          name,
          ownerUserId,
          timezone,
          status: 'active',
          contactCount: 0,
          planId: null,
          trialEndsAt: trialEndsAt ? new Date(trialEndsAt) : null,
          aiEnabled: true,
          userCount: 0,
          createdAt: at,
          updatedAt: at,
          revision: event.revision,
        };
        organizations.set(organizationId, view);
        changed.add(view);
        continue;
      }
      const id = organizationOf(event);
      const view = organizations.get(id);
      if (!view) throw new ProjectionError(`organization ${id} is not in the read model`);
      changed.add(view);
      switch (event.type) {
        case 'OrganizationRenamed':
          view.name = (event.data as { name: string }).name;
          break;
        case 'OrganizationSuspended':
        case 'OrganizationReactivated':
          view.status = event.type === 'OrganizationSuspended' ? 'suspended' : 'active';
          break;
        case 'OrganizationPlanChanged':
          view.planId = (event.data as { planId: string }).planId;
          break;
        case 'TrialExtended':
          view.trialEndsAt = new Date((event.data as { trialEndsAt: string }).trialEndsAt);
          break;
        case 'AiSettingsChanged':
          view.aiEnabled = (event.data as { enabled: boolean }).enabled;
          break;
        case 'ContactCreated':
          view.contactCount += 1;
          break;
        case 'ContactDeleted':
          view.contactCount -= 1;
          break;
        case 'UserRegistered':
          view.userCount += 1;
          break;
      }
      // A change of the organization's own stream (the counts come from other streams).
      if (!countsOnly.has(event.type) && event.streamId === organizationStream(id)) {
        view.revision = event.revision;
        if (!revisionOnly.has(event.type)) view.updatedAt = new Date(event.metadata.occurredAt);
      }
    }
    await saveOrganizations(em, [...changed]);
  },
};

/**
 * A batch of count changes only: each organization's change summed, applied in one statement. An
 * organization missing from the read model fails the batch, as an event about it would in the general path.
 */
async function applyCounts(events: RecordedEvent[], em: EntityManager): Promise<void> {
  const deltas = new Map<string, { id: string; contacts: number; users: number }>();
  for (const event of events) {
    const id = organizationOf(event);
    let delta = deltas.get(id);
    if (!delta) deltas.set(id, (delta = { id, contacts: 0, users: 0 }));
    if (event.type === 'ContactCreated') delta.contacts += 1;
    else if (event.type === 'ContactDeleted') delta.contacts -= 1;
    else delta.users += 1;
  }
  const updated = await executeBound<{ id: string }>(
    em,
    `UPDATE organizations o SET contact_count = o.contact_count + d.contacts, user_count = o.user_count + d.users
     FROM json_to_recordset(?::json) AS d(id uuid, contacts integer, users integer)
     WHERE o.id = d.id
     RETURNING o.id`,
    [JSON.stringify([...deltas.values()])],
  );
  if (updated.length < deltas.size) {
    const found = new Set(updated.map((row) => row.id));
    const missing = [...deltas.keys()].find((id) => !found.has(id));
    throw new ProjectionError(`organization ${missing} is not in the read model`);
  }
}

async function loadOrganizations(em: EntityManager, ids: string[]): Promise<OrganizationView[]> {
  type Stored = Omit<OrganizationView, 'trialEndsAt' | 'createdAt' | 'updatedAt'> & {
    trialEndsAt: string | null;
    createdAt: string;
    updatedAt: string;
  };
  // The ORM's connection hands timestamps back as text.
  const rows = await executeBound<Stored>(
    em,
    `SELECT id, name, owner_user_id AS "ownerUserId", timezone, status, contact_count AS "contactCount", plan_id AS "planId",
            trial_ends_at AS "trialEndsAt", ai_enabled AS "aiEnabled", user_count AS "userCount", created_at AS "createdAt", updated_at AS "updatedAt", revision
     FROM organizations WHERE id IN (SELECT value::uuid FROM json_array_elements_text(?::json))`,
    [JSON.stringify(ids)],
  );
  return rows.map((row) => ({
    ...row,
    trialEndsAt: row.trialEndsAt === null ? null : new Date(row.trialEndsAt),
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
  }));
}

/** The rows as they are now, new or changed, in one statement. */
async function saveOrganizations(em: EntityManager, rows: OrganizationView[]): Promise<void> {
  if (rows.length === 0) return;
  await writeBound(
    em,
    `INSERT INTO organizations (id, name, owner_user_id, timezone, status, contact_count, plan_id, trial_ends_at, ai_enabled, user_count, created_at,
                                updated_at, revision)
     SELECT id, name, owner_user_id, timezone, status, contact_count, plan_id, trial_ends_at, ai_enabled, user_count, created_at, updated_at, revision
     FROM json_to_recordset(?::json) AS r(id uuid, name text, owner_user_id uuid, timezone text, status text, contact_count integer, plan_id uuid,
          trial_ends_at timestamptz, ai_enabled boolean, user_count integer, created_at timestamptz, updated_at timestamptz, revision integer)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, owner_user_id = EXCLUDED.owner_user_id, timezone = EXCLUDED.timezone,
       status = EXCLUDED.status, contact_count = EXCLUDED.contact_count, plan_id = EXCLUDED.plan_id, trial_ends_at = EXCLUDED.trial_ends_at,
       ai_enabled = EXCLUDED.ai_enabled, user_count = EXCLUDED.user_count, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, revision = EXCLUDED.revision`,
    [
      JSON.stringify(
        rows.map((row) => ({
          id: row.id,
          name: row.name,
          owner_user_id: row.ownerUserId,
          timezone: row.timezone,
          status: row.status,
          contact_count: row.contactCount,
          plan_id: row.planId,
          trial_ends_at: row.trialEndsAt?.toISOString() ?? null,
          ai_enabled: row.aiEnabled,
          user_count: row.userCount,
          created_at: row.createdAt.toISOString(),
          updated_at: row.updatedAt.toISOString(),
          revision: row.revision,
        })),
      ),
    ],
  );
}

const ownTypes: ReadonlySet<string> = new Set(organizationEventTypes);

function organizationOf(event: RecordedEvent): string {
  if (ownTypes.has(event.type)) {
    return (event.data as { organizationId: string }).organizationId;
  }
  const tenantId = event.metadata.tenantId;
  if (!tenantId) throw new ProjectionError(`${event.type} ${event.id} has no tenant in its metadata`);
  return tenantId;
}
