import type { CrmConnection } from '../../../projectors/integrations/ports.ts';
import { CrmQuotaExhausted, CrmRateLimited, CrmRequestRejected, CrmUnauthorized, CrmUnavailable } from '../../../projectors/integrations/ports.ts';
import { describeError, nextUtcMidnight, retryAfterMs, send, type FetchLike, type RestAnswer } from '../rest/rest.ts';

/**
 * Pipedrive's REST API at the company's `api_domain` (from the token answer, so only through the guarded
 * client). Answers are `{ success, data, additional_data }`; failures `{ success: false, error, error_info }`.
 *
 * Limits (https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting): a burst window answered with 429,
 * Retry-After and `x-ratelimit-*` headers; and a daily token budget per company whose exhaustion is also a 429,
 * told apart by its message naming the daily limit (CrmQuotaExhausted until the next UTC midnight).
 */
export class PipedriveApi {
  /** When a successful answer said the burst window is spent (x-ratelimit-remaining: 0), calls wait until then. */
  private readonly notBefore = new Map<string, number>();

  constructor(
    private readonly fetchFn: FetchLike,
    private readonly timeoutMs: number,
  ) {}

  async call<T = unknown>(
    connection: CrmConnection,
    method: string,
    path: string,
    options: { query?: Record<string, string | number | undefined>; json?: unknown; allow404?: boolean } = {},
  ): Promise<{ data: T; additional: Record<string, unknown>; status: number }> {
    const host = connection.instanceUrl;
    if (!host) throw new CrmRequestRejected('the Pipedrive grant has no api_domain', 0);
    const wait = (this.notBefore.get(host) ?? 0) - Date.now();
    if (wait > 0) throw new CrmRateLimited('Pipedrive rate limit window spent (x-ratelimit-remaining: 0)', wait);
    const url = new URL(path, host);
    for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
    const answer = await send(
      this.fetchFn,
      { method, url: url.toString(), headers: { authorization: `Bearer ${connection.accessToken}` }, json: options.json },
      this.timeoutMs,
    );
    this.noteWindow(host, answer);
    if (answer.status === 404 && options.allow404) return { data: null as T, additional: {}, status: 404 };
    if (answer.status >= 200 && answer.status < 300) {
      const body = (answer.json ?? {}) as { data?: T; additional_data?: Record<string, unknown> };
      return { data: body.data as T, additional: body.additional_data ?? {}, status: answer.status };
    }
    throw pipedriveError(answer);
  }

  private noteWindow(host: string, answer: RestAnswer): void {
    const remaining = answer.headers.get('x-ratelimit-remaining');
    const reset = Number(answer.headers.get('x-ratelimit-reset'));
    if (answer.status < 400 && remaining === '0' && Number.isFinite(reset) && reset > 0) this.notBefore.set(host, Date.now() + reset * 1000);
    else this.notBefore.delete(host);
  }
}

export function pipedriveError(answer: RestAnswer): Error {
  const message = describeError(answer.json, answer.text);
  if (answer.status === 401) return new CrmUnauthorized(`Pipedrive refused the access token: ${message}`);
  if (answer.status === 429) {
    if (/daily/i.test(message)) return new CrmQuotaExhausted(`Pipedrive daily API budget spent: ${message}`, nextUtcMidnight());
    const reset = Number(answer.headers.get('x-ratelimit-reset'));
    return new CrmRateLimited(
      `Pipedrive rate limit: ${message}`,
      retryAfterMs(answer.headers.get('retry-after'), Number.isFinite(reset) && reset > 0 ? reset * 1000 : 2000),
    );
  }
  if (answer.status >= 500) return new CrmUnavailable(`Pipedrive answered ${answer.status}: ${message}`);
  return new CrmRequestRejected(`Pipedrive answered ${answer.status}: ${message}`, answer.status);
}
