import type { MikroORM } from '@mikro-orm/postgresql';
import { PromptBook } from '../../command-api/ai/prompt-book.ts';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { COPY_FROM_ROWS } from '../../infra/readmodels/orm.ts';
import { at, projectionSpec, type Rows } from '../../test/support/projection-spec.ts';
import { tenant } from '../../test/support/query-api-spec.ts';
import { contactEmbeddingsProjection, embeddingTextOf, emailItemId } from './embeddings-projection.ts';

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

/** The email rows: item, text and the contact each went to. */
const emailRows =
  (organizationId: string): Rows<{ item: string; text: string; contactId: string }> =>
  async (orm: MikroORM) => {
    const rows = await orm.em
      .fork()
      .getConnection()
      .execute<{ item_id: string; text: string; source: { contactId: string } }[]>(
        `SELECT item_id, text, source FROM ai_embeddings WHERE organization_id = ? AND kind = 'email' ORDER BY text DESC`,
        [organizationId],
      );
    return rows.map((row) => ({ item: row.item_id, text: row.text, contactId: row.source.contactId }));
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

  it('writes the same rows when a large batch of new contacts goes by COPY as one at a time and on the embedded database, whatever the names hold', async () => {
    const acme = tenant('Acme');
    const odd = 'tab\there, new\nline, return\r, backslash \\ and \\N and \\., "quotes", {braces}, é ✓ 🚀';
    const known = acme.contact({ firstName: 'Known', company: 'Before' });
    const fresh = Array.from({ length: COPY_FROM_ROWS + 20 }, (_, i) =>
      acme.contact({ firstName: `${odd} ${i}`, company: i % 2 ? null : odd, tags: i % 3 ? [] : ['a,b', '{x}', odd] }),
    );
    // A contact stored before the batch and changed in it: its row is updated, not copied.
    const changed = known.stream.decide(
      { type: 'UpdateContact', data: { contactId: known.id, organizationId: acme.id, changes: { company: odd } } },
      2,
    );
    const facts = [...fresh.flatMap((contact) => contact.facts), ...changed];
    const rows = embeddingRows(acme.id);
    const together = await spec
      .given(acme.signup, known.facts)
      .when(facts)
      .inBatchesOf(COPY_FROM_ROWS + 100)
      .rows(rows);
    expect(together).to.have.length(fresh.length + 1);
    expect(together.find((row) => row.item === known.id)?.text).to.equal(`Known\n${odd}`);
    expect(together.find((row) => row.item === fresh[0]!.id)?.text).to.equal(
      prompt.text({ contact: { firstName: `${odd} 0`, lastName: null, title: null, company: odd }, tags: ['a,b', '{x}', odd].join(', ') }),
    );
    await spec.given(acme.signup, known.facts).when(facts).inBatchesOf(1).then(rows, together);
    await spec
      .given(acme.signup, known.facts)
      .when(facts)
      .inBatchesOf(COPY_FROM_ROWS + 100)
      .asOnEmbedded()
      .then(rows, together);
  });

  it('embeds the subject of each email a step sent, with its contact; the emails go when the contact is erased', async () => {
    const acme = tenant('Acme');
    const ada = acme.contact({ firstName: 'Ada', company: 'Engines' });
    const bob = acme.contact({ firstName: 'Bob' });
    const workflow = acme.workflow('Welcome', 1);
    const sendTo = (contactId: string, subject: string, minutes: number) => {
      const execution = acme.execution(workflow.id, contactId, minutes);
      const messageId = randomBytes(16).toString('hex');
      const sent = [
        ...execution.stream.decide(
          {
            type: 'BeginStep',
            data: { stepId: 'hello', stepType: 'send_email', input: {}, now: at(minutes + 1), maxStepsPerExecution: 100 },
          },
          minutes + 1,
        ),
        ...execution.stream.decide(
          {
            type: 'CompleteStep',
            data: { stepId: 'hello', stepType: 'send_email', attempt: 1, output: { messageId, subject }, nextStepId: null, now: at(minutes + 1) },
          },
          minutes + 1,
        ),
      ];
      return { facts: [...execution.facts, ...sent], itemId: emailItemId(messageId)! };
    };
    const toAda = sendTo(ada.id, 'Your analytics trial', 2);
    const toBob = sendTo(bob.id, 'Welcome, Bob', 3);
    await spec.given(acme.signup, ada.facts, bob.facts, workflow.facts, toAda.facts, toBob.facts).then(emailRows(acme.id), [
      { item: toAda.itemId, text: 'Email: Your analytics trial', contactId: ada.id },
      { item: toBob.itemId, text: 'Email: Welcome, Bob', contactId: bob.id },
    ]);
    await spec
      .given(acme.signup, ada.facts, bob.facts, workflow.facts, toAda.facts, toBob.facts)
      .when(
        bob.stream.decide({ type: 'DeleteContact', data: { contactId: bob.id, organizationId: acme.id } }, 9),
        bob.stream.decide({ type: 'EraseContact', data: { contactId: bob.id } }, 10),
      )
      .then(emailRows(acme.id), [{ item: toAda.itemId, text: 'Email: Your analytics trial', contactId: ada.id }]);
  });

  it('renders the text by the versioned prompt, with the version in the hash', () => {
    const source = { firstName: 'Ada', lastName: null, title: null, company: 'Engines', tags: [] };
    const made = embeddingTextOf(prompt, source);
    if (made.text !== 'Ada\nEngines') throw new Error(`unexpected text ${JSON.stringify(made.text)}`);
    if (!/^[0-9a-f]{64}$/.test(made.textHash)) throw new Error('not a sha256');
  });
});
