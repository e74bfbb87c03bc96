import { createHash, timingSafeEqual } from 'node:crypto';
import { fetch as undiciFetch } from 'undici';
import { OutboundRefusedError } from '../../outbound/guarded-http.ts';
import { CrmError, CrmRequestRejected, CrmUnavailable } from '../../../projectors/integrations/ports.ts';

/**
 * The little REST toolkit the Pipedrive and Zoho adapters share (neither has a client library we trust, see
 * their modules). Calls to a host that came from a token answer go through the guarded client's `fetch`
 * (`options.outbound.fetch`); calls to the operator's configured OAuth host use {@link trustedFetch}.
 */

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** The operator's configured endpoints (OAuth token URLs) are trusted as configured: plain undici fetch. */
export const trustedFetch: FetchLike = (input, init) => undiciFetch(input, init as never) as unknown as Promise<Response>;

export interface RestAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON; undefined when it is empty or not JSON. */
  json: unknown;
}

export interface RestCall {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** A JSON value (sent as application/json) or a ready form body. */
  json?: unknown;
  form?: Record<string, string>;
}

/**
 * Sends one request and reads the whole answer. Network failures and timeouts become CrmUnavailable; a target
 * the outbound policy refuses (an api_domain pointing at a private or metadata address) becomes a
 * non-retryable CrmRequestRejected: nothing was sent, and retrying will not change the address.
 */
export async function send(fetchFn: FetchLike, call: RestCall, timeoutMs: number): Promise<RestAnswer> {
  const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
  let body: string | undefined;
  if (call.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(call.json);
  } else if (call.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(call.form).toString();
  }
  let response: Response;
  let text: string;
  try {
    response = await fetchFn(call.url, { method: call.method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
    text = await response.text();
  } catch (err) {
    throw transportError(err, call.url);
  }
  let json: unknown;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: response.status, headers: response.headers, text, json };
}

function transportError(err: unknown, url: string): CrmError {
  if (err instanceof CrmError) return err;
  const refused = err instanceof OutboundRefusedError ? err : (err as { cause?: unknown } | null)?.cause;
  if (refused instanceof OutboundRefusedError) {
    const rejected = new CrmRequestRejected(`the provider's API host is not allowed (${refused.message})`, 0);
    (rejected as { cause?: unknown }).cause = refused;
    return rejected;
  }
  const host = safeHost(url);
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new CrmUnavailable(`no answer from ${host}: ${message}`);
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the provider';
  }
}

/**
 * Milliseconds to wait from a Retry-After header's value (seconds or an HTTP date), else the fallback. Takes
 * the value, not the headers, so every adapter uses it whatever shape its client gives headers in.
 */
export function retryAfterMs(value: string | null | undefined, fallbackMs: number, now = Date.now()): number {
  const raw = value?.trim();
  if (!raw) return fallbackMs;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? fallbackMs : Math.max(0, at - now);
}

/** The next midnight UTC after `now` (where the providers' daily budgets reset). */
export function nextUtcMidnight(now = new Date()): string {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** Constant-time equality of two secrets of any length (compared as SHA-256 digests, so lengths leak nothing). */
export function secretsEqual(given: string, expected: string): boolean {
  if (expected.length === 0) return false;
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let index = 0; index < items.length; index += size) chunks.push(items.slice(index, index + size));
  return chunks;
}

/**
 * Page tokens are the adapter's own: a versioned JSON object, base64url-encoded, opaque to the caller. A token
 * that does not decode is the caller's mistake (CrmRequestRejected), never a silent restart from the top.
 */
export function encodePageToken(state: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ v: 1, ...state }), 'utf8').toString('base64url');
}

export function decodePageToken<T extends Record<string, unknown>>(token: string, isValid: (value: Record<string, unknown>) => boolean): T {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    decoded = null;
  }
  if (typeof decoded !== 'object' || decoded === null || (decoded as { v?: unknown }).v !== 1 || !isValid(decoded as Record<string, unknown>))
    throw new CrmRequestRejected('the page token is not one this adapter issued', 400);
  return decoded as T;
}

/** An instant as ISO 8601 UTC at millisecond precision, or null when it does not parse. */
export function isoOrNull(value: unknown): string | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** Whole seconds, rounded down: a filter "at or after" this instant never misses a record of the same second. */
export function floorToSecond(iso: string): Date {
  const ms = Date.parse(iso);
  return new Date(Math.floor(ms / 1000) * 1000);
}

/** The API host from a token answer, without a trailing slash; null when it is absent or not an http(s) URL. */
export function apiHost(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
    return url.origin;
  } catch {
    return null;
  }
}

export function describeError(json: unknown, text: string): string {
  if (json && typeof json === 'object') {
    const record = json as Record<string, unknown>;
    for (const key of ['error_description', 'message', 'error']) {
      const value = record[key];
      if (typeof value === 'string' && value) return value;
    }
  }
  return text.slice(0, 300) || 'no message';
}
