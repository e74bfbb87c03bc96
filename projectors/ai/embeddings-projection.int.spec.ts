import type { MikroORM } from '@mikro-orm/postgresql';
import { PromptBook } from '../../command-api/ai/prompt-book.ts';
import { projectionSpec, type Rows } from '../../test/support/projection-spec.ts';
import { tenant } from '../../test/support/query-api-spec.ts';
import { contactEmbeddingsProjection } from './module.ts';
import { embeddingTextOf } from './embeddings-projection.ts';

const prompt = new PromptBook().get('contact-embedding');

/** What the embedder sees: each row's organization, item and text (hash checked against the text). */
const embeddingRows =
  (organizationId: string): Rows<{ item: string; text: string; pending: boolean }> =>
  async (orm: MikroORM) => {
    const rows = await orm.em
      .fork()
      .getConnection()
      .execute<{ item_id: string; text: string; text_hash: string; embedded_hash: string | null }[]>(
        `SELECT item_id, text, text_hash, embedded_hash FROM ai_embeddings WHERE organization_id = ? ORDER BY text`,
        [organizationId],
      );
    return rows.map((row) => ({ item: row.item_id, text: row.text, pending: row.embedded_hash !== row.text_hash }));
  };

describe('Embeddings projection (Given contact events, Then the texts the embedder is to embed)', function () {
  this.timeout(30_000);
  const spec = projectionSpec(contactEmbeddingsProjection);

  it('keeps the minimal text of each live contact, follows its changes, and forgets a deleted or erased one', async () => {
    const acme = tenant('Acme');
    const globex = tenant('Globex');
    const ada = acme.contact({ firstName: 'Ada', lastName: 'Lovelace', title: 'Analyst', company: 'Engines', tags: ['vip'] });
    const bob = acme.contact({ firstName: 'Bob', company: 'Builders' });
    const gone = acme.contact({ firstName: 'Gone', company: 'Nowhere' });
    const erased = acme.contact({ firstName: 'Erased', company: 'Secret Co' });
    const other = globex.contact({ firstName: 'Grace', company: 'Navy' });
    await spec
      .given(acme.signup, globex.signup, ada.facts, bob.facts, gone.facts, erased.facts, other.facts)
      .when(
        ada.stream.decide(
          { type: 'UpdateContact', data: { contactId: ada.id, organizationId: acme.id, changes: { title: 'Head of Analytics' } } },
          2,
        ),
        ada.stream.decide({ type: 'ChangeContactTags', data: { contactId: ada.id, organizationId: acme.id, add: ['speaker'], remove: [] } }, 3),
        gone.stream.decide({ type: 'DeleteContact', data: { contactId: gone.id, organizationId: acme.id } }, 4),
        erased.stream.decide({ type: 'DeleteContact', data: { contactId: erased.id, organizationId: acme.id } }, 4),
        erased.stream.decide({ type: 'EraseContact', data: { contactId: erased.id } }, 5),
      )
      .then(embeddingRows(acme.id), [
        { item: ada.id, text: 'Ada Lovelace\nHead of Analytics\nEngines\nTags: vip, speaker', pending: true },
        { item: bob.id, text: 'Bob\nBuilders', pending: true },
      ]);
  });

  it('renders the text by the versioned prompt, with the version in the hash', () => {
    const source = { firstName: 'Ada', lastName: null, title: null, company: 'Engines', tags: [] };
    const made = embeddingTextOf(prompt, source);
    if (made.text !== 'Ada\nEngines') throw new Error(`unexpected text ${JSON.stringify(made.text)}`);
    if (!/^[0-9a-f]{64}$/.test(made.textHash)) throw new Error('not a sha256');
  });
});
