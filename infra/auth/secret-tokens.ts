import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Single-use secrets handed to people by email (confirmation, reset and invitation links) or shown once
 * (API keys). A token names the record it belongs to and carries 256 random bits; only the SHA-256 of the
 * random part is ever recorded, so the event log never holds a usable secret. (A fast hash is enough for
 * secrets this long; passwords, which are short, get scrypt.)
 */
const SECRET = /^[A-Za-z0-9_-]{43}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** `<id>.<id>...<secret>`: the ids say where to look, the secret proves the holder got the link. */
export function composeToken(ids: string[], secret: string): string {
  return [...ids, secret].join('.');
}

/** The ids and the secret's hash of a token with `idCount` uuid parts, or null when it is not one. */
export function parseToken(token: string, idCount: number): { ids: string[]; secretHash: string } | null {
  const parts = token.split('.');
  if (parts.length !== idCount + 1) return null;
  const secret = parts.pop()!;
  if (!SECRET.test(secret) || !parts.every((part) => UUID.test(part))) return null;
  return { ids: parts, secretHash: sha256(secret) };
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

const API_KEY = /^nfk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

/** `nfk_<key id>_<secret>`: recognisable (secret scanners can match the prefix), and it names its record. */
export function composeApiKey(keyId: string, secret: string): string {
  return `nfk_${keyId.replace(/-/g, '')}_${secret}`;
}

export function isApiKeyShaped(value: string): boolean {
  return value.startsWith('nfk_');
}

export function parseApiKey(token: string): { keyId: string; secretHash: string } | null {
  const match = API_KEY.exec(token);
  if (!match) return null;
  const hex = match[1]!;
  const keyId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { keyId, secretHash: sha256(match[2]!) };
}
