import { createHmac, hkdfSync } from 'node:crypto';
import { openAesGcm, sealAesGcm } from '../crypto/aes-gcm.ts';

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
    return sealAesGcm(this.key(`encrypt:${purpose}`), plaintext, Buffer.from(purpose));
  }

  decrypt(sealed: string, purpose: string): string {
    return openAesGcm(this.key(`encrypt:${purpose}`), sealed, Buffer.from(purpose));
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
