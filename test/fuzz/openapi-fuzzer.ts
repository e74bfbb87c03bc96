import fc from 'fast-check';

/**
 * A fuzzer driven by /openapi.json: every operation it lists, every body field, query and path parameter,
 * and the headers clients send, given the inputs careless and hostile clients send. fast-check generates the
 * plan from a seed (printed, so a failing run can be replayed with FUZZ_SEED); huge values are markers that
 * are built only when sent, so a plan of 10,000 requests stays small.
 */

/** One operation of the document. */
export interface Operation {
  method: string;
  /** OpenAPI template, e.g. /contacts/{id} */
  path: string;
  operationId: string;
  /** Needs a caller (a bearer token or an API key). */
  secured: boolean;
  pathParams: string[];
  queryParams: { name: string; schema: Record<string, unknown> }[];
  /** The documented example body (every body route has one), or null when it takes none. */
  example: unknown;
}

export function operationsOf(openapi: { paths: Record<string, Record<string, any>> }): Operation[] {
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(openapi.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = (operation.parameters ?? []) as { name: string; in: string; schema: Record<string, unknown> }[];
      const body = operation.requestBody?.content?.['application/json'];
      operations.push({
        method: method.toUpperCase(),
        path,
        operationId: operation.operationId,
        secured: (operation.security ?? []).length > 0,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: parameters.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema })),
        example: body ? (body.example ?? {}) : null,
      });
    }
  }
  return operations;
}

/** A value that is too big to keep in a plan: built when the request is sent. */
type Huge =
  { $huge: 'string'; bytes: number } | { $huge: 'array'; items: number; of: unknown } | { $huge: 'nesting'; depth: number; kind: 'array' | 'object' };

const isHuge = (value: unknown): value is Huge => typeof value === 'object' && value !== null && '$huge' in value;

/** Strings that have broken systems: control characters, broken Unicode, injections, templates, paths. */
const hostileStrings = [
  '',
  ' ',
  '\u0000',
  'x\u0000y',
  '\ud800',
  'a\udc00b',
  '\udbff\udfff\ud800',
  '\u202eevil.exe\u202c',
  '\u2066rtl\u2069',
  'line\r\nBcc: victim@example.com',
  'a\nb',
  '\r',
  '\u2028',
  '\u0007\u001b[31m',
  '\u007f\u0085\u009b',
  '\ufeffbom',
  '\uffff\ufffe',
  "' OR '1'='1' --",
  '"; DROP TABLE nf_events; --',
  '\\',
  '\\u0000',
  '%00',
  '%',
  '../../../../etc/passwd',
  '{{#contact.firstName}}',
  '{{{contact}}}{{/x}}',
  '{{> partial}}',
  '${7*7}',
  '#{7*7}',
  '<script>alert(1)</script>',
  'javascript:alert(1)',
  'http://127.0.0.1:22/',
  'http://169.254.169.254/latest/meta-data/',
  'file:///etc/passwd',
  '__proto__',
  'constructor',
  'null',
  'true',
  '-1',
  '0',
  '1e309',
  'NaN',
  'Infinity',
  '9'.repeat(400),
  '2026-02-30T25:61:61Z',
  '0000-00-00',
  '+275760-09-13T00:00:00.000Z',
  'P300000Y',
  'PT0S',
  '* * * * * *',
  'Europe/Nowhere',
  'a'.repeat(5_000),
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ 🚀 עברית',
];

const edgeNumbers = [0, -0, -1, 1, 1.5, 0.1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 2, -(2 ** 53) - 2, 1e21, 1e308, -1e308, 5e-324, 2 ** 63];
const wrongTypes: unknown[] = [null, true, false, [], {}, [null], { a: 1 }, [[[]]], 0, 'x'];

const hugeValues: Huge[] = [
  { $huge: 'string', bytes: 1_000_000 },
  { $huge: 'string', bytes: 100_000 },
  { $huge: 'array', items: 100_000, of: 1 },
  { $huge: 'array', items: 100_000, of: 'x\u0000' },
  { $huge: 'array', items: 10_000, of: { a: '\ud800' } },
  { $huge: 'nesting', depth: 10_000, kind: 'array' },
  { $huge: 'nesting', depth: 10_000, kind: 'object' },
  { $huge: 'nesting', depth: 40, kind: 'object' },
];

/** The characters no store should be handed and no header should carry: the most frequent attack here. */
const brokenText = ['x\u0000', '\u0000', 'Ada\ud800', '\udc00', 'Ada\r\nBcc: victim@example.com', 'x\u0000\r\n\ud800', 'vip\u0000'];

/** A value to put where the schema wants something else. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...brokenText) },
  { weight: 6, arbitrary: fc.constantFrom(...hostileStrings) },
  { weight: 2, arbitrary: fc.constantFrom(...edgeNumbers) },
  { weight: 2, arbitrary: fc.constantFrom(...wrongTypes) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double()) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(...hugeValues) },
);

/** Raw bodies that are not the JSON they claim to be (or not JSON at all). */
const malformedBodies = [
  '{',
  '}',
  '{"a":}',
  '[1,]',
  'nul',
  '{"a":"\\ud800"}',
  "{'a':1}",
  '\u0000',
  '{"a":1}garbage',
  '"\\x41"',
  '{"__proto__":{"admin":true}}',
  '{"constructor":{"prototype":{"admin":true}}}',
  '\ufeff{}',
  '{"a":1,"a":2}',
  '1e999999',
  '-',
  '',
];

/** Keys that pollute prototypes in careless code. */
const pollutingKeys = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'x\u0000', '\ud800', 'a.b', ''];

/** What one request of the plan does to its operation's valid form. */
export type Mutation =
  | { kind: 'valid' }
  | { kind: 'body-field'; at: number; value: unknown }
  | { kind: 'body-key'; at: number; key: string; value: unknown }
  | { kind: 'body-whole'; value: unknown }
  | { kind: 'body-raw'; raw: string; contentType: string }
  | { kind: 'query'; at: number; value: unknown; repeated: boolean }
  | { kind: 'query-unknown'; value: unknown }
  | { kind: 'path'; at: number; value: string }
  | { kind: 'header'; name: 'Idempotency-Key' | 'X-Min-Position' | 'If-Match' | 'Content-Type'; value: string }
  | { kind: 'auth'; as: 'none' | 'garbage' | 'api-key' };

/** Strings that go into a URL raw (already escaped, or deliberately malformed escapes). */
const rawUrlPieces = ['%00', '%ED%A0%80', '%FF', '%', '%zz', '%C0%AF', '..%2F..%2F', '%0D%0AX-Injected:1', '%E2%80%AE'];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<Mutation>({ kind: 'valid' }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('body-field' as const), at: fc.nat(), value: hostileValue }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('body-key' as const), at: fc.nat(), key: fc.constantFrom(...pollutingKeys), value: hostileValue }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('body-whole' as const), value: hostileValue }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('body-raw' as const),
      raw: fc.constantFrom(...malformedBodies),
      contentType: fc.constantFrom(
        'application/json',
        'application/json; charset=latin1',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/merge-patch+json',
      ),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('query' as const), at: fc.nat(), value: hostileValue, repeated: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('query-unknown' as const), value: hostileValue }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('path' as const),
      at: fc.nat(),
      value: fc.oneof(fc.constantFrom(...rawUrlPieces), fc.constantFrom(...hostileStrings.filter((s) => s.length < 500)).map(escapeForUrl)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('header' as const),
      name: fc.constantFrom('Idempotency-Key' as const, 'X-Min-Position' as const, 'If-Match' as const, 'Content-Type' as const),
      value: fc.constantFrom(
        '',
        ' ',
        '"0"',
        '"-1"',
        '"99999999999999999999"',
        'W/"0"',
        '*',
        '0',
        '-1',
        '1e309',
        '18446744073709551616',
        'x'.repeat(300),
        'ünïcode',
        'a\tb',
        '999999999999',
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('auth' as const), as: fc.constantFrom('none' as const, 'garbage' as const, 'api-key' as const) }),
  },
);

/** URL-escapes text; lone surrogates (which encodeURIComponent refuses) go as the bytes Node would send. */
function escapeForUrl(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

export interface PlannedRequest {
  operation: Operation;
  mutation: Mutation;
}

/** The whole plan, from a seed: which operation each request calls and how it is broken. */
export function plan(operations: Operation[], seed: number, count: number): PlannedRequest[] {
  const request = fc.record({ operation: fc.constantFrom(...operations), mutation }).map(({ operation, mutation: m }) => ({
    operation,
    // A GET carries no body (fetch refuses to send one): what would have broken the body breaks the query.
    mutation:
      operation.method === 'GET' && m.kind.startsWith('body') ? ({ kind: 'query-unknown', value: 'value' in m ? m.value : m.kind } as Mutation) : m,
  }));
  return fc.sample(request, { seed, numRuns: count });
}

/** Paths into a JSON value (objects and arrays, every level), for choosing what to break. */
function pathsOf(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (Array.isArray(value)) value.forEach((item, index) => (out.push([...prefix, index]), pathsOf(item, [...prefix, index], out)));
  else if (value !== null && typeof value === 'object')
    for (const [key, item] of Object.entries(value)) (out.push([...prefix, key]), pathsOf(item, [...prefix, key], out));
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy: any = Array.isArray(root) ? [...root] : { ...(root as object) };
  const [head, ...rest] = path;
  // defineProperty: `__proto__` must become an own key, as JSON.parse makes it on the server.
  Object.defineProperty(copy, head!, { value: setAt(copy[head!], rest, value), enumerable: true, writable: true, configurable: true });
  return copy;
}

/** JSON text of a value, with huge markers built in place. */
export function serialize(value: unknown): string {
  if (isHuge(value)) {
    if (value.$huge === 'string') return JSON.stringify('x'.repeat(value.bytes));
    if (value.$huge === 'array') return `[${Array.from({ length: value.items }, () => serialize(value.of)).join(',')}]`;
    return value.kind === 'array'
      ? `${'['.repeat(value.depth)}${']'.repeat(value.depth)}`
      : `${'{"a":'.repeat(value.depth)}1${'}'.repeat(value.depth)}`;
  }
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .map((key) => `${JSON.stringify(key)}:${serialize((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Text of a value for a URL query, escaped and cut to 4,000 bytes: Node's HTTP parser itself refuses a
 * request head over 16 KB (a bare 431, before any application code), which is not what is tested here.
 */
function queryText(value: unknown): string {
  const text = typeof value === 'string' ? value : isHuge(value) ? 'x'.repeat(4_000) : serialize(value);
  return escapeForUrl(text)
    .slice(0, 4_000)
    .replace(/%[0-9A-F]?$/, '');
}

export interface Identities {
  /** The owner's access token (bearer routes). */
  token(): string;
  apiKey: string;
  /** A real id for each path parameter name of the fuzzed tenant (id, execId, type). */
  pathParams(operation: Operation): Record<string, string>;
}

export interface BuiltRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** Used the owner's token: a 401 means the session ended (a fuzzed logout) and must be renewed. */
  usedOwnerToken: boolean;
}

export function build(planned: PlannedRequest, ids: Identities, requestId: string): BuiltRequest {
  const { operation, mutation: m } = planned;
  const params = ids.pathParams(operation);
  if (m.kind === 'path' && operation.pathParams.length > 0) params[operation.pathParams[m.at % operation.pathParams.length]!] = m.value;
  const path = operation.path.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? 'missing');

  // Every query parameter is optional: only the broken one is sent.
  const query: [string, string][] = [];
  if (m.kind === 'query' && operation.queryParams.length > 0) {
    const param = operation.queryParams[m.at % operation.queryParams.length]!;
    query.push([param.name, queryText(m.value)]);
    if (m.repeated) query.push([param.name, queryText(m.value)]);
  }
  if (m.kind === 'query-unknown') query.push(['unknownParam', queryText(m.value)]);
  const url = `${path}${query.length ? `?${query.map(([k, v]) => `${k}=${v}`).join('&')}` : ''}`;

  const headers: Record<string, string> = { 'X-Request-Id': requestId };
  let usedOwnerToken = false;
  if (operation.secured || m.kind === 'auth') {
    if (m.kind !== 'auth') {
      headers.Authorization = `Bearer ${ids.token()}`;
      usedOwnerToken = true;
    } else if (m.as === 'api-key') headers['X-API-Key'] = ids.apiKey;
    else if (m.as === 'garbage') headers.Authorization = 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.';
  }

  let body: string | undefined;
  if (operation.example !== null || m.kind.startsWith('body')) {
    headers['Content-Type'] = 'application/json';
    let value: unknown = operation.example ?? {};
    if (m.kind === 'body-field') {
      const paths = pathsOf(value);
      value = paths.length > 0 ? setAt(value, paths[m.at % paths.length]!, m.value) : m.value;
    } else if (m.kind === 'body-key') {
      const objects = [[], ...pathsOf(value)].filter((p) => {
        const target = p.reduce<any>((v, k) => v?.[k], value);
        return target !== null && typeof target === 'object' && !Array.isArray(target);
      });
      const at = objects[m.at % objects.length] ?? [];
      value = setAt(value, [...at, m.key], m.value);
    } else if (m.kind === 'body-whole') value = m.value;
    body = m.kind === 'body-raw' ? m.raw : serialize(value);
    if (m.kind === 'body-raw') headers['Content-Type'] = m.contentType;
  }
  if (m.kind === 'header') headers[m.name] = m.value;
  return { method: operation.method, url, headers, ...(body !== undefined ? { body } : {}), usedOwnerToken };
}

/** One request as sent and answered. */
export interface Outcome {
  requestId: string;
  operationId: string;
  method: string;
  url: string;
  mutation: Mutation;
  status: number;
  contentType: string;
  bytes: number;
  body: string;
}

/** A short description of a request for a failure message (huge values named, not printed). */
export function describeRequest(planned: PlannedRequest): string {
  const shown = JSON.stringify(planned.mutation, (_key, value) =>
    typeof value === 'string' && value.length > 80 ? `${value.slice(0, 80)}…(${value.length})` : value,
  );
  return `${planned.operation.method} ${planned.operation.path} ${shown}`;
}
