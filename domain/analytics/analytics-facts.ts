import type { RecordedEvent } from '../events.ts';

/**
 * The usage metrics dashboards show. Each is a sum of `quantity` over facts carrying that metric; every
 * other event is tracked too (metric ''), for event counts and activity.
 */
export const metrics = [
  'executions',
  'executions_completed',
  'executions_failed',
  'emails_sent',
  'api_calls',
  'ai_tokens',
  'integration_syncs',
  'logins',
  'users_joined',
] as const;
export type Metric = (typeof metrics)[number];

/** One row of the analytics store per domain event of a tenant: what happened, who did it, what it counts for. */
export interface AnalyticsFact {
  eventId: string;
  tenantId: string;
  type: string;
  metric: Metric | '';
  /** ISO 8601 instant of the fact (the event's occurredAt). */
  occurredAt: string;
  actorType: string;
  actorId: string;
  /** The user a users_joined fact is about (for cohorts), else ''. */
  userId: string;
  workflowId: string;
  executionId: string;
  contactId: string;
  stepType: string;
  quantity: number;
}

type Counted = Pick<AnalyticsFact, 'metric' | 'quantity'> &
  Partial<Pick<AnalyticsFact, 'workflowId' | 'executionId' | 'contactId' | 'stepType' | 'userId'>>;

/** Steps that count for a metric. An AI step's tokens are counted from the AI service's AiTokensUsed (every call's, once). */
const stepMetrics: Record<string, Metric> = { send_email: 'emails_sent', crm_action: 'integration_syncs' };

/** What an event counts for, if anything beyond being tracked. */
function countedAs(event: RecordedEvent): Counted | null {
  const data = event.data as Record<string, unknown>;
  const str = (key: string) => (typeof data[key] === 'string' ? (data[key] as string) : '');
  switch (event.type) {
    case 'ExecutionStarted':
      return { metric: 'executions', quantity: 1, workflowId: str('workflowId'), executionId: str('executionId'), contactId: str('contactId') };
    case 'ExecutionCompleted':
      return { metric: 'executions_completed', quantity: 1, workflowId: str('workflowId'), executionId: str('executionId') };
    case 'ExecutionFailed':
      return { metric: 'executions_failed', quantity: 1, workflowId: str('workflowId'), executionId: str('executionId') };
    case 'StepCompleted': {
      const stepType = str('stepType');
      const metric = stepMetrics[stepType];
      const ids = { workflowId: str('workflowId'), executionId: str('executionId'), stepType };
      return { metric: metric ?? '', quantity: 1, ...ids };
    }
    case 'AiTokensUsed': {
      const tokens = Number(data.tokens ?? 0);
      return { metric: 'ai_tokens', quantity: Number.isFinite(tokens) && tokens > 0 ? Math.round(tokens) : 0 };
    }
    case 'ApiCallsCounted':
      return { metric: 'api_calls', quantity: Math.max(0, Math.round(Number(data.calls ?? 0))) };
    case 'SessionStarted':
      return { metric: 'logins', quantity: 1, userId: str('userId') };
    case 'OrganizationCreated':
      return { metric: 'users_joined', quantity: 1, userId: str('ownerUserId') };
    case 'MemberJoined':
      return { metric: 'users_joined', quantity: 1, userId: str('userId') };
    default:
      return null;
  }
}

/**
 * Claims on unique values (an email within an organization) are how the event store arbitrates uniqueness:
 * bookkeeping that comes with the real change (ContactCreated, …), not activity of their own.
 */
const bookkeeping = new Set(['ValueClaimed', 'ValueReleased']);

/** The analytics fact of an event; null for platform events that belong to no tenant, and for bookkeeping. */
export function analyticsFactOf(event: RecordedEvent): AnalyticsFact | null {
  const tenantId = event.metadata.tenantId;
  if (!tenantId || bookkeeping.has(event.type)) return null;
  const counted = countedAs(event);
  return {
    eventId: event.id,
    tenantId,
    type: event.type,
    metric: counted?.metric ?? '',
    occurredAt: event.metadata.occurredAt,
    actorType: event.metadata.actor.type,
    actorId: event.metadata.actor.id,
    userId: counted?.userId ?? (event.metadata.actor.type === 'user' ? event.metadata.actor.id : ''),
    workflowId: counted?.workflowId ?? '',
    executionId: counted?.executionId ?? '',
    contactId: counted?.contactId ?? '',
    stepType: counted?.stepType ?? '',
    quantity: counted?.quantity ?? 1,
  };
}

/** A fact as one row with snake_case columns (the analytics tables, the export); `occurred_at` as ISO 8601. */
export function analyticsRow(fact: AnalyticsFact) {
  return {
    event_id: fact.eventId,
    occurred_at: fact.occurredAt,
    type: fact.type,
    metric: fact.metric,
    quantity: fact.quantity,
    tenant_id: fact.tenantId,
    actor_type: fact.actorType,
    actor_id: fact.actorId,
    user_id: fact.userId,
    workflow_id: fact.workflowId,
    execution_id: fact.executionId,
    contact_id: fact.contactId,
    step_type: fact.stepType,
  };
}
