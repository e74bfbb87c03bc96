import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Prompt } from '../../command-api/ai/prompt-book.ts';
import { applyChanges, type ContactEvent } from '../../domain/contacts/contact.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { executeBound, pgArray } from '../../infra/readmodels/orm.ts';
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
  return { text, textHash: createHash('sha256').update(`${prompt.id}\n${text}`).digest('hex') };
}

/**
 * What the embedder is to embed (issue 22): for each live contact, the minimal text of the versioned prompt
 * `contact-embedding` (names, title, company, tags; never the email address or custom fields), in the
 * read models' `ai_embeddings` table. A contact deleted or erased loses its row, vector included, in the
 * batch's transaction: nothing of it is sent to a provider afterwards, or found by a search.
 */
export function embeddingsProjection(prompt: Prompt): Projection {
  return {
    name: 'ai-embeddings',
    eventTypes: new Set<string>(CONTACT_EVENTS),
    sqlOnly: true,
    async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
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
      if (removed.size > 0) {
        await executeBound(em, `DELETE FROM ai_embeddings WHERE kind = 'contact' AND item_id = ANY(?::uuid[])`, [pgArray([...removed.keys()])]);
      }
      if (changed.size === 0) return;
      const upserts = [...changed].map((id) => {
        const row = rows.get(id)!;
        return { ...row, ...embeddingTextOf(prompt, row.source) };
      });
      await executeBound(
        em,
        `INSERT INTO ai_embeddings (organization_id, kind, item_id, text, text_hash, source)
         SELECT r.organization_id, 'contact', r.item_id, r.text, r.text_hash, r.source
           FROM jsonb_to_recordset(?::jsonb) AS r(organization_id uuid, item_id uuid, text text, text_hash text, source jsonb)
         ON CONFLICT (organization_id, kind, item_id) DO UPDATE
           SET text = EXCLUDED.text, text_hash = EXCLUDED.text_hash, source = EXCLUDED.source
           WHERE ai_embeddings.text_hash IS DISTINCT FROM EXCLUDED.text_hash OR ai_embeddings.source IS DISTINCT FROM EXCLUDED.source`,
        [
          JSON.stringify(
            upserts.map((row) => ({
              organization_id: row.organizationId,
              item_id: row.itemId,
              text: row.text,
              text_hash: row.textHash,
              source: row.source,
            })),
          ),
        ],
      );
    },
  };
}
