import { expect } from 'chai';
import { FakeOpenAI } from '../../test/support/fake-openai.ts';
import { AiRouter } from '../../command-api/ai/router.ts';
import { ConfigError, loadConfig } from '../config/config.ts';
import { retryPolicies } from '../retry.ts';
import { aiRoutesFrom } from './module.ts';

describe('The AI routing table from the configuration', function () {
  this.timeout(20_000);
  const base = { JWT_SECRET: 'x'.repeat(32) };
  const messages = [{ role: 'user' as const, content: 'Summarise the last call with Ada' }];
  const routerOf = async (env: Record<string, string>): Promise<AiRouter> => {
    const config = loadConfig({ ...base, ...env }, 'all');
    return new AiRouter(await aiRoutesFrom(config), {
      retry: { ...retryPolicies.aiProvider, initialDelayMs: 0, maxDelayMs: 0 },
      cooldownMs: 30_000,
      timeoutMs: 2_000,
    });
  };

  it('serves every alias offline without a key, and says so', async () => {
    const router = await routerOf({});
    expect(router.aliases()).to.deep.equal(['chat', 'embedding']);
    const answer = await router.chat('chat', { messages });
    expect(answer.served).to.deep.equal({ provider: 'offline', model: 'offline', fellBack: false, offline: true });
    expect((await router.embed('embedding', ['a'])).served.offline).to.equal(true);
  });

  it('routes to the configured OpenAI-compatible server, and to the fallback with its own key and model when the primary fails', async () => {
    const [primary, fallback] = await Promise.all([FakeOpenAI.start(), FakeOpenAI.start()]);
    try {
      const router = await routerOf({
        OPENAI_API_KEY: primary.apiKey,
        OPENAI_BASE_URL: primary.baseUrl,
        AI_FALLBACK_API_KEY: fallback.apiKey,
        AI_FALLBACK_BASE_URL: fallback.baseUrl,
        AI_FALLBACK_CHAT_MODEL: 'other-vendor-small',
      });
      primary.script('gpt-4o-mini', 'from OpenAI');
      expect((await router.chat('chat', { messages })).served).to.include({ provider: 'openai', model: 'gpt-4o-mini' });
      primary.failNext(503, 2);
      fallback.script('other-vendor-small', 'from the fallback');
      const answer = await router.chat('chat', { messages });
      expect(answer.content).to.equal('from the fallback');
      expect(answer.served).to.deep.equal({ provider: 'fallback', model: 'other-vendor-small', fellBack: true, offline: false });
      expect(fallback.requests.at(-1)!.headers.authorization).to.equal(`Bearer ${fallback.apiKey}`);
    } finally {
      await Promise.all([primary.close(), fallback.close()]);
    }
  });

  it('refuses a fallback key without its base URL (or the other way round)', () => {
    expect(() => loadConfig({ ...base, AI_FALLBACK_API_KEY: 'sk-x' }, 'all')).to.throw(ConfigError, /AI_FALLBACK_BASE_URL/);
  });
});
