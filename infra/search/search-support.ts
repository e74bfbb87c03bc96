import { InvalidCursorError } from '../../query-api/search/ports.ts';

/** search_after cursors: the sort they belong to, the last hit's sort value and id, opaque to clients. */
export function encodeCursor(sort: string, value: string | number, id: string): string {
  return Buffer.from(JSON.stringify({ s: sort, v: value, id })).toString('base64url');
}

export function decodeCursor(cursor: string, sort: string): { value: string | number; id: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('is not a cursor this API returned');
  }
  const { s, v, id } = (parsed ?? {}) as { s?: unknown; v?: unknown; id?: unknown };
  if (s !== sort) throw new InvalidCursorError('belongs to another sort order');
  if ((typeof v !== 'string' && typeof v !== 'number') || typeof id !== 'string' || !/^[0-9a-f-]{36}$/i.test(id)) {
    throw new InvalidCursorError('is not a cursor this API returned');
  }
  return { value: v, id };
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Highlights as Elasticsearch writes them: each field that matched, with the matched words wrapped in
 * <em>…</em> (the rest HTML-escaped, so a name cannot inject markup). A word matches where a query word is its
 * prefix; an email field highlights when it equals the query.
 */
export function highlightsFor(fields: Record<string, string | null>, words: string[], q: string): Record<string, string[]> {
  const highlights: Record<string, string[]> = {};
  const exact = q.trim().toLowerCase();
  for (const [name, value] of Object.entries(fields)) {
    if (!value) continue;
    if (value.toLowerCase() === exact) {
      highlights[name] = [`<em>${escapeHtml(value)}</em>`];
      continue;
    }
    let marked = false;
    const html = value.replace(/[\p{L}\p{N}]+/gu, (token) => {
      const lower = token.toLowerCase();
      const word = words.find((w) => lower.startsWith(w));
      if (!word) return token;
      marked = true;
      return `\u0000${token.slice(0, word.length)}\u0001${token.slice(word.length)}`;
    });
    if (marked)
      highlights[name] = [
        escapeHtml(html)
          // The highlighter marks matches with U+0000 and U+0001, which no stored text contains (domain/text.ts).
          // eslint-disable-next-line no-control-regex
          .replace(/\u0000/g, '<em>')
          // eslint-disable-next-line no-control-regex
          .replace(/\u0001/g, '</em>'),
      ];
  }
  return highlights;
}
