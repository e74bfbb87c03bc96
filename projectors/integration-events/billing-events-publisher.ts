import type { BillingAccountEvent } from '../../domain/billing/billing-account.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { Projection } from '../runner/projection.ts';
import type { IntegrationEventBus, IntegrationMessage } from './integration-event-bus.ts';

const publishedTypes = [
  'SubscriptionStarted',
  'SubscriptionChanged',
  'SubscriptionCanceled',
] as const satisfies readonly BillingAccountEvent['type'][];

type Published = Extract<BillingAccountEvent, { type: (typeof publishedTypes)[number] }>;

/**
 * The billing account's subscription facts → `subscription.changed` (issue 21 names it for the seed's Billing
 * Service), one message per fact with `change` saying which: `started` (the whole subscription), `changed`
 * (the fields that changed, their values before, and why) or `canceled`. Never a customer or payment method id.
 */
export function toBillingMessage(event: RecordedEvent<Published>): IntegrationMessage {
  const base = {
    id: event.id,
    type: 'subscription.changed',
    organizationId: event.metadata.tenantId ?? event.data.organizationId,
    occurredAt: event.metadata.occurredAt,
    correlationId: event.metadata.correlationId,
  };
  switch (event.type) {
    case 'SubscriptionStarted': {
      const { organizationId: _organizationId, ...subscription } = event.data;
      return { ...base, data: { change: 'started', ...subscription } };
    }
    case 'SubscriptionChanged': {
      const { subscriptionId, changes, previous, reason } = event.data;
      return { ...base, data: { change: 'changed', subscriptionId, changes, previous, reason } };
    }
    case 'SubscriptionCanceled': {
      const { subscriptionId, planId, canceledAt } = event.data;
      return { ...base, data: { change: 'canceled', subscriptionId, planId, canceledAt } };
    }
  }
}

/** Publishes `subscription.changed` as the other publishers do: confirmed by the broker before the checkpoint moves. */
export function billingEventsPublisher(bus: IntegrationEventBus): Projection {
  return {
    name: 'integration-events-billing',
    background: true,
    eventTypes: new Set(publishedTypes),
    async apply(events: RecordedEvent[]): Promise<void> {
      if (events.length > 0) await bus.publish((events as RecordedEvent<Published>[]).map(toBillingMessage));
    },
  };
}
