import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { CommandHandler } from '../../command-api/command-handling.ts';
import { membershipOf } from '../../command-api/users/membership.ts';
import type { Permission, Role } from '../../domain/access/permissions.ts';
import type { Actor, CommandContext } from '../../domain/events.ts';
import { apiKeyDecider, apiKeyStream } from '../../domain/api-keys/api-key.ts';
import { organizationDecider, organizationStream, type OrganizationCommand } from '../../domain/organizations/organization.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { openStores, silentLogger } from '../../test/support/stores.ts';
import type { CounterStep, EphemeralStore, SlotWindow } from '../ephemeral/ephemeral-store.ts';
import { InProcessEphemeralStore } from '../ephemeral/in-process-ephemeral-store.ts';
import { ApiKeyVerifier } from './api-key-verifier.ts';
import { composeApiKey, newSecret, sha256 } from './secret-tokens.ts';
import { SessionRevocations } from './session-revocations.ts';

/** The real in-process store, counting the calls (each a round trip on Redis) made to it. */
class CountingStore implements EphemeralStore {
  calls: string[] = [];

  constructor(private readonly inner: EphemeralStore) {}

  private note<T>(name: string, result: Promise<T>): Promise<T> {
    this.calls.push(name);
    return result;
  }

  get(key: string) {
    return this.note('get', this.inner.get(key));
  }

  getMany(keys: readonly string[]) {
    return this.note('getMany', this.inner.getMany(keys));
  }

  set(key: string, value: string, ttlMs: number, options?: { onlyIfAbsent?: boolean }) {
    return this.note('set', this.inner.set(key, value, ttlMs, options));
  }

  increment(key: string, ttlMs: number, by?: number) {
    return this.note('increment', this.inner.increment(key, ttlMs, by));
  }

  incrementAndPeek(key: string, ttlMs: number, peekKey: string) {
    return this.note('incrementAndPeek', this.inner.incrementAndPeek(key, ttlMs, peekKey));
  }

  gatewayRound(marks: readonly string[], counters: readonly CounterStep[]) {
    return this.note('gatewayRound', this.inner.gatewayRound(marks, counters));
  }

  takeSlots(windows: readonly SlotWindow[]) {
    return this.note('takeSlots', this.inner.takeSlots(windows));
  }

  ttl(key: string) {
    return this.note('ttl', this.inner.ttl(key));
  }

  delete(key: string) {
    return this.note('delete', this.inner.delete(key));
  }

  close() {
    return this.inner.close();
  }
}

describe("API key verifier: a key follows its creator's grant, in one ephemeral-store round trip per request (real PostgreSQL)", function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let stores: Awaited<ReturnType<typeof openStores>>;
  let handler: CommandHandler;
  const ephemeral = new CountingStore(new InProcessEphemeralStore());
  const revocations = new SessionRevocations(ephemeral, 60_000, 30_000);
  let verifier: ApiKeyVerifier;

  before(async () => {
    database = await createTestDatabase('nf_keys');
    stores = await openStores(database.url);
    handler = new CommandHandler(stores.store);
    verifier = new ApiKeyVerifier(
      stores.store,
      revocations,
      ephemeral,
      (organizationId, userId) => membershipOf(handler, organizationId, userId),
      async () => undefined,
      silentLogger,
      // "Last used" once an hour, so that only the checks themselves touch the store below.
      { cacheMs: 30_000, usageResolutionMs: 3_600_000 },
    );
  });
  after(async () => {
    await ephemeral.close();
    await stores?.close();
    await database?.drop();
  });

  const context = (organizationId: string, actor: Actor = { type: 'system', id: 'test' }): CommandContext => ({
    tenantId: organizationId,
    actor,
    correlationId: randomUUID(),
    causationId: randomUUID(),
    now: new Date(),
  });

  async function organization(command: OrganizationCommand, organizationId: string): Promise<void> {
    await handler.handle(organizationStream(organizationId), organizationDecider, command, context(organizationId));
  }

  /** An organization with an owner and a member of `role` (who joined through an accepted invitation). */
  async function team(role: Role): Promise<{ organizationId: string; memberId: string }> {
    const organizationId = randomUUID();
    const memberId = randomUUID();
    const invitationId = randomUUID();
    const now = new Date().toISOString();
    await organization(
      {
        type: 'CreateOrganization',
        data: { organizationId, name: 'Keys', ownerUserId: randomUUID(), timezone: 'UTC', ownerEmail: 'owner@example.com', trialEndsAt: null },
      },
      organizationId,
    );
    await organization(
      {
        type: 'InviteMember',
        data: {
          organizationId,
          invitationId,
          email: `${memberId}@example.com`,
          role,
          userId: memberId,
          secretHash: sha256('s'),
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          invitedBy: 'owner',
          byRole: 'owner',
          now,
        },
      },
      organizationId,
    );
    await organization({ type: 'AcceptInvitation', data: { organizationId, invitationId, secretHash: sha256('s'), now } }, organizationId);
    return { organizationId, memberId };
  }

  async function createKey(organizationId: string, createdBy: Actor, scopes: Permission[]): Promise<{ keyId: string; key: string }> {
    const keyId = randomUUID();
    const secret = newSecret();
    const key = composeApiKey(keyId, secret);
    await handler.handle(
      apiKeyStream(keyId),
      apiKeyDecider,
      {
        type: 'CreateApiKey',
        data: { keyId, organizationId, name: 'k', scopes, secretHash: sha256(secret), prefix: key.slice(0, 12), createdBy, expiresAt: null },
      },
      context(organizationId, createdBy),
      { newStream: true },
    );
    return { keyId, key };
  }

  /** Verifies and answers the principal's scopes (null: refused) and the store calls the verification made. */
  async function verify(key: string): Promise<{ scopes: readonly Permission[] | null; calls: string[] }> {
    ephemeral.calls = [];
    const principal = await verifier.verify(key, { ip: '127.0.0.1' });
    return { scopes: principal?.scopes ?? null, calls: ephemeral.calls };
  }

  it("narrows a key to its creator's current role at once, and refuses it while the creator is deactivated, with one round trip per request", async () => {
    const { organizationId, memberId } = await team('admin');
    const { key } = await createKey(organizationId, { type: 'user', id: memberId }, ['contacts:read', 'contacts:write', 'apiKeys:manage']);

    const first = await verify(key);
    expect(first.scopes).to.deep.equal(['contacts:read', 'contacts:write', 'apiKeys:manage']);
    const cached = await verify(key);
    expect(cached.scopes).to.deep.equal(first.scopes);
    expect(cached.calls, 'a cached key: one round trip').to.deep.equal(['getMany']);

    await organization({ type: 'ChangeMemberRole', data: { organizationId, userId: memberId, role: 'viewer', byRole: 'owner' } }, organizationId);
    await revocations.revokeUser(memberId);
    const demoted = await verify(key);
    expect(demoted.scopes, 'at once, though cached').to.deep.equal(['contacts:read']);
    expect(demoted.calls).to.deep.equal(['getMany']);
    expect((await verify(key)).calls, 'read again once per change, not on every request').to.deep.equal(['getMany']);

    await organization({ type: 'DeactivateMember', data: { organizationId, userId: memberId, byRole: 'owner' } }, organizationId);
    await revocations.revokeUser(memberId);
    expect((await verify(key)).scopes, 'a deactivated creator: refused').to.equal(null);
    await organization({ type: 'ReactivateMember', data: { organizationId, userId: memberId, byRole: 'owner' } }, organizationId);
    await revocations.revokeUser(memberId);
    expect((await verify(key)).scopes).to.deep.equal(['contacts:read']);
  });

  it('narrows a key made by a key to what that key holds now, and refuses it once that key is revoked', async () => {
    const { organizationId, memberId } = await team('admin');
    const parent = await createKey(organizationId, { type: 'user', id: memberId }, ['contacts:read', 'apiKeys:manage', 'users:read']);
    const child = await createKey(organizationId, { type: 'apiKey', id: parent.keyId }, ['contacts:read', 'contacts:write', 'users:read']);
    const grandchild = await createKey(organizationId, { type: 'apiKey', id: child.keyId }, ['users:read', 'contacts:write']);
    expect((await verify(child.key)).scopes, 'never more than its maker holds').to.deep.equal(['contacts:read', 'users:read']);
    expect((await verify(grandchild.key)).scopes).to.deep.equal(['users:read']);
    expect((await verify(grandchild.key)).calls, 'one round trip for the whole chain').to.deep.equal(['getMany']);

    await revocations.revokeApiKey(parent.keyId);
    expect((await verify(child.key)).scopes).to.equal(null);
    expect((await verify(grandchild.key)).scopes).to.equal(null);
  });

  it('refuses a key whose chain does not lead to a member', async () => {
    const { organizationId } = await team('member');
    const { key } = await createKey(organizationId, { type: 'user', id: randomUUID() }, ['contacts:read']);
    expect((await verify(key)).scopes).to.equal(null);
    const bySystem = await createKey(organizationId, { type: 'system', id: 'seed' }, ['contacts:read']);
    expect((await verify(bySystem.key)).scopes).to.equal(null);
  });
});
