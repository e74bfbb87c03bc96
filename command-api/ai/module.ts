import { ContainerModule } from 'inversify';
import type { Config } from '../../infra/config/config.ts';
import { deps, optional } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import type { Metrics } from '../../infra/observability/metrics.ts';
import type { SlidingWindowRateLimiter } from '../../infra/ratelimit/sliding-window-rate-limiter.ts';
import type { QuotaGate } from '../billing/quota-gate.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { OrganizationStatusCache } from '../organizations/organization-status.ts';
import type { EventStreams } from '../ports.ts';
import { AiFeatures } from './ai-features.ts';
import { AiService } from './ai-service.ts';
import { AnswerCache } from './answer-cache.ts';
import type { VectorIndex } from './ports.ts';
import { PromptBook } from './prompt-book.ts';
import type { AiRouter } from './router.ts';
import { aiRoutes } from './routes.ts';
import { AiUsageLedger } from './usage-ledger.ts';

/**
 * The AI service (issue 22) for every role that calls it: the API's /ai routes, and the projectors' workflow
 * step and embedder. Needs the organization status copy (its AI switch, plan, billing period) and the quota
 * gate (the plan's allowance).
 */
export const aiServicesModule = new ContainerModule((bind) => {
  bind<AiFeatures>(TOKENS.AiFeatures).toDynamicValue(async (ctx) => {
    const [config, router, limiter, ephemeral, streams, gate, status, handler] = await deps<
      [Config, AiRouter, SlidingWindowRateLimiter, EphemeralStore, EventStreams, QuotaGate, OrganizationStatusCache, CommandHandler]
    >(
      ctx,
      TOKENS.Config,
      TOKENS.AiRouter,
      TOKENS.RateLimiter,
      TOKENS.Ephemeral,
      TOKENS.EventStore,
      TOKENS.QuotaGate,
      TOKENS.OrganizationStatus,
      TOKENS.CommandHandler,
    );
    const service = new AiService(
      status,
      limiter,
      new AiUsageLedger(streams, gate),
      new AnswerCache(ephemeral, config.AI_CACHE_TTL_SECONDS * 1000),
      {
        requestsPerMinute: config.AI_REQUESTS_PER_MINUTE,
        maxTokensPerRequest: config.AI_MAX_TOKENS_PER_REQUEST,
        cachedEndpoints: config.AI_CACHE_ENDPOINTS,
      },
      await optional<Metrics>(ctx, TOKENS.Metrics),
    );
    return new AiFeatures(
      service,
      router,
      new PromptBook(),
      handler,
      await optional<VectorIndex>(ctx, TOKENS.VectorIndex),
      config.AI_EMBEDDING_DIMENSIONS || null,
    );
  });
});

export const aiRoutesModule = new ContainerModule((bind) => {
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [features, config] = await deps<[AiFeatures, Config]>(ctx, TOKENS.AiFeatures, TOKENS.Config);
    return aiRoutes(features, config.AI_REQUESTS_PER_MINUTE);
  });
});
