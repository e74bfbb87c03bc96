import { randomUUID } from 'node:crypto';
import { ContainerModule } from 'inversify';
import type { Logger } from 'pino';
import { ApiUsageMeter } from '../../command-api/usage/api-usage-meter.ts';
import type { Config } from '../config/config.ts';
import { Lifecycle } from '../di/lifecycle.ts';
import { deps } from '../di/resolve.ts';
import { TOKENS } from '../di/tokens.ts';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';
import type { EventStore } from '../eventstore/event-store.ts';
import type { Secrets } from '../postgres/module.ts';
import { SlidingWindowRateLimiter } from '../ratelimit/sliding-window-rate-limiter.ts';
import { ApiKeyUsageRecorder, membershipFromLog } from './api-key-usage.ts';
import { ApiKeyVerifier } from './api-key-verifier.ts';
import { JwtTokens } from './jwt-tokens.ts';
import { TokenOrApiKeyAuthenticator } from './principal-authenticator.ts';
import { SessionRevocations } from './session-revocations.ts';

/** How long a verified API key is trusted before its stream is read again (revocation marks cover it). */
const API_KEY_CACHE_MS = 30_000;

/**
 * Who is calling, in every process that serves the API: access tokens, API keys (checked against their
 * streams and their creator's current grant), revocation marks, rate limits, and the usage meter.
 */
export const accessModule = new ContainerModule((bind) => {
  bind<JwtTokens>(TOKENS.Tokens).toDynamicValue(async (ctx) => {
    const [config, secrets] = await deps<[Config, Secrets]>(ctx, TOKENS.Config, TOKENS.Secrets);
    // Configuration makes every process on a server set JWT_SECRET; on the embedded default there is always one.
    if (!secrets.jwtSecret) throw new Error('no token signing secret: set JWT_SECRET');
    return new JwtTokens(secrets.jwtSecret, config.ACCESS_TOKEN_TTL_SECONDS, config.REFRESH_TOKEN_TTL_SECONDS);
  });
  bind<SessionRevocations>(TOKENS.SessionRevocations).toDynamicValue(async (ctx) => {
    const [config, ephemeral] = await deps<[Config, EphemeralStore]>(ctx, TOKENS.Config, TOKENS.Ephemeral);
    return new SessionRevocations(ephemeral, config.ACCESS_TOKEN_TTL_SECONDS * 1000, API_KEY_CACHE_MS);
  });
  bind<ApiKeyVerifier>(TOKENS.ApiKeyVerifier).toDynamicValue(async (ctx) => {
    const [config, store, revocations, ephemeral, logger] = await deps<[Config, EventStore, SessionRevocations, EphemeralStore, Logger]>(
      ctx,
      TOKENS.Config,
      TOKENS.EventStore,
      TOKENS.SessionRevocations,
      TOKENS.Ephemeral,
      TOKENS.Logger,
    );
    const usage = new ApiKeyUsageRecorder(store);
    return new ApiKeyVerifier(
      store,
      revocations,
      ephemeral,
      // A key acts with at most its creator's current role, while the creator is an active member.
      membershipFromLog(store),
      (key, request) =>
        usage.record(key, {
          tenantId: key.organizationId,
          actor: { type: 'apiKey', id: key.keyId },
          correlationId: randomUUID(),
          causationId: randomUUID(),
          now: new Date(),
          ip: request.ip,
        }),
      logger.child({ component: 'api-keys' }),
      { cacheMs: API_KEY_CACHE_MS, usageResolutionMs: config.API_KEY_USAGE_RESOLUTION_SECONDS * 1000 },
    );
  });
  bind(TOKENS.Authenticator).to(TokenOrApiKeyAuthenticator);
  bind(TOKENS.RateLimiter).to(SlidingWindowRateLimiter);
  // Every process that serves the API counts its authenticated requests (usage metrics).
  bind<ApiUsageMeter>(TOKENS.ApiUsageMeter).toDynamicValue(async (ctx) => {
    const [config, store, logger, lifecycle] = await deps<[Config, EventStore, Logger, Lifecycle]>(
      ctx,
      TOKENS.Config,
      TOKENS.EventStore,
      TOKENS.Logger,
      TOKENS.Lifecycle,
    );
    const meter = new ApiUsageMeter(store, logger.child({ component: 'api-usage' }), config.API_USAGE_FLUSH_SECONDS * 1000);
    lifecycle.onStart('api usage meter', () => meter.start());
    lifecycle.onStop('api usage meter', () => meter.stop());
    return meter;
  });
});
