import { hkdfSync, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { openAesGcm, sealAesGcm } from '../crypto/aes-gcm.ts';

/**
 * The OAuth credentials of CRM integrations, sealed at rest. Events carry only the reference
 * (`credentialsRef`); the tokens live here, each row sealed with AES-256-GCM under the vault's current key and
 * bound (as additional data) to its reference, organization and key id, so a sealed value copied to another
 * row or organization does not open.
 *
 * Rotation: operators put a new key first in CREDENTIALS_KEYS (every listed key still opens), restart, then
 * run {@link CredentialsVault.reseal}, which rewrites every row sealed under another key; the old key can go
 * once it reports nothing left.
 */
export interface IntegrationCredentials {
  accessToken: string;
  /** Null where the provider issued none (a grant that cannot be refreshed). */
  refreshToken: string | null;
  /** The integration's own secret for webhook signatures (providers that sign with a per-subscription secret). */
  webhookSecret: string;
  /** When the access token expires (ISO 8601): kept with it, so every process sees a refresh at once. */
  expiresAt: string;
}

/** Credentials as opened, with when they were last sealed (a refresh or the connect). */
export interface OpenedCredentials {
  credentials: IntegrationCredentials;
  sealedAt: Date;
}

export interface SealingKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

/** A reference the vault does not hold, or one of another organization (reported alike). */
export class CredentialsNotFoundError extends Error {
  constructor(readonly credentialsRef: string) {
    super(`No sealed credentials ${credentialsRef}`);
    this.name = 'CredentialsNotFoundError';
  }
}

/** Sealed under a key this process was not given (or altered): never silently treated as absent. */
export class CredentialsUnreadableError extends Error {
  constructor(
    readonly credentialsRef: string,
    readonly keyId: string,
  ) {
    super(`The credentials ${credentialsRef} are sealed under key ${keyId}, which CREDENTIALS_KEYS does not hold (or they were altered)`);
    this.name = 'CredentialsUnreadableError';
  }
}

export const credentialsVaultSchemaSql = `CREATE TABLE IF NOT EXISTS integration_credentials (
  credentials_ref text PRIMARY KEY,
  organization_id text NOT NULL,
  key_id text NOT NULL,
  sealed text NOT NULL,
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS integration_credentials_key_id ON integration_credentials (key_id)`;

/** Creates the vault's table (idempotent), serialized across processes migrating at once. */
export async function migrateCredentialsVault(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('nexusflow:integration_credentials'))");
    await client.query(credentialsVaultSchemaSql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** The key id of the key derived from the data key when CREDENTIALS_KEYS is unset. */
export const DERIVED_KEY_ID = 'derived';
const HKDF_SALT = 'nexusflow-crm-credentials';

/**
 * The vault's keys from configuration: the configured ones (first seals), then the key derived from the data
 * key (DATA_ENCRYPTION_KEY or JWT_SECRET) when there is one, so rows sealed before CREDENTIALS_KEYS was set
 * still open and can be resealed.
 */
export function sealingKeys(configured: readonly { id: string; secret: string }[] | undefined, dataKey: string | null): SealingKey[] {
  const keys = (configured ?? []).map(({ id, secret }) => ({ id, key: derive(secret, `configured:${id}`) }));
  if (dataKey && !keys.some((key) => key.id === DERIVED_KEY_ID)) keys.push({ id: DERIVED_KEY_ID, key: derive(dataKey, 'derived') });
  if (keys.length === 0) throw new Error('No key for integration credentials: set CREDENTIALS_KEYS or DATA_ENCRYPTION_KEY (or JWT_SECRET)');
  return keys;
}

function derive(secret: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, info, 32));
}

interface Row {
  credentials_ref: string;
  organization_id: string;
  key_id: string;
  sealed: string;
  version: number;
  updated_at: Date;
}

export interface ResealReport {
  resealed: number;
  /** Rows under a key this process does not hold: they stay as they are (add that key back to open them). */
  unreadable: string[];
}

export class CredentialsVault {
  private readonly byId: Map<string, SealingKey>;
  private readonly current: SealingKey;

  constructor(
    private readonly pool: Pick<pg.Pool, 'query'>,
    keys: readonly SealingKey[],
  ) {
    if (keys.length === 0) throw new Error('the credentials vault needs at least one key');
    this.current = keys[0]!;
    this.byId = new Map(keys.map((key) => [key.id, key]));
  }

  /** Seals new credentials; answers their reference. */
  async store(organizationId: string, credentials: IntegrationCredentials): Promise<string> {
    const credentialsRef = `crm-credentials:${randomUUID()}`;
    await this.pool.query('INSERT INTO integration_credentials (credentials_ref, organization_id, key_id, sealed) VALUES ($1, $2, $3, $4)', [
      credentialsRef,
      organizationId,
      this.current.id,
      this.seal(credentialsRef, organizationId, this.current, credentials),
    ]);
    return credentialsRef;
  }

  /** Replaces what a reference holds (refreshed tokens), sealed under the current key. */
  async replace(credentialsRef: string, organizationId: string, credentials: IntegrationCredentials): Promise<void> {
    const { rowCount } = await this.pool.query(
      `UPDATE integration_credentials SET key_id = $3, sealed = $4, version = version + 1, updated_at = now()
       WHERE credentials_ref = $1 AND organization_id = $2`,
      [credentialsRef, organizationId, this.current.id, this.seal(credentialsRef, organizationId, this.current, credentials)],
    );
    if (rowCount === 0) throw new CredentialsNotFoundError(credentialsRef);
  }

  async open(credentialsRef: string, organizationId: string): Promise<IntegrationCredentials> {
    return (await this.openEntry(credentialsRef, organizationId)).credentials;
  }

  async openEntry(credentialsRef: string, organizationId: string): Promise<OpenedCredentials> {
    const { rows } = await this.pool.query<Row>(
      'SELECT credentials_ref, organization_id, key_id, sealed, version, updated_at FROM integration_credentials WHERE credentials_ref = $1',
      [credentialsRef],
    );
    const row = rows[0];
    if (!row || row.organization_id !== organizationId) throw new CredentialsNotFoundError(credentialsRef);
    return { credentials: this.unseal(row), sealedAt: row.updated_at };
  }

  /** Gone for good (disconnect); destroying a reference already gone is not an error. */
  async destroy(credentialsRef: string): Promise<void> {
    await this.pool.query('DELETE FROM integration_credentials WHERE credentials_ref = $1', [credentialsRef]);
  }

  /**
   * Rewrites every row sealed under a key other than the current one. A row replaced meanwhile (a refresh
   * sealed it under the current key already) is left alone: the update holds only for the version read.
   */
  async reseal(batchSize = 200): Promise<ResealReport> {
    let resealed = 0;
    const unreadable: string[] = [];
    let after = '';
    for (;;) {
      const { rows } = await this.pool.query<Row>(
        `SELECT credentials_ref, organization_id, key_id, sealed, version, updated_at FROM integration_credentials
         WHERE key_id <> $1 AND credentials_ref > $2 ORDER BY credentials_ref LIMIT $3`,
        [this.current.id, after, batchSize],
      );
      for (const row of rows) {
        let credentials: IntegrationCredentials;
        try {
          credentials = this.unseal(row);
        } catch (err) {
          if (!(err instanceof CredentialsUnreadableError)) throw err;
          unreadable.push(row.credentials_ref);
          continue;
        }
        const { rowCount } = await this.pool.query(
          `UPDATE integration_credentials SET key_id = $2, sealed = $3, version = version + 1, updated_at = now()
           WHERE credentials_ref = $1 AND version = $4`,
          [row.credentials_ref, this.current.id, this.seal(row.credentials_ref, row.organization_id, this.current, credentials), row.version],
        );
        resealed += rowCount ?? 0;
      }
      if (rows.length < batchSize) return { resealed, unreadable };
      after = rows[rows.length - 1]!.credentials_ref;
    }
  }

  private seal(credentialsRef: string, organizationId: string, key: SealingKey, credentials: IntegrationCredentials): string {
    const { accessToken: a, refreshToken: r, webhookSecret: w, expiresAt: e } = credentials;
    return sealAesGcm(key.key, JSON.stringify({ a, r, w, e }), additionalData(credentialsRef, organizationId, key.id));
  }

  private unseal(row: Row): IntegrationCredentials {
    const key = this.byId.get(row.key_id);
    if (!key) throw new CredentialsUnreadableError(row.credentials_ref, row.key_id);
    let plaintext: string;
    try {
      plaintext = openAesGcm(key.key, row.sealed, additionalData(row.credentials_ref, row.organization_id, row.key_id));
    } catch {
      throw new CredentialsUnreadableError(row.credentials_ref, row.key_id);
    }
    const { a, r, w, e } = JSON.parse(plaintext) as { a: string; r: string | null; w: string; e: string };
    return { accessToken: a, refreshToken: r, webhookSecret: w, expiresAt: e };
  }
}

/** Length-prefixed so no two (ref, organization, key) triples share their bytes. */
function additionalData(...parts: string[]): Buffer {
  return Buffer.from(parts.map((part) => `${part.length}:${part}`).join('|'));
}
