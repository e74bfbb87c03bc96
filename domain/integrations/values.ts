/**
 * The values a synced field carries on either side: what our contact fields hold (text, or a custom field's
 * string, number or boolean) and what a provider's field holds once its adapter has read it. Null is
 * "empty": providers report a cleared field as null or as an empty string, so both count as empty here.
 */
export type FieldValue = string | number | boolean | null;

/** An ISO 8601 instant's milliseconds, or null when the text is not one (never NaN, so callers can compare). */
export function instantMs(iso: string | null | undefined): number | null {
  if (typeof iso !== 'string' || !ISO_INSTANT.test(iso)) return null;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
}

/** Date and time with a zone (Z or ±hh:mm); seconds and fractions optional. Date.parse alone accepts far too much. */
export const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
export const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A calendar date (YYYY-MM-DD) that exists (no 2023-02-29). */
export function isCalendarDate(text: string): boolean {
  const match = ISO_DATE.exec(text);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toISOString().slice(0, 10) === text;
}

/**
 * A canonical text for a value, equal for values the two sides treat as the same: empty text and null, text
 * differing only by surrounding white space or Unicode normalization, a number and its decimal text, one
 * instant written two ways (providers reformat what we write). Case is kept: a change of case is an edit.
 * Used to detect changes (conflicts) and echoes; the caller may hash it, the domain does not (no crypto here).
 */
export function canonicalValue(value: FieldValue): string {
  if (value === null) return 'empty';
  if (typeof value === 'boolean') return `bool:${value}`;
  if (typeof value === 'number') return Number.isFinite(value) ? `num:${Object.is(value, -0) ? 0 : value}` : `num:${String(value)}`;
  const text = value.normalize('NFC').trim();
  if (text === '') return 'empty';
  if (DECIMAL.test(text)) return `num:${Number(text)}`;
  const ms = instantMs(text);
  if (ms !== null) return `instant:${new Date(ms).toISOString()}`;
  return `text:${text}`;
}

const DECIMAL = /^-?(0|[1-9]\d{0,14})(\.\d{1,6})?$/;

/** Whether two values are the same for sync purposes (see canonicalValue). */
export function sameValue(a: FieldValue, b: FieldValue): boolean {
  return canonicalValue(a) === canonicalValue(b);
}
