/**
 * The one way values get into ClickHouse SQL. ClickHouse 18.16 (what Debian ships, and CI runs) has no
 * server-side query parameters, so every value is rendered here: strings quoted with every special character
 * escaped, numbers checked finite, instants as unix seconds, identifiers only from an allow-list pattern.
 * Anything else is refused before a query is sent.
 */
export class Sql {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export class Identifier {
  constructor(readonly name: string) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) throw new TypeError(`not an identifier: ${JSON.stringify(name)}`);
  }
}

export type SqlValue = string | number | bigint | boolean | Date | Sql | Identifier | readonly (string | number)[];

/** Identifiers (database, table, column names) only from this pattern, back-quoted. */
export const ident = (name: string): Identifier => new Identifier(name);

/** A trusted fragment written by us (never built from input). */
export const raw = (text: string): Sql => new Sql(text);

const escapes: Record<string, string> = { '\\': '\\\\', "'": "\\'", '\0': '\\0', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** A string literal: every backslash and quote escaped, control characters spelled out. */
export function quoteString(value: string): string {
  return `'${value.replace(/[\\'\0\n\r\t\b\f]/g, (c) => escapes[c]!)}'`;
}

export function render(value: SqlValue): string {
  if (value instanceof Sql) return value.text;
  if (value instanceof Identifier) return `\`${value.name}\``;
  if (typeof value === 'string') return quoteString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (value instanceof Date) {
    const ms = value.getTime();
    if (!Number.isFinite(ms)) throw new TypeError('not a valid date');
    return `toDateTime(${Math.floor(ms / 1000)})`;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new TypeError('an empty list cannot be rendered');
    return `(${value.map((item) => render(item)).join(', ')})`;
  }
  throw new TypeError(`cannot put a ${typeof value} into SQL`);
}

/** Tagged template: sql`SELECT ... WHERE tenant_id = ${tenantId}` with every interpolation rendered safely. */
export function sql(strings: TemplateStringsArray, ...values: SqlValue[]): Sql {
  let text = strings[0]!;
  values.forEach((value, i) => {
    text += render(value) + strings[i + 1]!;
  });
  return new Sql(text);
}
