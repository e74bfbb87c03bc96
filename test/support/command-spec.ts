import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Container, type ContainerModule } from 'inversify';
import pino from 'pino';
import { commandCoreModule } from '../../command-api/module.ts';
import type { Actor, CommandContext, RecordedEvent } from '../../domain/events.ts';
import type { Config } from '../../infra/config/config.ts';
import { Lifecycle } from '../../infra/di/lifecycle.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { InMemoryEventStore } from '../../infra/eventstore/in-memory/in-memory-event-store.ts';

/**
 * Command services on the in-memory event store, for fast specs of the command side (no I/O, nothing to
 * start or drop):
 *
 *   const commands = commandSpec([contactServicesModule]);      // a fresh log per call
 *   const contacts = await commands.get<ContactCommands>(TOKENS.ContactCommands);
 *   await contacts.create(commands.context(organizationId), organizationId, { email: 'ada@example.com' });
 *   expect(await commands.events(contactStream(id))).to...
 *
 * The services are built through the same modules the processes load (commandCoreModule first, then the
 * capability's), in a container of the test's own; the only test bindings are what the adapters would give:
 * the event store (an InMemoryEventStore, which passes the PostgreSQL store's contract), a silent logger, the
 * lifecycle, and a configuration when a spec passes one.
 */
export function commandSpec(modules: readonly ContainerModule[], options: { config?: Config } = {}) {
  const store = new InMemoryEventStore();
  const logger = pino({ level: 'silent' });
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind(TOKENS.EventStore).toConstantValue(store);
  container.bind(TOKENS.Logger).toConstantValue(logger);
  container.bind(TOKENS.Lifecycle).toConstantValue(new Lifecycle(logger));
  if (options.config) container.bind(TOKENS.Config).toConstantValue(options.config);
  container.load(commandCoreModule, ...modules);
  return {
    /** The log the services append to. */
    store,
    /** A service of the modules, as the process's modules make it. */
    get: <T>(token: symbol): Promise<T> => container.getAsync<T>(token),
    /** What a request of `tenantId` carries into a command (a user of it by default), at `now`. */
    context(tenantId: string | null, actor: Actor = { type: 'user', id: randomUUID() }, now = new Date()): CommandContext {
      return { tenantId, actor, correlationId: randomUUID(), causationId: randomUUID(), now };
    },
    /** The events of one stream, oldest first. */
    events: (streamId: string): Promise<RecordedEvent[]> => store.readStream(streamId),
    /** The types of every event of the log, in log order. */
    async log(): Promise<string[]> {
      return (await store.readAll({ after: null, maxCount: 10_000 })).map((event) => event.type);
    },
  };
}

export type CommandSpec = ReturnType<typeof commandSpec>;

/** Resolves with the rejection of `promise` (fails if it resolves), for `expect(await rejection(...)).to.be.instanceOf(...)`. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the command to be refused, but it succeeded');
}
