import type { EntityManager } from '@mikro-orm/postgresql';
import { apiKeyEventTypes, type ApiKeyEvent } from '../../domain/api-keys/api-key.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { ApiKeyViewSchema, type ApiKeyView } from './api-key-view.ts';

export const apiKeysProjection: Projection = {
  name: 'apiKeys',
  eventTypes: new Set(apiKeyEventTypes),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const handled = events as RecordedEvent<ApiKeyEvent>[];
    const ids = [...new Set(handled.map((event) => event.data.keyId))];
    const keys = new Map<string, ApiKeyView>((await em.find(ApiKeyViewSchema, { id: { $in: ids } }, { filters: false })).map((k) => [k.id, k]));
    for (const event of handled) {
      const at = new Date(event.metadata.occurredAt);
      if (event.type === 'ApiKeyCreated') {
        const { keyId, organizationId, name, prefix, scopes, createdBy, expiresAt } = event.data;
        if (keys.has(keyId)) throw new ProjectionError(`API key ${keyId} already exists`);
        keys.set(
          keyId,
          em.create(ApiKeyViewSchema, {
            id: keyId,
            organizationId,
            name,
            prefix,
            scopes: [...scopes],
            status: 'active',
            createdByType: createdBy.type,
            createdById: createdBy.id,
            createdAt: at,
            expiresAt: expiresAt ? new Date(expiresAt) : null,
            lastUsedAt: null,
            revokedAt: null,
            revision: event.revision,
          }),
        );
        continue;
      }
      const key = keys.get(event.data.keyId);
      if (!key) throw new ProjectionError(`API key ${event.data.keyId} is not in the read model`);
      if (event.type === 'ApiKeyUsed') key.lastUsedAt = at;
      else {
        key.status = 'revoked';
        key.revokedAt = at;
      }
      key.revision = event.revision;
    }
  },
};
