import type { EventMetadata, RecordedEvent } from '../../domain/events.ts';

const INT64_MAX = '9223372036854775807';

/**
 * Whether `value` is 1–19 decimal digits that fit PostgreSQL's bigint (a log position, an audit cursor): 19
 * digits pass a /^\d{1,19}$/ check up to 9999999999999999999, and the database refuses those beyond 2^63 − 1.
 */
export function isInt64Digits(value: string): boolean {
  if (!/^\d{1,19}$/.test(value)) return false;
  const digits = value.replace(/^0+(?=\d)/, '');
  return digits.length < 19 || digits <= INT64_MAX;
}

/** Parses a position an adapter produced as a decimal string; used by adapters with integer positions. */
export function compareDecimalPositions(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  // Canonical decimals (what the store writes: no sign, no leading zero) compare by length, then as text:
  // projections compare every event they read, and a BigInt each time was a visible part of a catch-up.
  if (isCanonical(a) && isCanonical(b)) return a.length !== b.length ? a.length - b.length : a < b ? -1 : 1;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A non-empty string of digits without a leading zero (or "0"); checked by character codes, no RegExp. */
function isCanonical(value: string): boolean {
  const first = value.charCodeAt(0);
  if (first < 49 || first > 57) return value === '0';
  for (let i = 1; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 48 || code > 57) return false;
  }
  return true;
}

export type { EventMetadata, RecordedEvent };
