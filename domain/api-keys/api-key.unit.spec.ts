import { NotFoundError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { apiKeyDecider, type ApiKeyCreated } from './api-key.ts';

const spec = deciderSpec(apiKeyDecider);
const created: ApiKeyCreated = {
  type: 'ApiKeyCreated',
  version: 1,
  data: {
    keyId: 'k-1',
    organizationId: 'org-a',
    name: 'export',
    scopes: ['contacts:read'],
    secretHash: 'h',
    prefix: 'nfk_0123abcd',
    createdBy: { type: 'user', id: 'u-1' },
    expiresAt: null,
  },
};

describe('API key decider', () => {
  it('records use of a live key, and nothing for a revoked one', () => {
    const use = { type: 'RecordApiKeyUse' as const, data: { keyId: 'k-1', organizationId: 'org-a' } };
    spec
      .given(created)
      .when(use)
      .then([{ type: 'ApiKeyUsed', version: 1, data: { keyId: 'k-1', organizationId: 'org-a' } }]);
    spec
      .given(created, { type: 'ApiKeyRevoked', version: 1, data: { keyId: 'k-1', organizationId: 'org-a' } })
      .when(use)
      .thenNothing();
  });

  it('revokes once', () => {
    const revoke = { type: 'RevokeApiKey' as const, data: { keyId: 'k-1', organizationId: 'org-a' } };
    const revoked = { type: 'ApiKeyRevoked', version: 1, data: { keyId: 'k-1', organizationId: 'org-a' } } as const;
    spec.given(created).when(revoke).then([revoked]);
    spec.given(created, revoked).when(revoke).thenNothing();
  });

  it("reports another organization's key exactly like a missing one", () => {
    spec
      .given(created)
      .when({ type: 'RevokeApiKey', data: { keyId: 'k-1', organizationId: 'org-b' } })
      .thenError(NotFoundError);
    spec
      .given()
      .when({ type: 'RevokeApiKey', data: { keyId: 'k-1', organizationId: 'org-a' } })
      .thenError(NotFoundError);
  });
});
