import { ContainerModule } from 'inversify';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { AiProvider, VectorIndex } from '../../command-api/ai/ports.ts';
import { AiRouter, type AiRoute } from '../../command-api/ai/router.ts';
import type { Config } from '../config/config.ts';
import { deps } from '../di/resolve.ts';
import { TOKENS } from '../di/tokens.ts';
import { retryPolicies } from '../retry.ts';
import { OFFLINE_MODEL, OfflineAiProvider } from './offline-provider.ts';
import type { Database } from '../postgres/module.ts';

type AiSettings = Pick<
  Config,
  | 'OPENAI_API_KEY'
  | 'OPENAI_BASE_URL'
  | 'AI_FALLBACK_API_KEY'
  | 'AI_FALLBACK_BASE_URL'
  | 'AI_CHAT_MODEL'
  | 'AI_FALLBACK_CHAT_MODEL'
  | 'AI_EMBEDDING_MODEL'
  | 'AI_FALLBACK_EMBEDDING_MODEL'
  | 'AI_TIMEOUT_MS'
>;

/**
 * The routing table the configuration describes: the aliases `chat` and `embedding`, each served by the
 * primary (OPENAI_*) and, when configured, the fallback (AI_FALLBACK_*, its own models or the primary's
 * names). Without a primary key every alias is served offline.
 *
 * The openai library is loaded only when a key is configured: every process builds its adapters, and the
 * command line runs with a capped heap (an export of 100,000 events within 80 MB) that an unused library's
 * modules would take a share of.
 */
export async function aiRoutesFrom(config: AiSettings): Promise<Map<string, AiRoute>> {
  if (!config.OPENAI_API_KEY) {
    const offline = new OfflineAiProvider();
    return new Map(['chat', 'embedding'].map((alias) => [alias, { alias, targets: [{ provider: offline, model: OFFLINE_MODEL }] }]));
  }
  const { OpenAiProvider } = await import('./openai-provider.ts');
  const primary: AiProvider = new OpenAiProvider({
    name: 'openai',
    apiKey: config.OPENAI_API_KEY,
    baseUrl: config.OPENAI_BASE_URL,
    timeoutMs: config.AI_TIMEOUT_MS,
  });
  const fallback: AiProvider | null =
    config.AI_FALLBACK_API_KEY && config.AI_FALLBACK_BASE_URL
      ? new OpenAiProvider({
          name: 'fallback',
          apiKey: config.AI_FALLBACK_API_KEY,
          baseUrl: config.AI_FALLBACK_BASE_URL,
          timeoutMs: config.AI_TIMEOUT_MS,
        })
      : null;
  const route = (alias: string, model: string, fallbackModel: string | undefined): AiRoute => ({
    alias,
    targets: [{ provider: primary, model }, ...(fallback ? [{ provider: fallback, model: fallbackModel ?? model }] : [])],
  });
  return new Map([
    ['chat', route('chat', config.AI_CHAT_MODEL, config.AI_FALLBACK_CHAT_MODEL)],
    ['embedding', route('embedding', config.AI_EMBEDDING_MODEL, config.AI_FALLBACK_EMBEDDING_MODEL)],
  ]);
}

/**
 * The embeddings index (infra/ai/vector-index.ts): pgvector where a PostgreSQL server has the extension (its C
 * code in the server's own backend), else the exact scan with its cache in this process. The embedded
 * database uses the scan even though PGlite has pgvector: there the WebAssembly build took ~440 ms for a
 * search over 100,000 vectors while holding the one session every connection shares, the cached scan ~43 ms.
 */
export const vectorIndexModule = new ContainerModule((bind) => {
  bind<VectorIndex>(TOKENS.VectorIndex).toDynamicValue(async (ctx) => {
    const [orm, database, config] = await deps<[MikroORM, Database, Config]>(ctx, TOKENS.Orm, TOKENS.Database, TOKENS.Config);
    const options = { cacheBytes: config.AI_VECTOR_CACHE_MB * 1024 * 1024 };
    // Loaded when first asked for, as the openai library is: the command line never is.
    const { ScanVectorIndex, vectorIndexFor } = await import('./vector-index.ts');
    return database.embedded ? new ScanVectorIndex(orm, options) : vectorIndexFor(orm, options);
  });
});

/** The AI router of the configuration (issue 22): OpenAI-compatible providers with a fallback, or offline. */
export const aiModule = new ContainerModule((bind) => {
  bind<AiRouter>(TOKENS.AiRouter).toDynamicValue(async (ctx) => {
    const [config] = await deps<[Config]>(ctx, TOKENS.Config);
    return new AiRouter(await aiRoutesFrom(config), {
      retry: retryPolicies.aiProvider,
      cooldownMs: config.AI_COOLDOWN_MS,
      timeoutMs: config.AI_TIMEOUT_MS,
    });
  });
});
