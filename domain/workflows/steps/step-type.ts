import type { z } from 'zod';
import type { Contact, Engagement } from '../../contacts/contact.ts';
import { pickContactFields, type ContactFields } from '../../contacts/fields.ts';
import type { WorkflowSettings } from '../definition.ts';

/** The contact an execution runs for, as the runner read it from the contact's stream: its fields, tags and engagement. */
export interface ContactSnapshot extends ContactFields {
  id: string;
  tags: string[];
  /** Engagement that exit rules look at (when it last happened, or null). */
  engagement: Engagement;
}

/** The snapshot of a live contact (what steps, conditions and exit rules read). */
export function contactSnapshotOf(contact: Extract<Contact, { status: 'active' }>): ContactSnapshot {
  return { id: contact.id, ...pickContactFields(contact), tags: contact.tags, engagement: contact.engagement };
}

/**
 * What a step may do to the world. Each capability is a port: the runner hands implementations in, every
 * side effect carries the step's idempotency key so a retried or taken-over step never acts twice.
 */
export interface StepPorts {
  email: {
    send(message: { from: string; to: string; subject: string; text: string; idempotencyKey: string }): Promise<{ messageId: string }>;
  };
  http: {
    request(request: {
      method: string;
      url: string;
      headers: Record<string, string>;
      body?: string;
      timeoutMs: number;
      idempotencyKey: string;
    }): Promise<{ status: number; body: string }>;
  };
  contacts: {
    update(changes: Record<string, unknown>): Promise<void>;
    changeTags(tags: { add: string[]; remove: string[] }): Promise<void>;
  };
  ai: {
    /** Through the AI service: its limits apply, and its usage is the organization's (ai_compose_email). */
    composeEmail(request: {
      organizationId: string;
      executionId: string;
      contact: ContactSnapshot;
      instructions: string;
      idempotencyKey: string;
    }): Promise<{
      subject: string;
      text: string;
      model: string;
      tokens: number;
    }>;
  };
  crm: {
    /** Fails with CrmActionRefused when the organization has no connected integration of that provider (or it refused). */
    perform(request: {
      organizationId: string;
      provider: string;
      action: string;
      contact: ContactSnapshot;
      fields: Record<string, unknown>;
      idempotencyKey: string;
    }): Promise<{
      reference: string;
    }>;
  };
}

export interface StepContext {
  executionId: string;
  workflowId: string;
  organizationId: string;
  stepId: string;
  /** The same for every attempt of this visit of the step: side effects deduplicate on it. */
  idempotencyKey: string;
  now: Date;
  contact: ContactSnapshot;
  settings: WorkflowSettings;
  /** The contact's time zone, else the workflow's. */
  zone: string;
  ports: StepPorts;
}

export type StepOutcome =
  /** Done; `branch` for steps that choose. */
  | { kind: 'done'; output?: Record<string, unknown>; branch?: string }
  /** Done, and the execution sleeps until `until` before the next step. */
  | { kind: 'wait'; until: Date; output?: Record<string, unknown> };

/** A step that could not do its work. Retryable failures are tried again with backoff. */
export class StepError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code = retryable ? 'step_failed' : 'step_refused',
  ) {
    super(message);
    this.name = 'StepError';
  }
}

/**
 * One kind of step. Adding one is one module in this folder and one line in ./index.ts: its configuration
 * (validated when a workflow is saved), the branches it can take, and what running it does.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the registry holds every step type, each with its own config
export interface StepType<Config = any> {
  type: string;
  summary: string;
  config: z.ZodType<Config>;
  /** Branch names for steps that choose; absent: the step continues with `next`. */
  branches?: readonly string[];
  /** Sleeps: a cycle through this step is not an infinite loop. */
  waits?: boolean;
  /** Sends to the contact: subject to the send window, mailbox throttles and exit rules. */
  sends?: boolean;
  /**
   * Everything the step does is recorded in our own log (a change to the contact, or nothing at all): its
   * start, its changes and its outcome can be appended together, in one transaction, instead of its start
   * first and then the rest. It cannot half-happen, so it needs no idempotency key and no takeover.
   */
  logOnly?: boolean;
  /** Configuration fields rendered as templates (./templates.ts): each must compile when the workflow is saved. */
  templates?: readonly string[];
  /** Configuration fields that may span lines (bodies, instructions); every other string is single-line. */
  freeText?: readonly string[];
  run(config: Config, context: StepContext): Promise<StepOutcome>;
}

export function defineStep<Config>(step: StepType<Config>): StepType<Config> {
  return step;
}
