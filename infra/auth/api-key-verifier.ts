import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { EventStreams } from '../../command-api/ports.ts';
import { permissionsOf, type Permission, type Role } from '../../domain/access/permissions.ts';
import type { Principal } from '../../domain/access/principal.ts';
import { apiKeyDecider, apiKeyStream, type ApiKey, type ApiKeyEvent } from '../../domain/api-keys/api-key.ts';
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

/** A user's role and status in an organization, from the organization's stream (the source of truth). */
export type MembershipLookup = (organizationId: string, userId: string) => Promise<{ role: Role; active: boolean } | null>;

type ApiKeyPrincipal = Extract<Principal, { kind: 'apiKey' }>;

/** Keys made by keys made by keys...: a chain longer than this is refused (none is made in practice). */
const MAX_CHAIN = 16;

/**
 * What a key may do, as last read from its streams: its own scopes narrowed by every key up its chain, and
 * the role of the user at the root of that chain when read.
 */
interface Grant {
  keyId: string;
  organizationId: string;
  /** This key, the key that created it, ... up to the one a user created. */
  chain: string[];
  /** The user the chain goes back to. */
  userId: string;
  /** The intersection of the stored scopes along the chain. */
  chainScopes: Permission[];
  /** The earliest expiry along the chain (ms since epoch), or null. */
  expiresAt: number | null;
  /** The user's role while they are an active member; null when they are not (deactivated, removed). */
  role: Role | null;
  /** The user's access-change mark when the role was read: a different mark means read it again. */
  userMark: string | null;
}

/**
 * API keys, checked against their own stream (the source of truth: a key works the moment it is created),
 * then trusted for a short while. A key acts with at most what its creator may do NOW: its effective scopes
 * are its scopes, narrowed by the key that created it (for a key made by a key, up the chain to the user who
 * made the first), narrowed by that user's current role; while that user is not an active member, the key
 * is refused. Every request reads, in ONE round trip of the ephemeral store, the revocation marks of the
 * key's chain and the access-change mark of its user: a revoked key is refused at once, and a role change or
 * deactivation (which sets the user's mark) makes the cached grant be read again at once. Usage is recorded
 * as an event at most once per interval per key (across processes, through the ephemeral store), so "last
 * used" is visible without writing on every request.
 */
export class ApiKeyVerifier {
  private readonly verified: LRUCache<string, Grant>;
  private readonly lastRecorded = new Map<string, number>();

  constructor(
    private readonly streams: Pick<EventStreams, 'readStream'>,
    private readonly revocations: SessionRevocations,
    private readonly store: EphemeralStore,
    private readonly membershipOf: MembershipLookup,
    private readonly recordUse: (key: ApiKeyPrincipal, request: { ip: string }) => Promise<void>,
    private readonly logger: Logger,
    private readonly options: ApiKeyVerifierOptions,
  ) {
    this.verified = new LRUCache({ max: 10_000, ttl: options.cacheMs });
  }

  async verify(token: string, request: { ip: string }): Promise<ApiKeyPrincipal | null> {
    // The cache is keyed by the whole key, so a hit needs neither parsing nor hashing.
    let grant = this.verified.get(token);
    if (!grant) {
      const parsed = parseApiKey(token);
      if (!parsed) return null;
      const key = await this.readKey(parsed.keyId);
      if (key.status !== 'active' || !sameHash(parsed.secretHash, key.secretHash)) return null;
      const chain = await this.resolveChain(key);
      if (!chain) return null;
      // The marks before the membership: a change whose mark we see is in the stream we read next.
      const marks = await this.revocations.apiKeyMarks(chain.keyIds, chain.userId);
      if (marks.keyRevoked) return null;
      grant = {
        keyId: key.id,
        organizationId: key.organizationId,
        chain: chain.keyIds,
        userId: chain.userId,
        chainScopes: chain.scopes,
        expiresAt: chain.expiresAt,
        role: await this.activeRole(key.organizationId, chain.userId),
        userMark: marks.userMark,
      };
      this.verified.set(token, grant);
    } else {
      const marks = await this.revocations.apiKeyMarks(grant.chain, grant.userId);
      if (marks.keyRevoked) {
        this.verified.delete(token);
        return null;
      }
      if (marks.userMark !== grant.userMark) {
        // The creator's role or status changed since the grant was read: read it again (once per change).
        grant = { ...grant, role: await this.activeRole(grant.organizationId, grant.userId), userMark: marks.userMark };
        this.verified.set(token, grant, { noUpdateTTL: true });
      }
    }
    if (grant.expiresAt !== null && grant.expiresAt <= Date.now()) return null;
    if (grant.role === null) return null;
    const allowed = new Set(permissionsOf(grant.role));
    const principal: ApiKeyPrincipal = {
      kind: 'apiKey',
      keyId: grant.keyId,
      organizationId: grant.organizationId,
      scopes: grant.chainScopes.filter((scope) => allowed.has(scope)),
    };
    this.noteUse(principal, request);
    return principal;
  }

  /** Forget a key, and the keys it made, at once in this process (other processes see its revocation mark). */
  forget(keyId: string): void {
    for (const [token, grant] of this.verified.entries()) if (grant.chain.includes(keyId)) this.verified.delete(token);
  }

  private async readKey(keyId: string): Promise<ApiKey> {
    const events = await this.streams.readStream(apiKeyStream(keyId));
    return fold(apiKeyDecider, events as unknown as ApiKeyEvent[]);
  }

  /**
   * Up the chain of creators to the user who made the first key: every key on it must be active, of the same
   * organization, and its scopes and expiry narrow the key's. A chain that ends anywhere but at a user (a
   * key made by staff or the system) grants nothing: null.
   */
  private async resolveChain(
    key: Extract<ApiKey, { status: 'active' | 'revoked' }>,
  ): Promise<{ keyIds: string[]; userId: string; scopes: Permission[]; expiresAt: number | null } | null> {
    const keyIds = [key.id];
    let scopes = [...key.scopes];
    let expiresAt = key.expiresAt ? Date.parse(key.expiresAt) : null;
    let creator = key.createdBy;
    while (creator.type === 'apiKey') {
      if (keyIds.length >= MAX_CHAIN || keyIds.includes(creator.id)) return null;
      const parent = await this.readKey(creator.id);
      if (parent.status !== 'active' || parent.organizationId !== key.organizationId) return null;
      keyIds.push(parent.id);
      const held = new Set(parent.scopes);
      scopes = scopes.filter((scope) => held.has(scope));
      if (parent.expiresAt) expiresAt = Math.min(expiresAt ?? Number.POSITIVE_INFINITY, Date.parse(parent.expiresAt));
      creator = parent.createdBy;
    }
    if (creator.type !== 'user') return null;
    return { keyIds, userId: creator.id, scopes, expiresAt };
  }

  private async activeRole(organizationId: string, userId: string): Promise<Role | null> {
    const membership = await this.membershipOf(organizationId, userId);
    return membership?.active ? membership.role : null;
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
