import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { randomBytesPooled } from '../crypto/random-pool.ts';

/**
 * Encryption and keyed hashing for secrets the server must keep (a TOTP secret has to be read back to check
 * codes) or must recognise without storing (recovery codes). Keys are derived from one root secret with
 * HKDF, one per purpose, so no purpose's key can stand in for another's.
 */
export class DataProtection {
  private readonly keys = new Map<string, Buffer>();

  constructor(private readonly rootSecret: string) {}

  /** AES-256-GCM; the purpose is bound as additional data, so a ciphertext cannot be moved to another use. */
  encrypt(plaintext: string, purpose: string): string {
    const iv = randomBytesPooled(12);
    const cipher = createCipheriv('aes-256-gcm', this.key(`encrypt:${purpose}`), iv);
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  decrypt(sealed: string, purpose: string): string {
    const [version, iv, body, tag] = sealed.split('.');
    if (version !== 'v1' || !iv || !body || !tag) throw new Error('not a sealed value of this server');
    const decipher = createDecipheriv('aes-256-gcm', this.key(`encrypt:${purpose}`), Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(purpose));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** HMAC-SHA256: a stolen copy of the log cannot be brute-forced without the server's key. */
  mac(value: string, purpose: string): string {
    return createHmac('sha256', this.key(`mac:${purpose}`))
      .update(value)
      .digest('hex');
  }

  private key(info: string): Buffer {
    let key = this.keys.get(info);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', this.rootSecret, 'nexusflow-data-protection', info, 32));
      this.keys.set(info, key);
    }
    return key;
  }
}
