import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 8 * 1024;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * Cryptographically random bytes from a buffer refilled 8 KiB at a time (as Node does for randomUUID): a
 * sealed event needs a 12-byte IV and a new person a 32-byte key, and one call into the system's CSPRNG per
 * value cost more than the encryption itself. Each answer is a copy, never a view of the pool.
 */
export function randomBytesPooled(size: number): Buffer {
  if (size > POOL_BYTES) return randomFillSync(Buffer.allocUnsafe(size));
  if (offset + size > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + size));
  // Spent bytes are wiped, so the pool never holds a key or IV that was handed out.
  pool.fill(0, offset, offset + size);
  offset += size;
  return bytes;
}
