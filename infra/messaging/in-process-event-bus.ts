import type { IntegrationEventBus, IntegrationMessage } from '../../projectors/integration-events/integration-event-bus.ts';

/** Routing keys matched like a topic exchange: `*` one word, `#` any number of words. */
export function topicMatches(pattern: string, routingKey: string): boolean {
  const words = routingKey.split('.');
  const parts = pattern.split('.');
  const match = (i: number, j: number): boolean => {
    if (i === parts.length) return j === words.length;
    if (parts[i] === '#') return match(i + 1, j) || (j < words.length && match(i, j + 1));
    if (j === words.length) return false;
    return (parts[i] === '*' || parts[i] === words[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

/**
 * The embedded default's bus: subscribers in this process, matched like a topic exchange. Delivery is
 * synchronous with publishing, so "confirmed" means every subscriber has it.
 */
export class InProcessEventBus implements IntegrationEventBus {
  private readonly subscribers = new Set<{ pattern: string; handler: (message: IntegrationMessage) => void }>();

  subscribe(pattern: string, handler: (message: IntegrationMessage) => void): () => void {
    const subscriber = { pattern, handler };
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  async publish(messages: IntegrationMessage[]): Promise<void> {
    for (const message of messages) {
      for (const subscriber of this.subscribers) if (topicMatches(subscriber.pattern, message.type)) subscriber.handler(structuredClone(message));
    }
  }

  async close(): Promise<void> {
    this.subscribers.clear();
  }
}
