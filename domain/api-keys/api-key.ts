import type { Permission } from '../access/permissions.ts';
import { NotFoundError } from '../errors.ts';
import type { Decider } from '../decider.ts';
import type { Actor, DomainEvent } from '../events.ts';

/**
 * An API key for a machine client of one organization. The key is shown once, at creation; only a hash of
 * its secret is recorded. Its scopes are permissions (never more than its creator held when creating it).
 */
export type ApiKeyCreated = DomainEvent<
  'ApiKeyCreated',
  {
    keyId: string;
    organizationId: string;
    name: string;
    scopes: Permission[];
    /** SHA-256 of the key's secret part (the secret has 256 bits of entropy: no slow hash needed). */
    secretHash: string;
    /** The key's first characters, so people can tell keys apart in a list. */
    prefix: string;
    createdBy: Actor;
    expiresAt: string | null;
  }
>;
/** Recorded at most once per key and interval, so "last used" is visible without an event per request. */
export type ApiKeyUsed = DomainEvent<'ApiKeyUsed', { keyId: string; organizationId: string }>;
export type ApiKeyRevoked = DomainEvent<'ApiKeyRevoked', { keyId: string; organizationId: string }>;
export type ApiKeyEvent = ApiKeyCreated | ApiKeyUsed | ApiKeyRevoked;

export const apiKeyEventTypes = ['ApiKeyCreated', 'ApiKeyUsed', 'ApiKeyRevoked'] as const satisfies readonly ApiKeyEvent['type'][];

export type ApiKey = { status: 'absent' } | ({ status: 'active' | 'revoked'; id: string } & Omit<ApiKeyCreated['data'], 'keyId'>);

export type CreateApiKey = { type: 'CreateApiKey'; data: ApiKeyCreated['data'] };
export type RecordApiKeyUse = { type: 'RecordApiKeyUse'; data: { keyId: string; organizationId: string } };
export type RevokeApiKey = { type: 'RevokeApiKey'; data: { keyId: string; organizationId: string } };
export type ApiKeyCommand = CreateApiKey | RecordApiKeyUse | RevokeApiKey;

export const apiKeyStream = (keyId: string) => `apiKey-${keyId}`;
export const initialApiKey: ApiKey = { status: 'absent' };

export function evolveApiKey(state: ApiKey, event: ApiKeyEvent): ApiKey {
  switch (event.type) {
    case 'ApiKeyCreated': {
      const { keyId, ...rest } = event.data;
      return { status: 'active', id: keyId, ...rest, scopes: [...rest.scopes] };
    }
    case 'ApiKeyUsed':
      return state;
    case 'ApiKeyRevoked':
      return state.status === 'active' ? { ...state, status: 'revoked' } : state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** A key of another organization is reported exactly like a missing one. */
function requireOwn(state: ApiKey, organizationId: string) {
  if (state.status === 'absent' || state.organizationId !== organizationId) throw new NotFoundError('API key');
  return state;
}

export function decideApiKey(command: ApiKeyCommand, state: ApiKey): ApiKeyEvent[] {
  switch (command.type) {
    case 'CreateApiKey':
      if (state.status !== 'absent') return [];
      return [{ type: 'ApiKeyCreated', version: 1, data: { ...command.data, scopes: [...command.data.scopes] } }];
    case 'RecordApiKeyUse': {
      const key = requireOwn(state, command.data.organizationId);
      if (key.status !== 'active') return [];
      return [{ type: 'ApiKeyUsed', version: 1, data: { ...command.data } }];
    }
    case 'RevokeApiKey': {
      const key = requireOwn(state, command.data.organizationId);
      if (key.status === 'revoked') return [];
      return [{ type: 'ApiKeyRevoked', version: 1, data: { ...command.data } }];
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

export const apiKeyDecider: Decider<ApiKeyCommand, ApiKey, ApiKeyEvent> = {
  decide: decideApiKey,
  evolve: evolveApiKey,
  initialState: initialApiKey,
};
