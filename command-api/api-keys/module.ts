import { ContainerModule } from 'inversify';
import type { ApiKeyVerifier } from '../../infra/auth/api-key-verifier.ts';
import type { SessionRevocations } from '../../infra/auth/session-revocations.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import type { CommandHandler } from '../command-handling.ts';
import { ApiKeyCommands } from './api-key-commands.ts';
import { apiKeyCommandRoutes } from './routes.ts';

/** API keys: create (shown once) and revoke (at once, in every process). */
export const apiKeyCommandsModule = new ContainerModule((bind) => {
  bind<ApiKeyCommands>(TOKENS.ApiKeyCommands).toDynamicValue(async (ctx) => {
    const [handler, revocations, verifier] = await deps<[CommandHandler, SessionRevocations, ApiKeyVerifier]>(
      ctx,
      TOKENS.CommandHandler,
      TOKENS.SessionRevocations,
      TOKENS.ApiKeyVerifier,
    );
    return new ApiKeyCommands(handler, revocations, (keyId) => verifier.forget(keyId));
  });
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [apiKeys] = await deps<[ApiKeyCommands]>(ctx, TOKENS.ApiKeyCommands);
    return apiKeyCommandRoutes(apiKeys);
  });
});
