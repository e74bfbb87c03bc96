/**
 * What a workflow is, as its author writes it: a trigger, settings, and steps that form a graph. Each step
 * names its type (one module in ./steps), its configuration, and where to go next: `next` for most steps,
 * `branches` for those that choose (a condition). The first step is where executions start.
 */
export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];

export const exitReasons = ['replied', 'bounced', 'unsubscribed', 'out_of_office'] as const;
export type ExitReason = (typeof exitReasons)[number];

export const contactEventTriggers = ['contact.created', 'contact.tag_added', 'contact.field_changed'] as const;
export type ContactEventTrigger = (typeof contactEventTriggers)[number];

export type Trigger =
  | { type: 'manual' }
  | {
      type: 'event';
      event: ContactEventTrigger;
      /** contact.tag_added: only this tag; contact.field_changed: only this field. */
      tag?: string;
      field?: string;
      /** Only contacts matching these conditions (same rules as a condition step). */
      filter?: ConditionSet;
    }
  | {
      type: 'schedule';
      /** Five-field cron (minute hour day-of-month month day-of-week), in `timezone`. */
      cron: string;
      /** IANA time zone the cron expression is read in (DST handled: wall-clock times are kept). */
      timezone: string;
      /** Every live contact with this tag gets an execution at each firing. */
      audienceTag: string;
      /** A contact whose previous scheduled execution still runs: skip it, queue it behind, or allow both. */
      overlap: 'skip' | 'queue' | 'allow';
      /** After downtime, firings missed by at most this much still happen (late); older ones are skipped. */
      catchUpWindowMinutes: number;
    };

export interface ConditionRule {
  /** A contact field (email, firstName, company, title, timezone...), `customFields.<key>`, or `tags`. */
  field: string;
  operator: 'equals' | 'not_equals' | 'contains' | 'not_contains' | 'exists' | 'not_exists' | 'greater_than' | 'less_than';
  value?: string | number | boolean;
}

export interface ConditionSet {
  match: 'all' | 'any';
  rules: ConditionRule[];
}

export interface SendWindow {
  days: Weekday[];
  /** HH:MM, in the contact's time zone (or the workflow's when the contact has none). */
  start: string;
  end: string;
}

export interface WorkflowSettings {
  /** Time zone for waits "until a time of day" and send windows when the contact has none. */
  timezone: string;
  /** Emails go out only inside this window; a send landing outside waits for the next opening. */
  sendWindow?: SendWindow;
  /** Engagement that ends (or pauses) a contact's execution. */
  exitOn: ExitReason[];
  exitAction: 'stop' | 'pause';
  /** The sending mailbox; throttles count per mailbox. */
  mailbox: string;
}

export interface RetryPolicy {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface StepDefinition {
  id: string;
  type: string;
  name?: string;
  config: Record<string, unknown>;
  /** The step after this one (null or absent: the execution ends here). */
  next?: string | null;
  /** For steps that choose: branch name → step (null: the execution ends). */
  branches?: Record<string, string | null>;
  retry?: Partial<RetryPolicy>;
}

export interface WorkflowDefinition {
  trigger: Trigger;
  settings: WorkflowSettings;
  steps: StepDefinition[];
}

export const defaultRetry: RetryPolicy = { maxAttempts: 3, initialDelayMs: 30_000, maxDelayMs: 60 * 60_000 };

export function retryPolicyOf(step: StepDefinition): RetryPolicy {
  return { ...defaultRetry, ...step.retry };
}

export function stepOf(definition: WorkflowDefinition, stepId: string): StepDefinition | undefined {
  return definition.steps.find((step) => step.id === stepId);
}
