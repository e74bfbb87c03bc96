import { expect } from 'chai';
import { AiProviderUnavailable, AiRequestRejected } from '../../command-api/ai/ports.ts';
import { AiRouter } from '../../command-api/ai/router.ts';
import { chatPromptTokens, countTokens, FakeOpenAI } from '../../test/support/fake-openai.ts';
import { OfflineAiProvider } from './offline-provider.ts';
import { OpenAiProvider } from './openai-provider.ts';

describe('OpenAI provider and the AI router (the real openai library against a loopback OpenAI)', function () {
  this.timeout(20_000);
  let primary: FakeOpenAI;
  let secondary: FakeOpenAI;

  beforeEach(async () => {
    [primary, secondary] = await Promise.all([FakeOpenAI.start(), FakeOpenAI.start()]);
  });
  afterEach(async () => {
    await Promise.all([primary?.close(), secondary?.close()]);
  });

  const providerOn = (fake: FakeOpenAI, name: string, timeoutMs = 5_000, apiKey = fake.apiKey) =>
    new OpenAiProvider({ name, apiKey, baseUrl: fake.baseUrl, timeoutMs });
  const messages = [{ role: 'user' as const, content: 'Thank Ada for the meeting.' }];

  it('answers a chat with the usage the provider counted', async () => {
    primary.script('gpt-4o-mini', 'You are welcome, Ada.');
    const answer = await providerOn(primary, 'openai').chat({ model: 'gpt-4o-mini', messages, maxTokens: 50 });
    expect(answer).to.deep.equal({
      content: 'You are welcome, Ada.',
      model: 'gpt-4o-mini',
      usage: { promptTokens: chatPromptTokens(messages), completionTokens: countTokens('You are welcome, Ada.') },
      finishReason: 'stop',
    });
    expect(primary.requests.at(-1)!.body).to.deep.include({ model: 'gpt-4o-mini', max_tokens: 50 });
  });

  it('streams the answer and ends with the whole call’s usage (include_usage)', async () => {
    primary.script('gpt-4o-mini', 'Thanks for your time today');
    const chunks = [];
    for await (const chunk of providerOn(primary, 'openai').chatStream({ model: 'gpt-4o-mini', messages })) chunks.push(chunk);
    const text = chunks.flatMap((c) => (c.type === 'delta' ? [c.text] : [])).join('');
    expect(text.trim()).to.equal('Thanks for your time today');
    expect(chunks.at(-1)).to.deep.equal({
      type: 'done',
      model: 'gpt-4o-mini',
      usage: { promptTokens: chatPromptTokens(messages), completionTokens: countTokens('Thanks for your time today') },
      finishReason: 'stop',
    });
    expect(primary.requests.at(-1)!.body).to.deep.include({ stream: true, stream_options: { include_usage: true } });
  });

  it('embeds (the library’s base64 decoded) in input order, and lists models', async () => {
    const answer = await providerOn(primary, 'openai').embed(['enterprise plan', 'tomato garden'], 'text-embedding-3-small');
    expect(answer.vectors).to.have.length(2);
    expect(answer.vectors[0]).to.have.length(1536);
    expect(answer.usage.promptTokens).to.equal(countTokens('enterprise plan') + countTokens('tomato garden'));
    expect((await providerOn(primary, 'openai').models()).length).to.be.greaterThan(0);
  });

  it('sorts failures: a wrong key is refused, 5xx, 429 (with its Retry-After) and a timeout are "unavailable"', async () => {
    const refused = await providerOn(primary, 'openai', 5_000, 'sk-wrong')
      .chat({ model: 'gpt-4o-mini', messages })
      .catch((err: unknown) => err);
    expect(refused).to.be.instanceOf(AiRequestRejected).and.include({ status: 401, code: 'invalid_api_key' });
    primary.failNext(503);
    expect(
      await providerOn(primary, 'openai')
        .chat({ model: 'm', messages })
        .catch((e: unknown) => e),
    )
      .to.be.instanceOf(AiProviderUnavailable)
      .and.include({ status: 503 });
    primary.rateLimitNext(7);
    expect(
      await providerOn(primary, 'openai')
        .chat({ model: 'm', messages })
        .catch((e: unknown) => e),
    )
      .to.be.instanceOf(AiProviderUnavailable)
      .and.include({ status: 429, retryAfterMs: 7_000 });
    primary.delayNext(2_000);
    expect(
      await providerOn(primary, 'openai', 100)
        .chat({ model: 'm', messages })
        .catch((e: unknown) => e),
    )
      .to.be.instanceOf(AiProviderUnavailable)
      .and.include({ status: null });
  });

  describe('routing', () => {
    const routerOver = (timeoutMs = 5_000, now = () => Date.now()) =>
      new AiRouter(
        new Map([
          [
            'default',
            {
              alias: 'default',
              targets: [
                { provider: providerOn(primary, 'primary', timeoutMs), model: 'gpt-4o-mini' },
                { provider: providerOn(secondary, 'fallback', timeoutMs), model: 'other-vendor-small' },
              ],
            },
          ],
        ]),
        { retry: { attempts: 2, initialDelayMs: 0, maxDelayMs: 0, jitter: false }, cooldownMs: 30_000, timeoutMs, now },
      );

    it('retries the primary once after a 500, then answers from it', async () => {
      primary.failNext(500);
      primary.script('gpt-4o-mini', 'from the primary');
      const answer = await routerOver().chat('default', { messages });
      expect(answer.content).to.equal('from the primary');
      expect(answer.served).to.deep.equal({ provider: 'primary', model: 'gpt-4o-mini', fellBack: false, offline: false });
    });

    it('falls back to the other provider when the primary keeps failing, and skips the primary while it cools down', async () => {
      primary.failNext(500, 2);
      secondary.script('other-vendor-small', 'from the fallback', 'again from the fallback');
      const router = routerOver();
      const first = await router.chat('default', { messages });
      expect(first.content).to.equal('from the fallback');
      expect(first.served).to.include({ provider: 'fallback', model: 'other-vendor-small', fellBack: true });
      const callsToPrimary = primary.requests.length;
      expect((await router.chat('default', { messages })).content).to.equal('again from the fallback');
      expect(primary.requests.length, 'the cooled-down primary is not called').to.equal(callsToPrimary);
    });

    it('falls back when the primary times out', async () => {
      primary.delayNext(3_000, 2);
      secondary.script('other-vendor-small', 'in time');
      expect((await routerOver(200).chat('default', { messages })).served.provider).to.equal('fallback');
    });

    it('does not try elsewhere what the provider refused (a 4xx would be refused again)', async () => {
      const router = new AiRouter(
        new Map([
          [
            'default',
            {
              alias: 'default',
              targets: [
                { provider: providerOn(primary, 'primary', 5_000, 'sk-wrong'), model: 'gpt-4o-mini' },
                { provider: new OfflineAiProvider(), model: 'offline' },
              ],
            },
          ],
        ]),
        { retry: { attempts: 2, initialDelayMs: 0, maxDelayMs: 0, jitter: false }, cooldownMs: 30_000, timeoutMs: 5_000 },
      );
      expect(await router.chat('default', { messages }).catch((e: unknown) => e)).to.be.instanceOf(AiRequestRejected);
    });
  });
});
