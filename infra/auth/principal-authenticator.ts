import { TOKENS } from '../di/tokens.ts';
import { inject, injectable } from 'inversify';
import type { Principal } from '../../domain/access/principal.ts';
import { isRole } from '../../domain/access/permissions.ts';
import type { PrincipalAuthenticator } from '../http/authenticate.ts';
import type { ApiKeyVerifier } from './api-key-verifier.ts';
import type { JwtTokens } from './jwt-tokens.ts';
import { isApiKeyShaped } from './secret-tokens.ts';
import type { SessionRevocations } from './session-revocations.ts';

/** Bearer credentials: an API key (nfk_...) or a session's access token (a JWT). */
@injectable()
export class TokenOrApiKeyAuthenticator implements PrincipalAuthenticator {
  constructor(
    @inject(TOKENS.Tokens) private readonly tokens: Pick<JwtTokens, 'verifyAccess'>,
    @inject(TOKENS.SessionRevocations) private readonly revocations: SessionRevocations,
    @inject(TOKENS.ApiKeyVerifier) private readonly apiKeys: ApiKeyVerifier,
  ) {}

  async authenticate(credential: { bearer: string } | { apiKey: string }, request: { ip: string }): Promise<Principal | null> {
    const presented = 'apiKey' in credential ? credential.apiKey : credential.bearer;
    if ('apiKey' in credential || isApiKeyShaped(presented)) return this.apiKeys.verify(presented, request);
    const claims = await this.tokens.verifyAccess(presented);
    if (!claims || !isRole(claims.role)) return null;
    if (await this.revocations.isRevoked(claims)) return null;
    return { kind: 'user', userId: claims.userId, organizationId: claims.organizationId, role: claims.role, sessionId: claims.sessionId };
  }
}
