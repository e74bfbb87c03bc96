import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../../domain/events.ts';
import type { IntegrationEvent } from '../../../domain/integrations/integration.ts';
import { executeBound, writeBound } from '../../../infra/readmodels/orm.ts';
import type { Projection } from '../../runner/projection.ts';

/** The actor id of the sync's own writes into our contacts: its changes are not sent back to where they came from. */
export const syncActorId = (integrationId: string) => `crm-sync:${integrationId}`;

/** Webhook ids waiting for a fetch are capped: beyond that, the next incremental poll finds the changes anyway. */
const MAX_PENDING_FETCH = 10_000;

const integrationTypes = [
  'IntegrationConnected',
  'IntegrationReconnected',
  'IntegrationNeedsReconnect',
  'IntegrationDisconnected',
  'IntegrationSyncSettingsChanged',
  'IntegrationMappingsChanged',
  'SyncStarted',
  'SyncCompleted',
  'SyncFailed',
  'IntegrationWebhookReceived',
] as const;
const contactTypes = ['ContactCreated', 'ContactUpdated', 'ContactDeleted', 'ContactErased'] as const;

interface Watched {
  integrationId: string;
  organizationId: string;
  sendsOut: boolean;
}

/**
 * What the CRM sync worker has to do, from the log (tables: infra/readmodels/migrations/Migration20261204000030):
 * which integrations are connected, their run in progress, when each polls next, the ids webhooks named,
 * and our contacts changed since they last went out. It only ever moves an integration's due time EARLIER;
 * the worker sets it when it lets an integration go (so a trigger that arrives while it works is not lost:
 * its release looks at what is pending).
 */
export const crmSyncProjection: Projection = {
  name: 'crm-sync',
  eventTypes: new Set<string>([...integrationTypes, ...contactTypes]),
  sqlOnly: true,

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const organizations = [
      ...new Set(events.filter((e) => (contactTypes as readonly string[]).includes(e.type)).map((e) => e.metadata.tenantId!)),
    ].filter(Boolean);
    // Integrations that send our contacts' changes out, per organization (kept current through the batch).
    const watched = new Map<string, Watched[]>();
    if (organizations.length > 0) {
      const rows = await executeBound<{ integration_id: string; organization_id: string; direction: string }>(
        em,
        `SELECT integration_id, organization_id, direction FROM crm_sync_integrations WHERE organization_id = ANY(?::uuid[]) AND status = 'connected'`,
        [organizations],
      );
      for (const row of rows)
        watch(watched, { integrationId: row.integration_id, organizationId: row.organization_id, sendsOut: row.direction !== 'in' });
    }
    const outbound = new Map<string, { integrationId: string; contactId: string; organizationId: string; deleted: boolean; at: Date }>();
    const flushOutbound = async () => {
      if (outbound.size === 0) return;
      const rows = [...outbound.values()];
      outbound.clear();
      await writeBound(
        em,
        `INSERT INTO crm_sync_outbound (integration_id, contact_id, organization_id, deleted, changed_at)
         SELECT * FROM unnest(?::uuid[], ?::uuid[], ?::uuid[], ?::boolean[], ?::timestamptz[])
         ON CONFLICT (integration_id, contact_id) DO UPDATE
           SET deleted = crm_sync_outbound.deleted OR EXCLUDED.deleted, changed_at = GREATEST(crm_sync_outbound.changed_at, EXCLUDED.changed_at)`,
        [
          rows.map((r) => r.integrationId),
          rows.map((r) => r.contactId),
          rows.map((r) => r.organizationId),
          rows.map((r) => r.deleted),
          rows.map((r) => r.at),
        ],
      );
      const due = new Map<string, Date>();
      for (const row of rows) if (!due.has(row.integrationId) || due.get(row.integrationId)! < row.at) due.set(row.integrationId, row.at);
      await writeBound(
        em,
        `UPDATE crm_sync_integrations i SET due_at = LEAST(i.due_at, d.at)
           FROM unnest(?::uuid[], ?::timestamptz[]) AS d(id, at) WHERE i.integration_id = d.id`,
        [[...due.keys()], [...due.values()]],
      );
    };

    for (const event of events) {
      if ((contactTypes as readonly string[]).includes(event.type)) {
        const organizationId = event.metadata.tenantId;
        const contactId = (event.data as { contactId: string }).contactId;
        for (const integration of (organizationId && watched.get(organizationId)) || []) {
          // The sync's own write into this contact is not sent back to the CRM it came from.
          if (!integration.sendsOut || event.metadata.actor.id === syncActorId(integration.integrationId)) continue;
          const key = `${integration.integrationId}/${contactId}`;
          const deleted = event.type === 'ContactDeleted' || event.type === 'ContactErased' || outbound.get(key)?.deleted === true;
          const at = new Date(event.metadata.occurredAt);
          outbound.set(key, { integrationId: integration.integrationId, contactId, organizationId: organizationId!, deleted, at });
        }
        if (event.type === 'ContactErased') {
          // The merge base and echo ledger hold the person's values: an erased person's are wiped (the link stays,
          // so a deletion can still reach the CRM).
          await writeBound(em, `UPDATE crm_sync_links SET base = '{}', ledger = '{"in":{},"out":{}}' WHERE contact_id = ?`, [contactId]);
        }
        continue;
      }
      await flushOutbound();
      await applyIntegrationEvent(em, event as RecordedEvent<IntegrationEvent>, new Date(event.metadata.occurredAt), watched);
    }
    await flushOutbound();
  },
};

function watch(watched: Map<string, Watched[]>, integration: Watched): void {
  const list = (watched.get(integration.organizationId) ?? []).filter((w) => w.integrationId !== integration.integrationId);
  list.push(integration);
  watched.set(integration.organizationId, list);
}

function unwatch(watched: Map<string, Watched[]>, organizationId: string, integrationId: string): void {
  const list = watched.get(organizationId);
  if (list)
    watched.set(
      organizationId,
      list.filter((w) => w.integrationId !== integrationId),
    );
}

async function applyIntegrationEvent(
  em: EntityManager,
  event: RecordedEvent<IntegrationEvent>,
  at: Date,
  watched: Map<string, Watched[]>,
): Promise<void> {
  const { integrationId, organizationId } = event.data;
  switch (event.type) {
    case 'IntegrationConnected': {
      const { provider, settings } = event.data;
      await writeBound(
        em,
        `INSERT INTO crm_sync_integrations (integration_id, organization_id, provider, status, direction, poll_interval_minutes, next_poll_at, due_at)
         VALUES (?, ?, ?, 'connected', ?, ?, ?, ?)
         ON CONFLICT (integration_id) DO UPDATE SET status = 'connected', direction = EXCLUDED.direction,
           poll_interval_minutes = EXCLUDED.poll_interval_minutes`,
        [integrationId, organizationId, provider, settings.direction, settings.pollIntervalMinutes, at, at],
      );
      watch(watched, { integrationId, organizationId, sendsOut: settings.direction !== 'in' });
      return;
    }
    case 'IntegrationReconnected': {
      const rows = await executeBound<{ direction: string }>(
        em,
        `UPDATE crm_sync_integrations SET status = 'connected', paused_reason = NULL, due_at = LEAST(due_at, ?)
          WHERE integration_id = ? RETURNING direction`,
        [at, integrationId],
      );
      if (rows[0]) watch(watched, { integrationId, organizationId, sendsOut: rows[0].direction !== 'in' });
      return;
    }
    case 'IntegrationNeedsReconnect':
      await writeBound(em, `UPDATE crm_sync_integrations SET status = 'needs_reconnect', run_id = NULL WHERE integration_id = ?`, [integrationId]);
      unwatch(watched, organizationId, integrationId);
      return;
    case 'IntegrationDisconnected':
      await writeBound(em, `DELETE FROM crm_sync_outbound WHERE integration_id = ?`, [integrationId]);
      await writeBound(em, `DELETE FROM crm_sync_links WHERE integration_id = ?`, [integrationId]);
      await writeBound(em, `DELETE FROM crm_sync_integrations WHERE integration_id = ?`, [integrationId]);
      unwatch(watched, organizationId, integrationId);
      return;
    case 'IntegrationSyncSettingsChanged': {
      const { direction, pollIntervalMinutes } = event.data.changes;
      const rows = await executeBound<{ direction: string; status: string }>(
        em,
        `UPDATE crm_sync_integrations
            SET direction = COALESCE(?, direction),
                poll_interval_minutes = COALESCE(?::integer, poll_interval_minutes),
                next_poll_at = CASE WHEN ?::integer IS NULL THEN next_poll_at
                                    ELSE LEAST(next_poll_at, ?::timestamptz + make_interval(mins => ?::integer)) END
          WHERE integration_id = ? RETURNING direction, status`,
        [direction ?? null, pollIntervalMinutes ?? null, pollIntervalMinutes ?? null, at, pollIntervalMinutes ?? null, integrationId],
      );
      if (rows[0]?.status === 'connected') watch(watched, { integrationId, organizationId, sendsOut: rows[0].direction !== 'in' });
      return;
    }
    case 'IntegrationMappingsChanged':
      await writeBound(em, `UPDATE crm_sync_integrations SET due_at = LEAST(due_at, ?) WHERE integration_id = ?`, [at, integrationId]);
      return;
    case 'SyncStarted':
      await writeBound(em, `UPDATE crm_sync_integrations SET run_id = ?, due_at = LEAST(due_at, ?) WHERE integration_id = ?`, [
        event.data.runId,
        at,
        integrationId,
      ]);
      return;
    case 'SyncCompleted':
      await writeBound(
        em,
        `UPDATE crm_sync_integrations SET run_id = NULL, failures = 0,
                next_poll_at = ?::timestamptz + make_interval(mins => poll_interval_minutes)
          WHERE integration_id = ? AND run_id = ?`,
        [at, integrationId, event.data.runId],
      );
      return;
    case 'SyncFailed':
      // A failed run waits for the next poll (sooner after a first failure, later after each further one: at
      // most the poll interval); a retryable failure's next run resumes at its checkpoint (the decider's resume).
      await writeBound(
        em,
        `UPDATE crm_sync_integrations SET run_id = NULL, failures = failures + 1,
                next_poll_at = ?::timestamptz + LEAST(make_interval(mins => poll_interval_minutes), make_interval(secs => 30 * power(2, LEAST(failures, 10))))
          WHERE integration_id = ? AND run_id = ?`,
        [at, integrationId, event.data.runId],
      );
      return;
    case 'IntegrationWebhookReceived':
      await writeBound(
        em,
        `UPDATE crm_sync_integrations
            SET pending_fetch = (SELECT coalesce(array_agg(DISTINCT id), '{}') FROM (
                                   SELECT unnest(pending_fetch || ?::text[]) AS id LIMIT ${MAX_PENDING_FETCH}) ids),
                due_at = LEAST(due_at, ?)
          WHERE integration_id = ? AND status = 'connected'`,
        [event.data.externalIds, at, integrationId],
      );
      return;
    default:
      return;
  }
}
