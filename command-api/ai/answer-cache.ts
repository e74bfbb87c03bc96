import { createHash } from 'node:crypto';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';

/**
 * AI answers kept in Redis (or the in-process stand-in), keyed by the organization, the endpoint, the prompt's
 * version, the model alias and the normalized request: the same question asked again within the TTL is
 * answered without a provider call (and without tokens). Per organization: a cached answer never crosses
 * tenants, not even as a timing hint.
 */
export class AnswerCache {
  constructor(
    private readonly store: EphemeralStore,
    private readonly ttlMs: number,
  ) {}

  keyOf(parts: { organizationId: string; endpoint: string; prompt: string; alias: string; request: unknown }): string {
    const normalized = JSON.stringify([parts.organizationId, parts.endpoint, parts.prompt, parts.alias, normalize(parts.request)]);
    return `ai-answer:${createHash('sha256').update(normalized).digest('base64url')}`;
  }

  async get<T>(key: string): Promise<T | null> {
    const value = await this.store.get(key);
    return value === null ? null : (JSON.parse(value) as T);
  }

  async set(key: string, value: unknown): Promise<void> {
    await this.store.set(key, JSON.stringify(value), this.ttlMs);
  }
}

/** Object keys sorted, strings trimmed with their runs of white space made one space: the same request, however sent. */
export function normalize(value: unknown): unknown {
  if (typeof value === 'string') return value.trim().replace(/\s+/g, ' ');
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, normalize(v)]),
    );
  }
  return value;
}
