import { canonicalValue, type FieldValue } from './values.ts';

/**
 * Echo suppression. When the sync writes a field to the provider, the provider reports that write back as a
 * change on its next poll or webhook; applied, it would come back to us as our own edit and go out again,
 * forever. Same the other way: a value we applied from the provider shows up as a change of our contact.
 * So for each field and direction the sync remembers what it last wrote, as a fingerprint of the normalized
 * value plus the stamp the written side gave back, and drops an incoming change that only repeats it.
 */
export interface WriteFingerprint {
  /** canonicalValue of the value written (the caller may store a hash of it instead; compare like with like). */
  fingerprint: string;
  /**
   * The stamp the written side reported for the write (the provider's revision or modification stamp, or
   * our contact event's revision for an inbound write), if it gave one.
   */
  stamp: string | null;
}

/** The fingerprint of a value: the canonical text of it (the domain does not hash: no node:crypto here). */
export function fingerprint(value: FieldValue): string {
  return canonicalValue(value);
}

export function rememberWrite(value: FieldValue, stamp: string | null): WriteFingerprint {
  return { fingerprint: fingerprint(value), stamp };
}

/**
 * Whether an incoming change only repeats our own last write to that side, so the sync drops it:
 * - it carries the very stamp the write got back: nothing happened there since (even if the provider
 *   reformatted the value, e.g. a phone number, it is still our write);
 * - or its value is the one we wrote: applying it could only undo a newer edit on this side or do nothing.
 *   Stamps alone do not decide this: a provider stamps the whole record, so an edit of another field moves
 *   the stamp while this field still holds our value.
 * Nothing remembered: not an echo.
 */
export function isEcho(lastWritten: WriteFingerprint | null | undefined, incomingValue: FieldValue, incomingStamp: string | null): boolean {
  if (!lastWritten) return false;
  if (lastWritten.stamp !== null && incomingStamp !== null && incomingStamp === lastWritten.stamp) return true;
  return fingerprint(incomingValue) === lastWritten.fingerprint;
}

/**
 * What the sync remembers for one synced record, per our field path: `out` what it last wrote to the
 * provider, `in` what it last wrote into our contact. Plain JSON, so it can live in a checkpoint or a row.
 */
export interface EchoLedger {
  out: Record<string, WriteFingerprint>;
  in: Record<string, WriteFingerprint>;
}

export const emptyLedger = (): EchoLedger => ({ out: {}, in: {} });

/** The ledger after a write to `side` (out: to the provider; in: into our contact). Replaces the field's entry. */
export function recordWrite(ledger: EchoLedger, side: 'in' | 'out', field: string, value: FieldValue, stamp: string | null): EchoLedger {
  return { ...ledger, [side]: { ...ledger[side], [field]: rememberWrite(value, stamp) } };
}

/** A change the provider reports: an echo of what we wrote out? */
export function isInboundEcho(ledger: EchoLedger, field: string, value: FieldValue, providerStamp: string | null): boolean {
  return isEcho(own(ledger.out, field), value, providerStamp);
}

/** A change of our contact: an echo of what the sync wrote in? */
export function isOutboundEcho(ledger: EchoLedger, field: string, value: FieldValue, ourStamp: string | null): boolean {
  return isEcho(own(ledger.in, field), value, ourStamp);
}

/** Own keys only: a field named like an Object.prototype member must not find one. */
function own(entries: Record<string, WriteFingerprint>, field: string): WriteFingerprint | undefined {
  return Object.hasOwn(entries, field) ? entries[field] : undefined;
}
