/**
 * The event envelope shared by every capability. Events are past-tense facts; `version` is the schema
 * version of `data` for that type, so readers can upcast old shapes (see issue on upcasting).
 */
export type ActorType = 'user' | 'apiKey' | 'staff' | 'system' | 'anonymous';

export interface Actor {
  type: ActorType;
  id: string;
}

export interface EventMetadata {
  /** The organization (tenant) the fact belongs to; null only for platform-level streams. */
  tenantId: string | null;
  actor: Actor;
  /** Ties together everything caused by one request or one external trigger. */
  correlationId: string;
  /** The id of the command, request or event that directly caused this one. */
  causationId: string;
  /** When the decision was taken (ISO 8601, UTC). */
  occurredAt: string;
  ip?: string;
  userAgent?: string;
}

/** What a decider returns: a fact without storage details. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type;
  version: number;
  data: Data;
}

/**
 * A fact ready to append: it has its id and metadata but no place in the log yet. Distributes over a union
 * of events, so `switch (event.type)` narrows `data`.
 */
export type NewEvent<E extends DomainEvent = DomainEvent> = E extends DomainEvent
  ? { id: string; type: E['type']; version: number; data: E['data']; metadata: EventMetadata }
  : never;

/** A fact as read back from the store. */
export type RecordedEvent<E extends DomainEvent = DomainEvent> = E extends DomainEvent
  ? NewEvent<E> & {
      streamId: string;
      /** 0-based position of the event inside its stream. */
      revision: number;
      /** Opaque position in the global log; compare positions only with the store's comparator. */
      position: string;
      recordedAt: string;
    }
  : never;

/** What the command side needs to know about the caller and the request to stamp metadata. */
export interface CommandContext {
  tenantId: string | null;
  actor: Actor;
  correlationId: string;
  causationId: string;
  now: Date;
  ip?: string;
  userAgent?: string;
}

export function metadataFrom(ctx: CommandContext): EventMetadata {
  const metadata: EventMetadata = {
    tenantId: ctx.tenantId,
    actor: ctx.actor,
    correlationId: ctx.correlationId,
    causationId: ctx.causationId,
    occurredAt: ctx.now.toISOString(),
  };
  if (ctx.ip) metadata.ip = ctx.ip;
  if (ctx.userAgent) metadata.userAgent = ctx.userAgent;
  return metadata;
}
