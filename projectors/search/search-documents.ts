import type { ContactEvent } from '../../domain/contacts/contact.ts';
import type { ContactFields } from '../../domain/contacts/fields.ts';
import { ERASED } from '../../domain/privacy/personal-data.ts';
export { ERASED };
import type { RecordedEvent } from '../../domain/events.ts';
import type { ExecutionEvent } from '../../domain/workflows/execution.ts';

/** The contact fields a contact's search document holds (of domain/contacts/fields.ts). */
export const searchedContactFields = ['email', 'firstName', 'lastName', 'company', 'title'] as const satisfies readonly (keyof ContactFields)[];
export type SearchedContactField = (typeof searchedContactFields)[number];

/**
 * What the search indexes hold: one document per contact and per workflow execution, folded from their
 * streams. `version` is the global-log position of the newest event folded in: a write carrying a lower or
 * equal version never replaces a document (a replayed or late batch cannot overwrite newer data), and a
 * deleted contact stays as a tombstone (`deleted`) for the same reason.
 */
export interface ContactDocument extends Pick<ContactFields, SearchedContactField> {
  id: string;
  tenantId: string;
  tags: string[];
  createdAt: string;
  updatedAt: string;
  deleted: boolean;
  version: number;
}

export type ExecutionStatus = 'running' | 'waiting' | 'paused' | 'completed' | 'failed' | 'cancelled' | 'exited';

export interface ExecutionDocument {
  id: string;
  tenantId: string;
  workflowId: string;
  workflowName: string | null;
  contactId: string;
  contactEmail: string | null;
  contactName: string | null;
  status: ExecutionStatus;
  cause: string;
  error: string | null;
  startedAt: string;
  endedAt: string | null;
  updatedAt: string;
  deleted: boolean;
  version: number;
}

export interface SearchDocuments {
  contacts: ContactDocument;
  executions: ExecutionDocument;
}
export type Collection = keyof SearchDocuments;

/**
 * A log position as a number that grows with it: the PostgreSQL store's positions are integers, EventStoreDB's
 * are "commit/prepare" where the commit position alone orders transactions.
 */
export function versionOf(position: string): number {
  const commit = position.split('/')[0]!;
  const version = Number(commit);
  if (!Number.isSafeInteger(version)) throw new Error(`position ${position} is not a safe integer version`);
  return version;
}

/** The contact document after `event`; null when the event cannot apply (no document yet). */
export function foldContact(doc: ContactDocument | null, event: RecordedEvent<ContactEvent>): ContactDocument | null {
  const at = event.metadata.occurredAt;
  const version = versionOf(event.position);
  if (event.type === 'ContactCreated') {
    const { contactId, organizationId, tags, email, firstName, lastName, company, title } = event.data;
    return {
      id: contactId,
      tenantId: organizationId,
      email,
      firstName: firstName ?? null,
      lastName: lastName ?? null,
      company: company ?? null,
      title: title ?? null,
      tags: [...tags],
      createdAt: at,
      updatedAt: at,
      deleted: false,
      version,
    };
  }
  if (!doc) return null;
  const next = { ...doc, updatedAt: at, version };
  switch (event.type) {
    case 'ContactUpdated': {
      const changes = event.data.changes;
      // A key present in the changes sets the field (null clears it); an absent key leaves it as it was.
      const field = <K extends 'firstName' | 'lastName' | 'company' | 'title'>(key: K) => (key in changes ? (changes[key] ?? null) : doc[key]);
      return {
        ...next,
        email: changes.email ?? doc.email,
        firstName: field('firstName'),
        lastName: field('lastName'),
        company: field('company'),
        title: field('title'),
      };
    }
    case 'ContactTagged':
      return { ...next, tags: doc.tags.includes(event.data.tag) ? doc.tags : [...doc.tags, event.data.tag] };
    case 'ContactUntagged':
      return { ...next, tags: doc.tags.filter((tag) => tag !== event.data.tag) };
    case 'ContactDeleted':
      return { ...next, deleted: true };
    case 'ContactErased':
      // The tombstone keeps no trace of the person.
      return { ...next, email: ERASED, firstName: null, lastName: null, company: null, title: null, deleted: true };
    default:
      return { ...doc, version };
  }
}

export interface ExecutionContext {
  workflowName: string | null;
  contact: { email: string; name: string | null } | null;
}

export const executionSearchEventTypes = [
  'ExecutionStarted',
  'StepStarted',
  'StepCompleted',
  'StepFailed',
  'ExecutionWaiting',
  'ExecutionPaused',
  'ExecutionResumed',
  'ExecutionCancelled',
  'ExecutionCompleted',
  'ExecutionFailed',
  'ExecutionExited',
] as const;

/** The execution document after `event`; `context` supplies the names shown with it (at start). */
export function foldExecution(
  doc: ExecutionDocument | null,
  event: RecordedEvent<ExecutionEvent>,
  context: ExecutionContext,
): ExecutionDocument | null {
  const at = event.metadata.occurredAt;
  const version = versionOf(event.position);
  if (event.type === 'ExecutionStarted') {
    const data = event.data;
    return {
      id: data.executionId,
      tenantId: data.organizationId,
      workflowId: data.workflowId,
      workflowName: context.workflowName,
      contactId: data.contactId,
      contactEmail: context.contact?.email ?? null,
      contactName: context.contact?.name ?? null,
      status: data.queuedBehind ? 'waiting' : 'running',
      cause: data.cause.type,
      error: null,
      startedAt: data.startedAt,
      endedAt: null,
      updatedAt: at,
      deleted: false,
      version,
    };
  }
  if (!doc) return null;
  const next = { ...doc, updatedAt: at, version };
  switch (event.type) {
    case 'StepStarted':
    case 'ExecutionResumed':
      return { ...next, status: 'running' };
    case 'StepCompleted':
      // Recorded with its start: the step ran (as StepStarted says); a completion alone changes nothing here.
      return event.data.started ? { ...next, status: 'running' } : { ...doc, version };
    case 'ExecutionWaiting':
      return { ...next, status: 'waiting' };
    case 'StepFailed':
      return { ...next, error: `${event.data.error.code}: ${event.data.error.message}` };
    case 'ExecutionPaused':
      return { ...next, status: 'paused' };
    case 'ExecutionCancelled':
      return { ...next, status: 'cancelled', endedAt: event.data.cancelledAt };
    case 'ExecutionCompleted':
      return { ...next, status: 'completed', endedAt: event.data.completedAt };
    case 'ExecutionFailed':
      return { ...next, status: 'failed', endedAt: event.data.failedAt, error: `${event.data.error.code}: ${event.data.error.message}` };
    case 'ExecutionExited':
      return { ...next, status: 'exited', endedAt: event.data.exitedAt };
    default:
      return { ...doc, version };
  }
}

export function contactName(doc: Pick<ContactDocument, 'firstName' | 'lastName'>): string | null {
  const name = [doc.firstName, doc.lastName].filter(Boolean).join(' ');
  return name || null;
}
