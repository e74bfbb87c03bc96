import type { CrmConnection } from '../../../projectors/integrations/ports.ts';
import { CrmQuotaExhausted, CrmRateLimited, CrmRequestRejected, CrmUnauthorized, CrmUnavailable } from '../../../projectors/integrations/ports.ts';
import { describeError, retryAfterMs, send, type FetchLike, type RestAnswer } from '../rest/rest.ts';

/** Zoho's error body: `{ code, details, message, status: "error" }`. */
interface ZohoErrorBody {
  code?: string;
  message?: string;
}

/**
 * Zoho CRM's REST API (v6) at the data centre's `api_domain` (from the token answer, so only through the guarded
 * client); `Authorization: Zoho-oauthtoken <token>`. No content is 204 with an empty body.
 *
 * Limits: concurrency and burst limits answer 429 `TOO_MANY_REQUESTS` (CrmRateLimited); the API credits of the
 * org's rolling 24-hour window, once spent, answer `LIMIT_REACHED` / `LIMIT_EXCEEDED` (CrmQuotaExhausted; the
 * window rolls, so no fixed reset instant). 401 `INVALID_TOKEN` / `AUTHENTICATION_FAILURE`: CrmUnauthorized.
 */
export class ZohoApi {
  constructor(
    private readonly fetchFn: FetchLike,
    private readonly timeoutMs: number,
  ) {}

  async call<T = Record<string, unknown>>(
    connection: CrmConnection,
    method: string,
    path: string,
    options: { query?: Record<string, string | number | undefined>; json?: unknown; headers?: Record<string, string>; perRecord?: boolean } = {},
  ): Promise<{ status: number; body: T | null }> {
    const host = connection.instanceUrl;
    if (!host) throw new CrmRequestRejected('the Zoho grant has no api_domain', 0);
    const url = new URL(path, host);
    for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
    const answer = await send(
      this.fetchFn,
      {
        method,
        url: url.toString(),
        headers: { authorization: `Zoho-oauthtoken ${connection.accessToken}`, ...options.headers },
        json: options.json,
      },
      this.timeoutMs,
    );
    if (answer.status === 204 || answer.status === 304) return { status: answer.status, body: null };
    if (answer.status >= 200 && answer.status < 300) return { status: answer.status, body: (answer.json ?? null) as T | null };
    // Batch writes answer 400 (or 207) with per-record results when records fail: those are the caller's to read.
    if (options.perRecord && Array.isArray((answer.json as { data?: unknown } | undefined)?.data))
      return { status: answer.status, body: answer.json as T };
    throw zohoError(answer);
  }
}

export function zohoError(answer: RestAnswer): Error {
  const body = (answer.json ?? {}) as ZohoErrorBody;
  const message = `${body.code ?? answer.status}: ${describeError(answer.json, answer.text)}`;
  if (body.code === 'LIMIT_REACHED' || body.code === 'LIMIT_EXCEEDED') return new CrmQuotaExhausted(`Zoho API credits spent (${message})`, null);
  if (answer.status === 429 || body.code === 'TOO_MANY_REQUESTS')
    return new CrmRateLimited(`Zoho rate limit (${message})`, retryAfterMs(answer.headers.get('retry-after'), 60_000));
  if (answer.status === 401) return new CrmUnauthorized(`Zoho refused the access token (${message})`);
  if (answer.status >= 500) return new CrmUnavailable(`Zoho answered ${answer.status} (${message})`);
  return new CrmRequestRejected(`Zoho answered ${answer.status} (${message})`, answer.status);
}

/** Zoho's datetime literal (COQL, If-Modified-Since): whole seconds with an offset, `2026-01-01T00:00:00+00:00`. */
export function zohoDateTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}+00:00`;
}
