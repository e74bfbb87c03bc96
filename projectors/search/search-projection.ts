import type { EntityManager } from '@mikro-orm/postgresql';
import { contactEventTypes, type ContactEvent } from '../../domain/contacts/contact.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { ExecutionEvent } from '../../domain/workflows/execution.ts';
import { DependencyUnavailableError } from '../../infra/resilience.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import type { ReadModelProgress } from '../workflows/reactors.ts';
import { ExecutionViewSchema, WorkflowViewSchema } from '../workflows/workflow-views.ts';
import type { SearchIndexWriter } from './ports.ts';
import {
  contactName,
  ERASED,
  executionSearchEventTypes,
  versionOf,
  foldContact,
  foldExecution,
  type ContactDocument,
  type ExecutionDocument,
} from './search-documents.ts';

const contactTypes = new Set<string>(contactEventTypes);

/**
 * Keeps the search index's contact and execution documents. It writes to another store than the checkpoint
 * (Elasticsearch, or tables the index adapter owns), so it runs like a reactor: the checkpoint moves after
 * the index accepted the batch, and a crash in between re-sends documents the index's version guard ignores.
 *
 * An execution is shown with its workflow's name and its contact's name and email as they were when it
 * started: the contact from this index (same log order), the workflow from the workflows read model, which
 * is awaited up to the event first.
 */
export function searchProjection(index: SearchIndexWriter, progress: ReadModelProgress, name = 'search'): Projection {
  return {
    name,
    eventTypes: new Set<string>([...contactEventTypes, ...executionSearchEventTypes]),
    reactor: true,
    background: true,

    async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
      const contactEvents = events.filter((event) => contactTypes.has(event.type)) as RecordedEvent<ContactEvent>[];
      const executionEvents = events.filter((event) => !contactTypes.has(event.type)) as RecordedEvent<ExecutionEvent>[];
      // Documents these events change, and the contacts new executions are shown with: loaded once per batch.
      const starts = executionEvents.filter((event) => event.type === 'ExecutionStarted');

      const contactIds = new Set(contactEvents.map((event) => event.data.contactId));
      for (const start of starts) contactIds.add((start.data as { contactId: string }).contactId);
      const contacts = await index.get('contacts', [...contactIds]);
      const changedContacts = new Map<string, ContactDocument>();
      const executions = await index.get('executions', [...new Set(executionEvents.map((event) => event.data.executionId))]);
      const changedExecutions = new Map<string, ExecutionDocument>();

      let workflowNames = new Map<string, string>();
      if (starts.length > 0) {
        const last = starts[starts.length - 1]!;
        if (!(await progress.waitFor(['workflows'], last.position, 10_000))) {
          throw new DependencyUnavailableError('read model workflows', `not at ${last.position} yet`);
        }
        const ids = [...new Set(starts.map((event) => (event.data as { workflowId: string }).workflowId))];
        const rows = await em.find(WorkflowViewSchema, { id: { $in: ids } }, { filters: false, fields: ['id', 'name'] });
        workflowNames = new Map(rows.map((row) => [row.id, row.name]));
      }

      // In log order, so an execution started after a contact change shows the changed contact.
      for (const event of events) {
        if (contactTypes.has(event.type)) {
          const contactEvent = event as RecordedEvent<ContactEvent>;
          const folded = foldContact(contacts.get(contactEvent.data.contactId) ?? null, contactEvent);
          if (!folded) throw new ProjectionError(`contact ${contactEvent.data.contactId} is not in the search index`);
          contacts.set(folded.id, folded);
          changedContacts.set(folded.id, folded);
          continue;
        }
        const executionEvent = event as RecordedEvent<ExecutionEvent>;
        const id = executionEvent.data.executionId;
        let context = { workflowName: null as string | null, contact: null as { email: string; name: string | null } | null };
        if (executionEvent.type === 'ExecutionStarted') {
          const contact = contacts.get(executionEvent.data.contactId);
          context = {
            workflowName: workflowNames.get(executionEvent.data.workflowId) ?? null,
            contact: contact ? { email: contact.email, name: contactName(contact) } : null,
          };
        }
        const folded = foldExecution(executions.get(id) ?? null, executionEvent, context);
        if (!folded) throw new ProjectionError(`execution ${id} is not in the search index`);
        executions.set(id, folded);
        changedExecutions.set(id, folded);
      }
      // An erased person's name and email leave the executions shown with them too.
      const erased = contactEvents.filter((event) => event.type === 'ContactErased');
      if (erased.length > 0) {
        const last = erased[erased.length - 1]!;
        if (!(await progress.waitFor(['executions'], last.position, 10_000))) {
          throw new DependencyUnavailableError('read model executions', `not at ${last.position} yet`);
        }
        const rows = await em.find(
          ExecutionViewSchema,
          { contactId: { $in: erased.map((e) => e.data.contactId) } },
          { filters: false, fields: ['id'] },
        );
        const shown = await index.get(
          'executions',
          rows.map((row) => row.id).filter((id) => !changedExecutions.has(id)),
        );
        for (const doc of [...shown.values(), ...changedExecutions.values()]) {
          if (!erased.some((e) => e.data.contactId === doc.contactId)) continue;
          changedExecutions.set(doc.id, {
            ...doc,
            contactEmail: ERASED,
            contactName: null,
            version: Math.max(doc.version, versionOf(last.position)),
          });
        }
      }
      await index.upsert('contacts', [...changedContacts.values()]);
      await index.upsert('executions', [...changedExecutions.values()]);
    },
  };
}
