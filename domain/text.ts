/**
 * What text the system accepts and stores: one rule, used at the HTTP edge (every body field, query
 * parameter and path parameter) and again below it, before any event is appended (so nothing that reaches
 * the log can stop a projection that stores it).
 *
 * - Never: NUL and the other C0 control characters except tab, line feed and carriage return; DEL and the C1
 *   controls (U+007F–U+009F); lone UTF-16 surrogates (not Unicode text: PostgreSQL refuses them in JSON and
 *   a NUL in any text column, so such an event would be refused by every read model).
 * - Line breaks (CR, LF, NEL, U+2028, U+2029) only in free-text fields (an email body, a description): a
 *   single-line field (a name, a subject, a header value) that kept one could split a header it ends up in.
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u0084\u0086-\u009F]/;
const LINE_BREAK = /[\r\n\u0085\u2028\u2029]/;

export type TextKind = 'single-line' | 'free-text';

/** Why `value` is not acceptable text of this kind, or null when it is. */
export function textProblem(value: string, kind: TextKind): string | null {
  const control = CONTROL.exec(value);
  if (control) return `must not contain control characters (found ${codePoint(control[0])})`;
  if (!value.isWellFormed()) return 'must be valid Unicode text (found an unpaired surrogate)';
  if (kind === 'single-line') {
    const lineBreak = LINE_BREAK.exec(value);
    if (lineBreak) return `must be a single line (found ${codePoint(lineBreak[0])})`;
  }
  return null;
}

/**
 * Whether every read model can store a string as is: PostgreSQL refuses NUL in text and JSON, and unpaired
 * surrogates in JSON. (The stricter rules above are the edge's business.)
 */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

/** Text from outside (a webhook's answer, a provider's field) made storable: NUL and lone surrogates become U+FFFD. */
export function storableText(value: string): string {
  return value.replaceAll('\u0000', '\uFFFD').toWellFormed();
}

function codePoint(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The first place in a JSON-like value (keys included) holding text no read model can store, as a dotted
 * path, or null. Walks without recursion: a value nested thousands deep cannot exhaust the stack.
 */
export function unstorableTextIn(value: unknown): string | null {
  return allStorable(value) ? null : firstUnstorable(value);
}

/** Whether every string in the value (keys included) is storable: the usual answer, found without building paths. */
function allStorable(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current === 'string') {
      if (!isStorableText(current)) return false;
    } else if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
    } else if (current !== null && typeof current === 'object') {
      for (const key of Object.keys(current)) {
        if (!isStorableText(key)) return false;
        stack.push((current as Record<string, unknown>)[key]);
      }
    }
  }
  return true;
}

function firstUnstorable(value: unknown): string | null {
  const stack: { value: unknown; path: string }[] = [{ value, path: '' }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === 'string') {
      if (!isStorableText(current)) return path || '(value)';
    } else if (Array.isArray(current)) {
      current.forEach((item, index) => stack.push({ value: item, path: join(path, String(index)) }));
    } else if (current !== null && typeof current === 'object') {
      for (const [key, item] of Object.entries(current)) {
        if (!isStorableText(key)) return join(path, key.toWellFormed());
        stack.push({ value: item, path: join(path, key) });
      }
    }
  }
  return null;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
