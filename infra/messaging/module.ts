import { ContainerModule, type interfaces } from 'inversify';
import type { Logger } from 'pino';
import type { IntegrationEventBus } from '../../projectors/integration-events/integration-event-bus.ts';
import type { Config } from '../config/config.ts';
import { Lifecycle } from '../di/lifecycle.ts';
import { TOKENS } from '../di/tokens.ts';
import type { Metrics } from '../observability/metrics.ts';
import { InProcessEventBus } from './in-process-event-bus.ts';
import { RabbitMqEventBus } from './rabbitmq-event-bus.ts';

const get = <T>(ctx: interfaces.Context, token: symbol) => ctx.container.getAsync<T>(token);

/** Integration events on RabbitMQ (RABBITMQ_URL), a topic exchange with publisher confirms. */
export const rabbitMqModule = new ContainerModule((bind) => {
  bind<IntegrationEventBus>(TOKENS.IntegrationEventBus).toDynamicValue(async (ctx) => {
    const [config, logger, lifecycle, metrics] = await Promise.all([
      get<Config>(ctx, TOKENS.Config),
      get<Logger>(ctx, TOKENS.Logger),
      get<Lifecycle>(ctx, TOKENS.Lifecycle),
      get<Metrics>(ctx, TOKENS.Metrics),
    ]);
    const bus = RabbitMqEventBus.create(config.RABBITMQ_URL!, logger.child({ component: 'rabbitmq' }), config.RABBITMQ_EXCHANGE, { metrics });
    lifecycle.onStop('rabbitmq', () => bus.close());
    return bus;
  });
});

/** The in-process bus: nothing leaves the process. */
export const inProcessBusModule = new ContainerModule((bind) => {
  bind<IntegrationEventBus>(TOKENS.IntegrationEventBus).toDynamicValue(async (ctx) => {
    const lifecycle = await get<Lifecycle>(ctx, TOKENS.Lifecycle);
    const bus = new InProcessEventBus();
    lifecycle.onStop('event bus', () => bus.close());
    return bus;
  });
});
