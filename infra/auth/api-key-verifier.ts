import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { EventStreams } from '../../command-api/ports.ts';
import type { Principal } from '../../domain/access/principal.ts';
import { apiKeyDecider, apiKeyStream, type ApiKeyEvent } from '../../domain/api-keys/api-key.ts';
import { fold } from '../../domain/decider.ts';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';
import { parseApiKey, sameHash } from './secret-tokens.ts';
import type { SessionRevocations } from './session-revocations.ts';

export interface ApiKeyVerifierOptions {
  /** How long a verified key is trusted before its stream is read again (a revocation mark covers the gap). */
  cacheMs: number;
  /** "Last used" is recorded at most once per key and interval. */
  usageResolutionMs: number;
}

type ApiKeyPrincipal = Extract<Principal, { kind: 'apiKey' }>;

/**
 * API keys, checked against their own stream (the source of truth: a key works the moment it is created),
 * then trusted for a short while; a revoked key is refused at once through its revocation mark. Usage is
 * recorded as an event at most once per interval per key (across processes, through the ephemeral store),
 * so "last used" is visible without writing on every request.
 */
export class ApiKeyVerifier {
  private readonly verified: LRUCache<string, ApiKeyPrincipal & { expiresAt: number | null }>;
  private readonly lastRecorded = new Map<string, number>();

  constructor(
    private readonly streams: Pick<EventStreams, 'readStream'>,
    private readonly revocations: SessionRevocations,
    private readonly store: EphemeralStore,
    private readonly recordUse: (key: ApiKeyPrincipal, request: { ip: string }) => Promise<void>,
    private readonly logger: Logger,
    private readonly options: ApiKeyVerifierOptions,
  ) {
    this.verified = new LRUCache({ max: 10_000, ttl: options.cacheMs });
  }

  async verify(token: string, request: { ip: string }): Promise<ApiKeyPrincipal | null> {
    // The cache is keyed by the whole key, so a hit needs neither parsing nor hashing.
    let known = this.verified.get(token);
    if (!known) {
      const parsed = parseApiKey(token);
      if (!parsed) return null;
      const events = await this.streams.readStream(apiKeyStream(parsed.keyId));
      const key = fold(apiKeyDecider, events as unknown as ApiKeyEvent[]);
      if (key.status !== 'active' || !sameHash(parsed.secretHash, key.secretHash)) return null;
      known = {
        kind: 'apiKey',
        keyId: key.id,
        organizationId: key.organizationId,
        scopes: key.scopes,
        expiresAt: key.expiresAt ? Date.parse(key.expiresAt) : null,
      };
      this.verified.set(token, known);
    }
    if (known.expiresAt !== null && known.expiresAt <= Date.now()) return null;
    if (await this.revocations.isApiKeyRevoked(known.keyId)) {
      this.verified.delete(token);
      return null;
    }
    const { expiresAt: _expiresAt, ...principal } = known;
    this.noteUse(principal, request);
    return principal;
  }

  /** Forget a key at once in this process (other processes see its revocation mark). */
  forget(keyId: string): void {
    for (const [token, principal] of this.verified.entries()) if (principal.keyId === keyId) this.verified.delete(token);
  }

  /** Off the request's path: a failure to record usage must never fail the request. */
  private noteUse(key: ApiKeyPrincipal, request: { ip: string }): void {
    const now = Date.now();
    if (now - (this.lastRecorded.get(key.keyId) ?? 0) < this.options.usageResolutionMs) return;
    this.lastRecorded.set(key.keyId, now);
    if (this.lastRecorded.size > 10_000) this.lastRecorded.clear();
    void (async () => {
      const first = await this.store.set(`apiKey:used:${key.keyId}`, String(now), this.options.usageResolutionMs, { onlyIfAbsent: true });
      if (first) await this.recordUse(key, request);
    })().catch((err: unknown) => this.logger.warn({ err, keyId: key.keyId }, 'could not record API key usage'));
  }
}
