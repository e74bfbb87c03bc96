import { createHash, randomBytes } from 'node:crypto';
import type { Principal } from '../../domain/access/principal.ts';
import type { ProviderId } from '../../domain/integrations/providers.ts';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';

/** How long a user has to consent at the provider and come back. */
export const OAUTH_STATE_TTL_MS = 10 * 60_000;

/** Who started a connect: the callback acts as them (and checks they still may). */
export type StateOwner = { kind: 'user'; userId: string } | { kind: 'apiKey'; keyId: string };

export interface PendingAuthorization {
  provider: ProviderId;
  organizationId: string;
  owner: StateOwner;
  redirectUri: string;
  /** The PKCE verifier (S256), where the provider takes PKCE. */
  codeVerifier: string | null;
  expiresAt: string;
}

export const ownerOf = (principal: Principal): StateOwner =>
  principal.kind === 'user' ? { kind: 'user', userId: principal.userId } : { kind: 'apiKey', keyId: principal.keyId };

export const sameOwner = (a: StateOwner, b: StateOwner): boolean =>
  a.kind === b.kind && (a.kind === 'user' ? a.userId === (b as typeof a).userId : a.keyId === (b as { keyId: string }).keyId);

/**
 * OAuth `state` values: random, bound to who started the connect and their organization, single-use, gone
 * after ten minutes. Kept in the ephemeral store, so whichever process the provider's redirect reaches can
 * complete it; keyed by the state's hash, so the store never holds a usable state.
 */
export class OAuthStates {
  constructor(
    private readonly store: EphemeralStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async begin(
    pending: Omit<PendingAuthorization, 'expiresAt' | 'codeVerifier'>,
    pkce: boolean,
  ): Promise<{ state: string; codeChallenge: string | null; expiresAt: string }> {
    const state = randomBytes(32).toString('base64url');
    const codeVerifier = pkce ? randomBytes(48).toString('base64url') : null;
    const codeChallenge = codeVerifier ? createHash('sha256').update(codeVerifier).digest('base64url') : null;
    const expiresAt = new Date(this.now().getTime() + OAUTH_STATE_TTL_MS).toISOString();
    const record: PendingAuthorization = { ...pending, codeVerifier, expiresAt };
    await this.store.set(keyOf(state), JSON.stringify(record), OAUTH_STATE_TTL_MS);
    return { state, codeChallenge, expiresAt };
  }

  /** The authorization a state stands for, without using it up; null when unknown, expired or used. */
  async peek(state: string): Promise<PendingAuthorization | null> {
    const [stored, used] = await this.store.getMany([keyOf(state), usedKeyOf(state)]);
    if (!stored || used) return null;
    const pending = JSON.parse(stored) as PendingAuthorization;
    return Date.parse(pending.expiresAt) > this.now().getTime() ? pending : null;
  }

  /** Uses the state up: true for exactly one caller, however many processes race for it. */
  async consume(state: string): Promise<boolean> {
    const won = await this.store.set(usedKeyOf(state), '1', OAUTH_STATE_TTL_MS, { onlyIfAbsent: true });
    if (won) await this.store.delete(keyOf(state));
    return won;
  }
}

const hashOf = (state: string) => createHash('sha256').update(state).digest('base64url');
const keyOf = (state: string) => `integration-oauth-state:${hashOf(state)}`;
const usedKeyOf = (state: string) => `integration-oauth-state-used:${hashOf(state)}`;
