import { randomUUID } from 'node:crypto';
import type { EventMetadata, NewEvent } from '../../domain/events.ts';

export function testMetadata(overrides: Partial<EventMetadata> = {}): EventMetadata {
  return {
    tenantId: 'tenant-test',
    actor: { type: 'system', id: 'test' },
    correlationId: randomUUID(),
    causationId: randomUUID(),
    occurredAt: new Date().toISOString(),
    ...overrides,
  };
}

export function testEvent(type = 'SomethingHappened', data: Record<string, unknown> = {}, metadata?: Partial<EventMetadata>): NewEvent {
  return { id: randomUUID(), type, version: 1, data, metadata: testMetadata(metadata) } as NewEvent;
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs` (a liveness bound, not a speed check). */
export async function eventually<T>(probe: () => Promise<T> | T, predicate: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (predicate(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms; last value: ${JSON.stringify(value)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
