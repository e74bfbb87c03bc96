import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

function scryptAsync(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

const KEY_LENGTH = 32;

/**
 * scrypt (memory-hard) password hashes in a self-describing format `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`,
 * so the cost can be raised later without breaking stored hashes. Slow on purpose.
 */
export class ScryptPasswordHasher {
  constructor(private readonly log2Cost: number) {}

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const r = 8;
    const p = 1;
    const key = await scryptAsync(password, salt, KEY_LENGTH, this.options(this.log2Cost, r, p));
    return ['scrypt', this.log2Cost, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const [scheme, cost, r, p, salt, hash] = stored.split('$');
    if (scheme !== 'scrypt' || !cost || !r || !p || !salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64url');
    const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length, this.options(Number(cost), Number(r), Number(p)));
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  private options(log2Cost: number, r: number, p: number): ScryptOptions {
    const N = 2 ** log2Cost;
    return { N, r, p, maxmem: 256 * N * r };
  }
}
