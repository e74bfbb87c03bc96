import type { RecordedEvent } from '../../domain/events.ts';
import type { IntegrationEvent } from '../../domain/integrations/integration.ts';
import type { Projection } from '../runner/projection.ts';
import type { IntegrationEventBus, IntegrationMessage } from './integration-event-bus.ts';

const publishedTypes = [
  'IntegrationConnected',
  'IntegrationDisconnected',
  'SyncStarted',
  'SyncCheckpointed',
  'SyncCompleted',
  'SyncFailed',
  'IntegrationWebhookReceived',
] as const satisfies readonly IntegrationEvent['type'][];

type Published = Extract<IntegrationEvent, { type: (typeof publishedTypes)[number] }>;

/**
 * Our integration events → the events the Integration Service documents ("Events Published"), under the
 * seed's full names: integration.connected, integration.disconnected, integration.sync.started /
 * .completed / .failed and integration.data.received. Never a credentials reference.
 *
 * `integration.data.received` says records came in from the provider, from two sources:
 * - a verified webhook (`source: 'webhook'`): the provider's ids of the records it named; the sync fetches
 *   them afterwards (a webhook never writes data itself);
 * - a sync checkpoint that has read provider records (`source: 'sync'`: it carries an `in` cursor and a
 *   non-zero read count): the run's CUMULATIVE counts so far and how far it read. A checkpoint that only
 *   moved our side ('out') publishes nothing. Counts are cumulative because the checkpoint is; a consumer
 *   wanting the records of one checkpoint subtracts the previous message of the same run.
 * Reconnections, token refreshes and grant failures are not among the documented events and are not published.
 */
export function toCrmIntegrationMessage(event: RecordedEvent<Published>): IntegrationMessage | null {
  const base = {
    id: event.id,
    organizationId: event.metadata.tenantId ?? event.data.organizationId,
    occurredAt: event.metadata.occurredAt,
    correlationId: event.metadata.correlationId,
  };
  const integrationId = event.data.integrationId;
  switch (event.type) {
    case 'IntegrationConnected': {
      const { provider, accountId, accountLabel, instanceUrl, grantedScopes } = event.data;
      return { ...base, type: 'integration.connected', data: { integrationId, provider, accountId, accountLabel, instanceUrl, grantedScopes } };
    }
    case 'IntegrationDisconnected':
      return { ...base, type: 'integration.disconnected', data: { integrationId, provider: event.data.provider } };
    case 'SyncStarted': {
      const { runId, kind, direction, resumed } = event.data;
      return { ...base, type: 'integration.sync.started', data: { integrationId, runId, kind, direction, resumed } };
    }
    case 'SyncCompleted': {
      const { runId, kind, direction, counts } = event.data;
      return { ...base, type: 'integration.sync.completed', data: { integrationId, runId, kind, direction, counts } };
    }
    case 'SyncFailed': {
      const { runId, reason, retryable } = event.data;
      return { ...base, type: 'integration.sync.failed', data: { integrationId, runId, reason, retryable } };
    }
    case 'SyncCheckpointed': {
      const { runId, cursors, counts } = event.data;
      if (!cursors.in || counts.read === 0) return null;
      return { ...base, type: 'integration.data.received', data: { integrationId, source: 'sync', runId, counts, cursor: cursors.in } };
    }
    case 'IntegrationWebhookReceived': {
      const { provider, externalIds, receivedAt } = event.data;
      return { ...base, type: 'integration.data.received', data: { integrationId, source: 'webhook', provider, externalIds, receivedAt } };
    }
  }
}

/**
 * Publishes the CRM integrations' events as workflowEventsPublisher publishes the workflow ones: a batch is
 * confirmed by the broker before the checkpoint moves, so an outage leaves the checkpoint where it was and
 * publishing resumes from there (at least once; the message id is the event's id).
 */
export function crmEventsPublisher(bus: IntegrationEventBus): Projection {
  return {
    name: 'integration-events-crm',
    background: true,
    eventTypes: new Set(publishedTypes),
    async apply(events: RecordedEvent[]): Promise<void> {
      const messages = (events as RecordedEvent<Published>[]).map(toCrmIntegrationMessage).filter((m): m is IntegrationMessage => m !== null);
      if (messages.length > 0) await bus.publish(messages);
    },
  };
}
