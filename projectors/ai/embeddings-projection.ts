import { hash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { PromptBook, type Prompt } from '../../command-api/ai/prompt-book.ts';
import { applyChanges, type ContactEvent } from '../../domain/contacts/contact.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { COPY_FROM_ROWS, copyRows, executeBound, writeBound, pgArray } from '../../infra/readmodels/orm.ts';
import type { Projection } from '../runner/projection.ts';

/** The contact fields the embedding text is made of (and all this read model keeps of a contact). */
interface Source {
  firstName: string | null;
  lastName: string | null;
  title: string | null;
  company: string | null;
  tags: string[];
}

interface Row {
  organizationId: string;
  itemId: string;
  source: Source;
}

const CONTACT_EVENTS = ['ContactCreated', 'ContactUpdated', 'ContactTagged', 'ContactUntagged', 'ContactDeleted', 'ContactErased'] as const;
/** An execution's start says whom its emails go to; its end forgets it. */
const EXECUTION_ENDS = ['ExecutionCompleted', 'ExecutionFailed', 'ExecutionCancelled', 'ExecutionExited'] as const;
const EXECUTION_EVENTS = ['ExecutionStarted', 'StepCompleted', ...EXECUTION_ENDS] as const;
/** Steps that send an email: their output's subject is embedded. */
const SENDING_STEPS = new Set(['send_email', 'ai_compose_email']);

/** An email's row id: its message id (32 hex digits, from the step's idempotency key) read as a UUID. */
export function emailItemId(messageId: string): string | null {
  if (!/^[0-9a-f]{32}$/.test(messageId)) return null;
  return `${messageId.slice(0, 8)}-${messageId.slice(8, 12)}-${messageId.slice(12, 16)}-${messageId.slice(16, 20)}-${messageId.slice(20)}`;
}

const pick = (fields: Partial<Record<keyof Source, unknown>>, tags: string[]): Source => ({
  firstName: (fields.firstName as string | null | undefined) ?? null,
  lastName: (fields.lastName as string | null | undefined) ?? null,
  title: (fields.title as string | null | undefined) ?? null,
  company: (fields.company as string | null | undefined) ?? null,
  tags,
});

/** The text a contact is embedded from, by the versioned prompt `contact-embedding`, and its hash (the prompt's version included). */
export function embeddingTextOf(prompt: Prompt, source: Source): { text: string; textHash: string } {
  const text = prompt.text({
    contact: { firstName: source.firstName, lastName: source.lastName, title: source.title, company: source.company },
    tags: source.tags.join(', '),
  });
  return { text, textHash: hashOf(prompt, text) };
}

const hashOf = (prompt: Prompt, text: string) => hash('sha256', `${prompt.id}\n${text}`, 'hex');

/**
 * What the embedder is to embed (issue 22), in the read models' `ai_embeddings` table:
 * - for each live contact, the minimal text of the versioned prompt `contact-embedding` (names, title,
 *   company, tags; never the email address or custom fields);
 * - for each email a workflow step sent (`send_email`, `ai_compose_email`), its subject by the prompt
 *   `email-embedding` (the body is not in the log), with the contact it went to.
 * A contact deleted or erased loses its row and its emails' rows, vectors included, in the batch's
 * transaction: nothing of it is sent to a provider afterwards, or found by a search.
 */
export function embeddingsProjection(prompts: { contact: Prompt; email: Prompt }): Projection {
  return {
    name: 'ai-embeddings',
    eventTypes: new Set<string>([...CONTACT_EVENTS, ...EXECUTION_EVENTS]),
    sqlOnly: true,
    background: true,
    async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
      const contactEvents = events.filter((event) => (CONTACT_EVENTS as readonly string[]).includes(event.type));
      const executionEvents = events.filter((event) => !(CONTACT_EVENTS as readonly string[]).includes(event.type));
      // Contacts first (an email needs its contact's row), their removals last (with the emails of this batch).
      const removed = contactEvents.length > 0 ? await applyContacts(contactEvents, em, prompts.contact) : [];
      if (executionEvents.length > 0) await applyExecutions(executionEvents, em, prompts.email);
      if (removed.length > 0) await removeContacts(removed, em);
    },
  };
}

interface Execution {
  organizationId: string;
  contactId: string;
  workflowId: string;
}

async function applyExecutions(events: RecordedEvent[], em: EntityManager, prompt: Prompt): Promise<void> {
  const started = new Map<string, Execution>();
  const ended = new Set<string>();
  const sent: { executionId: string; itemId: string; subject: string }[] = [];
  for (const event of events) {
    const data = event.data as Record<string, unknown>;
    const executionId = data.executionId as string;
    if (event.type === 'ExecutionStarted') {
      started.set(executionId, {
        organizationId: data.organizationId as string,
        contactId: data.contactId as string,
        workflowId: data.workflowId as string,
      });
      ended.delete(executionId);
    } else if (event.type === 'StepCompleted') {
      if (!SENDING_STEPS.has(data.stepType as string)) continue;
      const output = (data.output ?? {}) as Record<string, unknown>;
      const itemId = typeof output.messageId === 'string' ? emailItemId(output.messageId) : null;
      const subject = typeof output.subject === 'string' ? output.subject.trim() : '';
      if (itemId && subject) sent.push({ executionId, itemId, subject });
    } else {
      ended.add(executionId);
    }
  }
  const executions = new Map(started);
  const unknown = [...new Set(sent.map((email) => email.executionId))].filter((id) => !executions.has(id));
  if (unknown.length > 0) {
    const rows = await executeBound<{ execution_id: string; organization_id: string; contact_id: string; workflow_id: string }>(
      em,
      `SELECT execution_id, organization_id, contact_id, workflow_id FROM ai_embedding_executions WHERE execution_id = ANY(?::uuid[])`,
      [pgArray(unknown)],
    );
    for (const row of rows)
      executions.set(row.execution_id, { organizationId: row.organization_id, contactId: row.contact_id, workflowId: row.workflow_id });
  }
  const emails = sent.flatMap((email) => {
    const execution = executions.get(email.executionId);
    if (!execution) return [];
    const text = prompt.text({ subject: email.subject });
    return [
      {
        organization_id: execution.organizationId,
        item_id: email.itemId,
        text,
        text_hash: hashOf(prompt, text),
        source: { contactId: execution.contactId, workflowId: execution.workflowId, executionId: email.executionId },
      },
    ];
  });
  if (emails.length > 0) {
    // Only for a contact still here (its row): an email of a contact deleted meanwhile is not kept.
    await writeBound(
      em,
      `INSERT INTO ai_embeddings (organization_id, kind, item_id, text, text_hash, source)
       SELECT r.organization_id, 'email', r.item_id, r.text, r.text_hash, r.source
         FROM jsonb_to_recordset(?::jsonb) AS r(organization_id uuid, item_id uuid, text text, text_hash text, source jsonb)
        WHERE EXISTS (SELECT 1 FROM ai_embeddings c
                       WHERE c.organization_id = r.organization_id AND c.kind = 'contact' AND c.item_id = (r.source->>'contactId')::uuid)
       ON CONFLICT (organization_id, kind, item_id) DO NOTHING`,
      [JSON.stringify(emails)],
    );
  }
  const fresh = [...started].filter(([id]) => !ended.has(id));
  if (fresh.length > 0) {
    await writeBound(
      em,
      `INSERT INTO ai_embedding_executions (execution_id, organization_id, contact_id, workflow_id)
       SELECT r.execution_id, r.organization_id, r.contact_id, r.workflow_id
         FROM jsonb_to_recordset(?::jsonb) AS r(execution_id uuid, organization_id uuid, contact_id uuid, workflow_id uuid)
       ON CONFLICT (execution_id) DO NOTHING`,
      [
        JSON.stringify(
          fresh.map(([id, execution]) => ({
            execution_id: id,
            organization_id: execution.organizationId,
            contact_id: execution.contactId,
            workflow_id: execution.workflowId,
          })),
        ),
      ],
    );
  }
  const gone = [...ended].filter((id) => !started.has(id));
  if (gone.length > 0) await writeBound(em, `DELETE FROM ai_embedding_executions WHERE execution_id = ANY(?::uuid[])`, [pgArray(gone)]);
}

/** Applies the contacts' changes; answers the contacts removed (organization, contact) for removeContacts. */
async function applyContacts(events: RecordedEvent[], em: EntityManager, prompt: Prompt): Promise<[string, string][]> {
  const ids = [...new Set(events.map((event) => (event.data as { contactId: string }).contactId))];
  const rows = new Map<string, Row>(
    (
      await executeBound<{ organization_id: string; item_id: string; source: Source }>(
        em,
        `SELECT organization_id, item_id, source FROM ai_embeddings WHERE kind = 'contact' AND item_id = ANY(?::uuid[])`,
        [pgArray(ids)],
      )
    ).map((row) => [row.item_id, { organizationId: row.organization_id, itemId: row.item_id, source: row.source }]),
  );
  /** The contacts that have a row already; the others are new to the table. */
  const stored = new Set(rows.keys());
  const changed = new Set<string>();
  const removed = new Map<string, string>();
  for (const event of events as RecordedEvent<ContactEvent>[]) {
    const id = event.data.contactId;
    if (event.type === 'ContactCreated') {
      const { organizationId, tags, ...fields } = event.data;
      rows.set(id, { organizationId, itemId: id, source: pick(fields, [...tags]) });
      removed.delete(id);
      changed.add(id);
      continue;
    }
    const row = rows.get(id);
    if (!row) continue;
    switch (event.type) {
      case 'ContactUpdated': {
        const next = applyChanges(
          { email: '', customFields: {}, ...row.source } as unknown as Parameters<typeof applyChanges>[0],
          event.data.changes,
        ) as unknown as Partial<Source>;
        row.source = pick(next, row.source.tags);
        changed.add(id);
        break;
      }
      case 'ContactTagged':
        if (!row.source.tags.includes(event.data.tag)) row.source = { ...row.source, tags: [...row.source.tags, event.data.tag] };
        changed.add(id);
        break;
      case 'ContactUntagged':
        row.source = { ...row.source, tags: row.source.tags.filter((tag) => tag !== event.data.tag) };
        changed.add(id);
        break;
      case 'ContactDeleted':
      case 'ContactErased':
        rows.delete(id);
        changed.delete(id);
        removed.set(id, row.organizationId);
        break;
    }
  }
  const upserts = [...changed].map((id) => {
    const { organizationId, itemId, source } = rows.get(id)!;
    const { text, textHash } = embeddingTextOf(prompt, source);
    return { organizationId, itemId, source, text, textHash };
  });
  // Many new rows (a catch-up, an import) go by COPY where the server takes it (see copyRows). Nothing else
  // writes contact rows, and a batch this large holds the projection's checkpoint row from its start (the
  // runner's transactChecked), so a row not found above is not there at the COPY either.
  const fresh = upserts.filter((row) => !stored.has(row.itemId));
  const copied =
    fresh.length >= COPY_FROM_ROWS &&
    (await copyRows(
      em,
      'ai_embeddings',
      ['organization_id', 'kind', 'item_id', 'text', 'text_hash', 'source'],
      fresh.map((row) => [row.organizationId, 'contact', row.itemId, row.text, row.textHash, JSON.stringify(row.source)]),
    ));
  const written = copied ? upserts.filter((row) => stored.has(row.itemId)) : upserts;
  if (written.length > 0) {
    await writeBound(
      em,
      `INSERT INTO ai_embeddings (organization_id, kind, item_id, text, text_hash, source)
       SELECT r.organization_id, 'contact', r.item_id, r.text, r.text_hash, r.source
         FROM jsonb_to_recordset(?::jsonb) AS r(organization_id uuid, item_id uuid, text text, text_hash text, source jsonb)
       ON CONFLICT (organization_id, kind, item_id) DO UPDATE
         SET text = EXCLUDED.text, text_hash = EXCLUDED.text_hash, source = EXCLUDED.source
         WHERE ai_embeddings.text_hash IS DISTINCT FROM EXCLUDED.text_hash OR ai_embeddings.source IS DISTINCT FROM EXCLUDED.source`,
      [
        JSON.stringify(
          written.map((row) => ({
            organization_id: row.organizationId,
            item_id: row.itemId,
            text: row.text,
            text_hash: row.textHash,
            source: row.source,
          })),
        ),
      ],
    );
  }
  return [...removed].map(([contactId, organizationId]) => [organizationId, contactId]);
}

/** A removed contact's row, and the rows of the emails it was sent. */
async function removeContacts(removed: [organizationId: string, contactId: string][], em: EntityManager): Promise<void> {
  await writeBound(em, `DELETE FROM ai_embeddings WHERE kind = 'contact' AND item_id = ANY(?::uuid[])`, [pgArray(removed.map(([, id]) => id))]);
  await writeBound(
    em,
    `DELETE FROM ai_embeddings e
      USING jsonb_to_recordset(?::jsonb) AS r(organization_id uuid, contact_id text)
      WHERE e.kind = 'email' AND e.organization_id = r.organization_id AND e.source->>'contactId' = r.contact_id`,
    [JSON.stringify(removed.map(([organizationId, contactId]) => ({ organization_id: organizationId, contact_id: contactId })))],
  );
}

const prompts = new PromptBook();

/** The projection the processes run: contacts and sent emails by the newest versions of their prompts. */
export const contactEmbeddingsProjection = embeddingsProjection({ contact: prompts.get('contact-embedding'), email: prompts.get('email-embedding') });
