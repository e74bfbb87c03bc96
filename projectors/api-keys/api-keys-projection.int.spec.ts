import { randomUUID } from 'node:crypto';
import { apiKeyDecider, apiKeyStream } from '../../domain/api-keys/api-key.ts';
import { at, entityStream, fact, projectionSpec, rowsOf } from '../../test/support/projection-spec.ts';
import { ApiKeyViewSchema, type ApiKeyView } from './api-key-view.ts';
import { apiKeysProjection } from './api-keys-projection.ts';

describe('API keys projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(apiKeysProjection);

  function apiKey(organizationId = randomUUID(), expiresAt: string | null = at(90 * 24 * 60)) {
    const keyId = randomUUID();
    const creator = randomUUID();
    const tenant = { tenantId: organizationId, actor: { type: 'user' as const, id: creator } };
    const stream = entityStream(apiKeyDecider, apiKeyStream(keyId), tenant);
    const created = stream.decide({
      type: 'CreateApiKey',
      data: {
        keyId,
        organizationId,
        name: 'CRM sync',
        scopes: ['contacts:read', 'contacts:write'],
        secretHash: 'sha256-of-the-secret',
        prefix: 'nf_live_ab12',
        createdBy: { type: 'user', id: creator },
        expiresAt,
      },
    });
    const row = (overrides: Partial<ApiKeyView> = {}): ApiKeyView => ({
      id: keyId,
      organizationId,
      name: 'CRM sync',
      prefix: 'nf_live_ab12',
      scopes: ['contacts:read', 'contacts:write'],
      status: 'active',
      createdByType: 'user',
      createdById: creator,
      createdAt: new Date(at(0)),
      expiresAt: expiresAt === null ? null : new Date(expiresAt),
      lastUsedAt: null,
      revokedAt: null,
      revision: 0,
      ...overrides,
    });
    const used = (minutes: number) => stream.decide({ type: 'RecordApiKeyUse', data: { keyId, organizationId } }, minutes);
    const revoked = (minutes: number) => stream.decide({ type: 'RevokeApiKey', data: { keyId, organizationId } }, minutes);
    return { keyId, organizationId, tenant, created, row, used, revoked, rows: rowsOf(ApiKeyViewSchema, { tenant: organizationId }) };
  }

  it('lists a new key by its prefix and scopes (never its secret), for its organization only', async () => {
    const key = apiKey();
    const forever = apiKey(key.organizationId, null);
    const scenario = spec.given(key.created, forever.created);
    await scenario.then(rowsOf(ApiKeyViewSchema, { tenant: key.organizationId, orderBy: { expiresAt: 'asc' } }), [key.row(), forever.row()]);
    await scenario.then(rowsOf(ApiKeyViewSchema, { tenant: randomUUID() }), []);
  });

  it('shows when a key was last used and when it was revoked, at the revision of its stream', async () => {
    const key = apiKey();
    const used = [...key.used(10), ...key.used(20)];
    const revoked = key.revoked(30);
    const expected = [key.row({ status: 'revoked', lastUsedAt: new Date(at(20)), revokedAt: new Date(at(30)), revision: 3 })];
    await spec.given(key.created, used).then(key.rows, [key.row({ lastUsedAt: new Date(at(20)), revision: 2 })]);
    await spec.given(key.created, used, revoked).then(key.rows, expected);
    await spec.given(key.created).when(used, revoked).then(key.rows, expected);
    await spec.given(key.created, used, revoked).inBatchesOf(1).then(key.rows, expected);
  });

  it('parks a second creation of a key and the use of a key it never saw, and goes on', async () => {
    const key = apiKey();
    const copy = fact(`${apiKeyStream(key.keyId)}-copy`, key.created[0]!.event, key.tenant);
    const stranger = apiKey(key.organizationId);
    stranger.created.length = 0; // its creation never reached the log
    const strangerUsed = fact(
      apiKeyStream(stranger.keyId),
      { type: 'ApiKeyUsed', version: 1, data: { keyId: stranger.keyId, organizationId: key.organizationId } },
      key.tenant,
    );
    const scenario = spec.given(key.created, copy, strangerUsed, key.used(5));
    await scenario.thenParked([
      { eventType: 'ApiKeyCreated', error: /already exists/ },
      { eventType: 'ApiKeyUsed', error: /is not in the read model/ },
    ]);
    await scenario.then(key.rows, [key.row({ lastUsedAt: new Date(at(5)), revision: 1 })]);
  });
});
