/**
 * Integration events: the facts other systems may subscribe to, published on a topic exchange under their
 * names (workflow.created, workflow.execution.completed...). Delivery is at least once; `id` (the AMQP
 * message id) is the id of the event in our log, so a consumer drops a duplicate by remembering ids.
 */
export interface IntegrationMessage {
  id: string;
  /** Routing key and name, e.g. workflow.step.completed. */
  type: string;
  organizationId: string;
  occurredAt: string;
  correlationId: string;
  data: Record<string, unknown>;
}

export interface IntegrationEventBus {
  /**
   * Resolves once the broker confirmed every message (publisher confirms); rejects with
   * DependencyUnavailableError when it cannot be reached, so the caller retries later from its checkpoint.
   */
  publish(messages: IntegrationMessage[]): Promise<void>;
  close(): Promise<void>;
}
