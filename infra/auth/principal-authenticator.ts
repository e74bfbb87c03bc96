import { TOKENS } from '../di/tokens.ts';
import { inject, injectable } from 'inversify';
import type { Principal } from '../../domain/access/principal.ts';
import { isRole } from '../../domain/access/permissions.ts';
import type { Credential, PreparedPrincipal, PrincipalAuthenticator } from '../http/authenticate.ts';
import type { ApiKeyVerifier } from './api-key-verifier.ts';
import type { JwtTokens } from './jwt-tokens.ts';
import { isApiKeyShaped } from './secret-tokens.ts';
import { SessionRevocations } from './session-revocations.ts';

/** Bearer credentials: an API key (nfk_...) or a session's access token (a JWT). */
@injectable()
export class TokenOrApiKeyAuthenticator implements PrincipalAuthenticator {
  constructor(
    @inject(TOKENS.Tokens) private readonly tokens: Pick<JwtTokens, 'verifyAccess'>,
    @inject(TOKENS.SessionRevocations) private readonly revocations: SessionRevocations,
    @inject(TOKENS.ApiKeyVerifier) private readonly apiKeys: ApiKeyVerifier,
  ) {}

  async authenticate(credential: Credential, request: { ip: string }): Promise<Principal | null> {
    const prepared = await this.prepare(credential, request);
    if (!prepared) return null;
    return prepared.stands(await this.revocations.readMarks(prepared.marks)) ? prepared.principal : null;
  }

  /**
   * Everything but the revocation marks: an access token's signature and claims (no round trip), or an API
   * key (its own checks, marks included). The gateway reads the marks with the rate-limit windows in ONE
   * round trip and asks `stands`.
   */
  async prepare(credential: Credential, request: { ip: string }): Promise<PreparedPrincipal | null> {
    const presented = 'apiKey' in credential ? credential.apiKey : credential.bearer;
    if ('apiKey' in credential || isApiKeyShaped(presented)) {
      const principal = await this.apiKeys.verify(presented, request);
      return principal ? { principal, marks: [], stands: () => true } : null;
    }
    const claims = await this.tokens.verifyAccess(presented);
    if (!claims || !isRole(claims.role)) return null;
    return {
      principal: { kind: 'user', userId: claims.userId, organizationId: claims.organizationId, role: claims.role, sessionId: claims.sessionId },
      marks: SessionRevocations.marksOf(claims),
      stands: (values) => !SessionRevocations.revokedBy(claims, values),
    };
  }
}
