import { createHmac } from 'node:crypto';

/**
 * An authenticator app, for tests: RFC 6238 (HMAC-SHA1, 6 digits, 30 s) computed here by hand, so tests
 * check the server against the standard rather than against the library it uses.
 */
export function totpCode(secretBase32: string, at: Date | number = Date.now(), digits = 6): string {
  const unixSeconds = (typeof at === 'number' ? at : at.getTime()) / 1000;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of secretBase32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(char).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const hmac = createHmac('sha1', key).update(counter).digest();
  const offset = hmac[hmac.length - 1]! & 0x0f;
  return String((hmac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits).padStart(digits, '0');
}
