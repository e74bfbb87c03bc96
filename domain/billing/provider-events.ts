import type { Decider } from '../decider.ts';
import type { DomainEvent } from '../events.ts';

/**
 * A payment-provider event (a Stripe webhook delivery, or one found by reconciliation), kept once applied: its
 * own stream `stripeevent-<eventId>`, so a redelivery finds it and records nothing, and the list of what was
 * received stays (Stripe's retries end after three days; what we applied is ours to show).
 */
export type ProviderEventReceived = DomainEvent<
  'ProviderEventReceived',
  { eventId: string; eventType: string; objectType: string; objectId: string; createdAt: string; organizationId: string | null }
>;

export type ReceiveProviderEvent = { type: 'ReceiveProviderEvent'; data: ProviderEventReceived['data'] };

export interface ReceivedProviderEvent {
  received: boolean;
  organizationId: string | null;
}

export const providerEventStream = (eventId: string) => `stripeevent-${eventId}`;

export const providerEventDecider: Decider<ReceiveProviderEvent, ReceivedProviderEvent, ProviderEventReceived> = {
  initialState: { received: false, organizationId: null },
  evolve: (_state, event) => ({ received: true, organizationId: event.data.organizationId }),
  decide: (command, state) => (state.received ? [] : [{ type: 'ProviderEventReceived', version: 1, data: command.data }]),
};
