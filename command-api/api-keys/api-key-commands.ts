import { randomUUID } from 'node:crypto';
import { permissionsOf, type Permission } from '../../domain/access/permissions.ts';
import { holds, type Principal } from '../../domain/access/principal.ts';
import { apiKeyDecider, apiKeyStream, type ApiKey } from '../../domain/api-keys/api-key.ts';
import { ForbiddenError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import { composeApiKey, newSecret, sha256 } from '../../infra/auth/secret-tokens.ts';
import type { SessionRevocations } from '../auth/ports.ts';
import type { CommandHandler, CommandOutcome } from '../command-handling.ts';

export interface NewApiKey {
  name: string;
  /** Absent: every permission the creator holds that a key may have. */
  scopes?: Permission[];
  expiresAt?: string | null;
}

export interface CreatedApiKey extends CommandOutcome<ApiKey> {
  id: string;
  /** The whole key: shown this once, never again (only its hash is kept). */
  key: string;
  prefix: string;
  scopes: Permission[];
}

/**
 * API keys for machine clients: created with scopes (never beyond what the creator holds at that moment: a
 * user's role, or for a key its effective scopes, already narrowed to what its own creator holds now),
 * revocable at once. Using a key narrows it again to its creator's current grant (see ApiKeyVerifier).
 */
export class ApiKeyCommands {
  constructor(
    private readonly handler: CommandHandler,
    private readonly revocations: SessionRevocations,
    /** Drops a revoked key from this process's cache at once (other processes see its mark). */
    private readonly forget: (keyId: string) => void,
  ) {}

  async create(principal: Principal, context: CommandContext, request: NewApiKey): Promise<CreatedApiKey> {
    const grantable = principal.kind === 'user' ? permissionsOf(principal.role).filter((p) => p !== 'account:self') : [...principal.scopes];
    const scopes = [...new Set(request.scopes ?? grantable)].sort();
    const beyond = scopes.filter((scope) => !holds(principal, scope));
    if (beyond.length > 0) {
      throw new ForbiddenError(`You cannot grant permissions you do not hold: ${beyond.join(', ')}`, 'scope_not_allowed', 'scopes');
    }
    const keyId = randomUUID();
    const secret = newSecret();
    const key = composeApiKey(keyId, secret);
    const prefix = key.slice(0, 12);
    const outcome = await this.handler.handle(
      apiKeyStream(keyId),
      apiKeyDecider,
      {
        type: 'CreateApiKey',
        data: {
          keyId,
          organizationId: principal.organizationId,
          name: request.name,
          scopes,
          secretHash: sha256(secret),
          prefix,
          createdBy: context.actor,
          expiresAt: request.expiresAt ?? null,
        },
      },
      context,
      { newStream: true },
    );
    return { ...outcome, id: keyId, key, prefix, scopes };
  }

  async revoke(principal: Principal, context: CommandContext, keyId: string): Promise<CommandOutcome<ApiKey>> {
    const outcome = await this.handler.handle(
      apiKeyStream(keyId),
      apiKeyDecider,
      { type: 'RevokeApiKey', data: { keyId, organizationId: principal.organizationId } },
      context,
    );
    await this.revocations.revokeApiKey(keyId);
    this.forget(keyId);
    return outcome;
  }

  /** "Last used", recorded by the authenticator at most once per interval. */
  async recordUse(key: { keyId: string; organizationId: string }, context: CommandContext): Promise<void> {
    await this.handler.handle(apiKeyStream(key.keyId), apiKeyDecider, { type: 'RecordApiKeyUse', data: key }, context);
  }
}
