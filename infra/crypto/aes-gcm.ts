import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomBytesPooled } from './random-pool.ts';

/**
 * AES-256-GCM as this server seals secrets it must read back: `v1.<iv>.<ciphertext>.<tag>` (base64url), with
 * additional data that binds the value to its use, so a sealed value moved elsewhere does not open.
 */
export function sealAesGcm(key: Buffer, plaintext: string, additionalData: Buffer): string {
  const iv = randomBytesPooled(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(additionalData);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** The plaintext of a value sealed by {@link sealAesGcm}; throws when it is not one, or does not open. */
export function openAesGcm(key: Buffer, sealed: string, additionalData: Buffer): string {
  const [version, iv, body, tag] = sealed.split('.');
  if (version !== 'v1' || !iv || !body || !tag) throw new Error('not a sealed value of this server');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(additionalData);
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}
