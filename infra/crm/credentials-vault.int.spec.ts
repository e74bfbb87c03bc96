import { expect } from 'chai';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import {
  CredentialsNotFoundError,
  CredentialsUnreadableError,
  CredentialsVault,
  DERIVED_KEY_ID,
  migrateCredentialsVault,
  sealingKeys,
  type IntegrationCredentials,
} from './credentials-vault.ts';

const secretA = 'first-secret-0123456789abcdef0123456789';
const secretB = 'second-secret-0123456789abcdef012345678';
const dataKey = 'data-key-0123456789abcdef0123456789abcdef';
const credentials: IntegrationCredentials = {
  accessToken: '00Dxx!AQ.access-token',
  refreshToken: '5Aep-refresh-token',
  webhookSecret: 'whsec-abc',
  expiresAt: '2026-01-01T01:00:00.000Z',
};

describe('Credentials vault: OAuth credentials sealed at rest, rotatable (real PostgreSQL)', function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let pool: pg.Pool;

  before(async () => {
    database = await createTestDatabase('nf_vault');
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
    await migrateCredentialsVault(pool);
    await migrateCredentialsVault(pool); // idempotent
  });
  after(async () => {
    await pool?.end();
    await database?.drop();
  });

  const vaultWith = (...keys: { id: string; secret: string }[]) => new CredentialsVault(pool, sealingKeys(keys, null));
  const row = async (ref: string) =>
    (
      await pool.query<{ key_id: string; sealed: string; organization_id: string }>(
        'SELECT * FROM integration_credentials WHERE credentials_ref = $1',
        [ref],
      )
    ).rows[0];

  it('stores, opens, replaces and destroys; the row holds no token, only its key id and organization', async () => {
    const vault = vaultWith({ id: 'k1', secret: secretA });
    const ref = await vault.store('org-a', credentials);
    expect(ref).to.match(/^crm-credentials:[0-9a-f-]{36}$/);
    expect(await vault.open(ref, 'org-a')).to.deep.equal(credentials);
    const stored = await row(ref);
    expect(stored).to.include({ key_id: 'k1', organization_id: 'org-a' });
    for (const secret of Object.values(credentials)) expect(stored!.sealed).not.to.include(secret);
    const { sealedAt } = await vault.openEntry(ref, 'org-a');
    expect(sealedAt).to.be.instanceOf(Date);

    const refreshed = { ...credentials, accessToken: 'new-access', refreshToken: null };
    await vault.replace(ref, 'org-a', refreshed);
    expect(await vault.open(ref, 'org-a')).to.deep.equal(refreshed);

    await vault.destroy(ref);
    await vault.destroy(ref); // already gone: fine
    await expectRejection(vault.open(ref, 'org-a'), CredentialsNotFoundError);
    await expectRejection(vault.replace(ref, 'org-a', credentials), CredentialsNotFoundError);
  });

  it("never opens another organization's credentials, nor a sealed value moved to another row", async () => {
    const vault = vaultWith({ id: 'k1', secret: secretA });
    const ref = await vault.store('org-a', credentials);
    const other = await vault.store('org-b', { ...credentials, accessToken: 'b-token' });
    await expectRejection(vault.open(ref, 'org-b'), CredentialsNotFoundError);
    await expectRejection(vault.replace(ref, 'org-b', credentials), CredentialsNotFoundError);

    await pool.query('UPDATE integration_credentials SET sealed = $2 WHERE credentials_ref = $1', [other, (await row(ref))!.sealed]);
    await expectRejection(vault.open(other, 'org-b'), CredentialsUnreadableError);
  });

  it('rotates: a new key first seals, the old one still opens, reseal rewrites old rows, then the old key can go', async () => {
    const before = vaultWith({ id: 'k1', secret: secretA });
    const refs = await Promise.all(Array.from({ length: 5 }, (_, i) => before.store('org-r', { ...credentials, accessToken: `t-${i}` })));

    const during = vaultWith({ id: 'k2', secret: secretB }, { id: 'k1', secret: secretA });
    expect((await during.open(refs[0]!, 'org-r')).accessToken).to.equal('t-0');
    const fresh = await during.store('org-r', credentials);
    expect((await row(fresh))!.key_id).to.equal('k2');

    const report = await during.reseal(2);
    // (the row an earlier test tampered with stays unreadable)
    expect(report.unreadable).to.have.length(1);
    expect(report.unreadable).not.to.include.members(refs);
    expect(report.resealed).to.be.at.least(refs.length);
    for (const ref of refs) expect((await row(ref))!.key_id).to.equal('k2');
    expect((await during.reseal()).resealed).to.equal(0);

    const after = vaultWith({ id: 'k2', secret: secretB });
    expect(await Promise.all(refs.map(async (ref) => (await after.open(ref, 'org-r')).accessToken))).to.deep.equal(refs.map((_, i) => `t-${i}`));
  });

  it('reports rows under a key it does not hold instead of losing them', async () => {
    const stranger = vaultWith({ id: 'lost', secret: 'lost-secret-0123456789abcdef0123456' });
    const ref = await stranger.store('org-x', credentials);
    const vault = vaultWith({ id: 'k3', secret: secretA });
    await expectRejection(vault.open(ref, 'org-x'), CredentialsUnreadableError);
    expect((await vault.reseal()).unreadable).to.include(ref);
    expect((await row(ref))!.key_id).to.equal('lost');
  });

  it('without CREDENTIALS_KEYS seals under a key derived from the data key, which stays an opening key once keys are configured', async () => {
    const derived = new CredentialsVault(pool, sealingKeys(undefined, dataKey));
    const ref = await derived.store('org-d', credentials);
    expect((await row(ref))!.key_id).to.equal(DERIVED_KEY_ID);

    const configured = new CredentialsVault(pool, sealingKeys([{ id: 'k9', secret: secretB }], dataKey));
    expect(await configured.open(ref, 'org-d')).to.deep.equal(credentials);
    await configured.reseal();
    expect((await row(ref))!.key_id).to.equal('k9');
    expect(() => sealingKeys(undefined, null)).to.throw(/CREDENTIALS_KEYS/);
  });
});

async function expectRejection(promise: Promise<unknown>, type: new (...args: never[]) => Error): Promise<void> {
  const caught = await promise.then(
    () => null,
    (err: unknown) => err,
  );
  expect(caught).to.be.instanceOf(type);
}
