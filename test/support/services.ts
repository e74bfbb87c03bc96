import type { ContainerModule } from 'inversify';
import pino from 'pino';
import type { Config } from '../../infra/config/config.ts';
import { createContainer } from '../../infra/di/container.ts';

export interface Services {
  get<T>(token: symbol): Promise<T>;
  all<T>(token: symbol): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * What a test needs beside a running system, built through the same modules over the same configuration
 * (its database, its Redis and key prefix): a container of the test's own, never the running process's.
 * Only for systems on a PostgreSQL server (an embedded database belongs to the process that opened it).
 */
export function openServices(system: { process: { config: Config } }, modules: ContainerModule[]): Services {
  const { container, lifecycle } = createContainer(system.process.config, pino({ level: 'silent' }), modules);
  return {
    get: (token) => container.getAsync(token),
    all: async (token) => (container.isBound(token) ? container.getAllAsync(token) : []),
    close: () => lifecycle.stop(),
  };
}

/** Opens services, hands them to `work`, closes them whatever happens. */
export async function withServices<T>(
  system: { process: { config: Config } },
  modules: ContainerModule[],
  work: (services: Services) => Promise<T>,
): Promise<T> {
  const services = openServices(system, modules);
  try {
    return await work(services);
  } finally {
    await services.close();
  }
}
