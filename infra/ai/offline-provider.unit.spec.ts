import { expect } from 'chai';
import { cosine } from '../../domain/ai/feature-hashing.ts';
import { OFFLINE_NOTE, OfflineAiProvider } from './offline-provider.ts';

describe('Offline AI provider (no key configured)', () => {
  const provider = new OfflineAiProvider();
  const request = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Write a short follow-up to Ada about the demo' }] };

  it('answers deterministically, saying it is not a model and what it was asked, and counts no tokens', async () => {
    const answer = await provider.chat(request);
    expect(answer).to.deep.equal(await provider.chat(request));
    expect(answer.content).to.match(/^\[offline\] No language model answered this/);
    expect(answer.content).to.contain('write a short follow up to ada about the demo');
    expect(answer.content).to.contain(OFFLINE_NOTE);
    expect(answer.usage).to.deep.equal({ promptTokens: 0, completionTokens: 0 });
    expect(provider.offline).to.equal(true);
  });

  it('streams the same answer in pieces, then the usage', async () => {
    const chunks = [];
    for await (const chunk of provider.chatStream(request)) chunks.push(chunk);
    const text = chunks.flatMap((c) => (c.type === 'delta' ? [c.text] : [])).join('');
    expect(text).to.equal((await provider.chat(request)).content);
    expect(chunks.at(-1)).to.deep.include({ type: 'done', model: 'offline' });
  });

  it('answers one JSON object when JSON is asked for', async () => {
    const answer = await provider.chat({ ...request, responseFormat: 'json' });
    expect(JSON.parse(answer.content)).to.include({ offline: true });
  });

  it('embeds with feature hashing: one vector per input, similar texts nearer', async () => {
    const { vectors, model } = await provider.embed(['enterprise plan pricing', 'pricing of the enterprise plan', 'tomato gardening']);
    expect(model).to.equal('offline-hashing-256');
    expect(cosine(vectors[0]!, vectors[1]!)).to.be.greaterThan(cosine(vectors[0]!, vectors[2]!));
    expect(await provider.models()).to.deep.equal([{ id: 'offline', ownedBy: 'nexusflow' }]);
  });
});
