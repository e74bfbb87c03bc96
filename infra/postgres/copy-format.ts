/**
 * PostgreSQL COPY's text format (tab-separated fields, one row per line), shared by every COPY FROM STDIN we
 * send: the event store's bulk append and the read models' large batches.
 */

/** A field's value: null (or undefined) as \N; anything else as its text. */
export type CopyValue = string | number | boolean | null | undefined;

const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A text field: backslash, tab, newline and carriage return escaped (the rest is taken as it is). */
export function copyText(value: string): string {
  return SPECIAL.test(value) ? value.replace(SPECIALS, (c) => ESCAPES[c]!) : value;
}

/** Any field: null as \N, numbers and booleans as their text (nothing in them to escape). */
export function copyField(value: CopyValue): string {
  if (typeof value === 'string') return copyText(value);
  if (value === null || value === undefined) return '\\N';
  return String(value);
}

/** A JSON document as a field: JSON.stringify leaves no raw control character, so only backslashes double. */
export function copyJson(value: unknown): string {
  const json = JSON.stringify(value) ?? 'null';
  return json.includes('\\') ? json.replaceAll('\\', '\\\\') : json;
}

/** About this many characters of rows go to the connection at a time. */
const CHUNK_CHARS = 64 * 1024;

/**
 * Writes `rows` to a COPY stream in chunks of about 64 KiB and ends it: the first rows are on their way while
 * the rest are encoded, and no string of the whole batch is ever built (one string of megabytes, built by
 * appending, then flattened and copied into a buffer, was most of what a large batch cost this process).
 */
export function writeCopyRows(
  stream: { write(chunk: string): unknown; end(chunk?: string): unknown },
  rows: readonly (readonly CopyValue[])[],
): void {
  let chunk = '';
  for (const row of rows) {
    let line = copyField(row[0]);
    for (let i = 1; i < row.length; i++) line += '\t' + copyField(row[i]);
    chunk += line + '\n';
    if (chunk.length >= CHUNK_CHARS) {
      stream.write(chunk);
      chunk = '';
    }
  }
  stream.end(chunk);
}
