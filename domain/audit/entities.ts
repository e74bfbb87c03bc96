import { apiKeyDecider, apiKeyStream } from '../api-keys/api-key.ts';
import { contactDecider } from '../contacts/decide.ts';
import { contactStream } from '../contacts/contact.ts';
import type { Decider } from '../decider.ts';
import type { DomainEvent, RecordedEvent } from '../events.ts';
import { organizationDecider, organizationStream } from '../organizations/organization.ts';
import { planDecider, planStream } from '../plans/plan.ts';
import { sessionDecider, sessionStream } from '../sessions/session.ts';
import { staffMemberDecider, staffStream } from '../staff/staff-member.ts';
import { userDecider, userStream } from '../users/user.ts';
import { executionDecider, executionStream } from '../workflows/execution.ts';
import { workflowDecider, workflowStream } from '../workflows/workflow.ts';

type Fold = Pick<Decider<unknown, unknown, DomainEvent>, 'evolve' | 'initialState'>;

export interface AuditedEntity {
  /** The stream of the entity with this id. */
  stream(id: string): string;
  fold: Fold;
  /** Whether an organization's own members may replay it (platform-level entities are for operators). */
  tenantVisible: boolean;
}

const entity = (stream: (id: string) => string, decider: unknown, tenantVisible: boolean): AuditedEntity => ({
  stream,
  fold: decider as Fold,
  tenantVisible,
});

/** Every aggregate whose state can be replayed, by the type name used in URLs and on the command line. */
export const auditedEntities = {
  organization: entity(organizationStream, organizationDecider, true),
  user: entity(userStream, userDecider, true),
  contact: entity(contactStream, contactDecider, true),
  workflow: entity(workflowStream, workflowDecider, true),
  execution: entity(executionStream, executionDecider, true),
  apiKey: entity(apiKeyStream, apiKeyDecider, true),
  session: entity(sessionStream, sessionDecider, true),
  plan: entity(planStream, planDecider, false),
  staff: entity(staffStream, staffMemberDecider, false),
} as const satisfies Record<string, AuditedEntity>;

export type AuditedEntityType = keyof typeof auditedEntities;
export const auditedEntityTypes = Object.keys(auditedEntities) as AuditedEntityType[];

/** The entity a stream belongs to: `contact-<id>` is the contact <id>; null for streams that are no entity. */
export function entityOfStream(streamId: string): { type: string; id: string } | null {
  const dash = streamId.indexOf('-');
  if (dash <= 0) return null;
  return { type: streamId.slice(0, dash), id: streamId.slice(dash + 1) };
}

export function isAuditedEntityType(type: string): type is AuditedEntityType {
  return Object.hasOwn(auditedEntities, type);
}

/** One step of a replay: an event and the state it left the entity in. */
export interface ReplayStep {
  revision: number;
  position: string;
  type: string;
  version: number;
  occurredAt: string;
  actor: { type: string; id: string };
  state: unknown;
  /** What the event says, for records that explain a state rather than change it (a sync's conflict decision). */
  detail?: unknown;
}

/** Events that leave the state as it was but say why it is what it is: their data is shown with the step. */
const explanatoryEvents = new Set(['ContactFieldConflictResolved']);

/** Up to which event to fold: a moment (events that happened at or before it) or a log position. */
export type ReplayLimit = { at: Date } | { position: string; compare(a: string, b: string): number } | null;

function within(event: RecordedEvent, limit: ReplayLimit): boolean {
  if (!limit) return true;
  if ('at' in limit) return Date.parse(event.metadata.occurredAt) <= limit.at.getTime();
  return limit.compare(event.position, limit.position) <= 0;
}

/**
 * The entity's state after each of its events, up to the limit (events are in stream order, so the first
 * event past the limit ends the replay). Secrets in states are redacted.
 */
export function replay(fold: Fold, events: readonly RecordedEvent[], limit: ReplayLimit = null): ReplayStep[] {
  const steps: ReplayStep[] = [];
  let state = fold.initialState;
  for (const event of events) {
    if (!within(event, limit)) break;
    state = fold.evolve(state, event);
    steps.push({
      revision: event.revision,
      position: event.position,
      type: event.type,
      version: event.version,
      occurredAt: event.metadata.occurredAt,
      actor: event.metadata.actor,
      state: redactSecrets(state),
      ...(explanatoryEvents.has(event.type) ? { detail: redactSecrets(event.data) } : {}),
    });
  }
  return steps;
}

const SECRET_KEY = /hash|secret|sealed|token/i;

/** Secrets kept in events and states (hashes, sealed secrets) are not for auditors' eyes, even hashed. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, SECRET_KEY.test(key) && item !== null ? '[redacted]' : redactSecrets(item)]),
  );
}
