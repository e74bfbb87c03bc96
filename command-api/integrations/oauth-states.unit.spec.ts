import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { InProcessEphemeralStore } from '../../infra/ephemeral/in-process-ephemeral-store.ts';
import { OAUTH_STATE_TTL_MS, OAuthStates, sameOwner } from './oauth-states.ts';

describe('OAuth states: random, bound to who started, single-use, ten minutes', () => {
  let clock = Date.parse('2026-03-01T10:00:00Z');
  const store = new InProcessEphemeralStore(() => clock);
  const states = new OAuthStates(store, () => new Date(clock));
  const pending = {
    provider: 'salesforce' as const,
    organizationId: 'org-1',
    owner: { kind: 'user' as const, userId: 'u-1' },
    redirectUri: 'https://x/cb',
  };

  after(() => store.close());

  it('makes a fresh state and an S256 challenge of a verifier it keeps', async () => {
    const a = await states.begin(pending, true);
    const b = await states.begin(pending, true);
    expect(a.state).to.not.equal(b.state);
    expect(a.state.length).to.be.at.least(43);
    const kept = await states.peek(a.state);
    expect(kept).to.deep.include({ ...pending, expiresAt: new Date(clock + OAUTH_STATE_TTL_MS).toISOString() });
    expect(createHash('sha256').update(kept!.codeVerifier!).digest('base64url')).to.equal(a.codeChallenge);
    const plain = await states.begin({ ...pending, provider: 'hubspot' }, false);
    expect(plain.codeChallenge).to.equal(null);
    expect((await states.peek(plain.state))!.codeVerifier).to.equal(null);
  });

  it('is used up once, whoever races for it', async () => {
    const { state } = await states.begin(pending, false);
    const wins = await Promise.all([states.consume(state), states.consume(state), states.consume(state)]);
    expect(wins.filter(Boolean)).to.have.length(1);
    expect(await states.peek(state)).to.equal(null);
    expect(await states.peek('never-issued')).to.equal(null);
  });

  it('expires after ten minutes', async () => {
    const { state } = await states.begin(pending, false);
    clock += OAUTH_STATE_TTL_MS - 1;
    expect(await states.peek(state)).to.not.equal(null);
    clock += 1;
    expect(await states.peek(state)).to.equal(null);
  });

  it('tells owners apart', () => {
    expect(sameOwner({ kind: 'user', userId: 'a' }, { kind: 'user', userId: 'a' })).to.equal(true);
    expect(sameOwner({ kind: 'user', userId: 'a' }, { kind: 'user', userId: 'b' })).to.equal(false);
    expect(sameOwner({ kind: 'user', userId: 'a' }, { kind: 'apiKey', keyId: 'a' })).to.equal(false);
  });
});
