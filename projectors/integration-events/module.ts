import { ContainerModule } from 'inversify';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { bindReactor } from '../module.ts';
import { billingEventsPublisher } from './billing-events-publisher.ts';
import { crmEventsPublisher } from './crm-events-publisher.ts';
import type { IntegrationEventBus } from './integration-event-bus.ts';
import { workflowEventsPublisher } from './workflow-events-publisher.ts';

/** The seed's integration events, published on the broker (RabbitMQ, or in process) at least once. */
export const integrationEventsModule = new ContainerModule((bind) => {
  bindReactor(bind, async (ctx) => workflowEventsPublisher(...(await deps<[IntegrationEventBus]>(ctx, TOKENS.IntegrationEventBus))));
  bindReactor(bind, async (ctx) => crmEventsPublisher(...(await deps<[IntegrationEventBus]>(ctx, TOKENS.IntegrationEventBus))));
  bindReactor(bind, async (ctx) => billingEventsPublisher(...(await deps<[IntegrationEventBus]>(ctx, TOKENS.IntegrationEventBus))));
});
