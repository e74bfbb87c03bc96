import { PassThrough } from 'node:stream';
import { retryAfterMs } from '../rest/rest.ts';
import type { HttpRequest, HttpResponse } from 'jsforce';
import type { Transport } from 'jsforce/lib/transport.js';
import { StreamPromise } from 'jsforce/lib/util/promise.js';
import { OutboundRefusedError } from '../../outbound/guarded-http.ts';
import {
  CrmQuotaExhausted,
  CrmRateLimited,
  CrmRequestRejected,
  CrmUnauthorized,
  CrmUnavailable,
  type CrmError,
} from '../../../projectors/integrations/ports.ts';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/**
 * jsforce's HTTP transport replaced by one over a `fetch` we choose. jsforce 3.10 sends through node-fetch 2
 * with no way to pass an agent (only an HTTP proxy), follows redirects and retries 429/5xx by itself with
 * sleeps; a Connection's `_transport` (and an OAuth2's) is the one seam it offers, so we set it:
 *
 * - for the instance URL (a host from a token answer) the fetch is the guarded outbound client's, so every
 *   connection is vetted by the address policy;
 * - redirects are never followed (a 3xx is an error), nothing is retried here (the sync decides, knowing
 *   Retry-After and the daily quota), every call has a deadline;
 * - in `api` mode the provider's refusals become the port's errors right here, where the status and headers
 *   (Retry-After, Sforce-Limit-Info) are still at hand; jsforce's own errors would drop them.
 */
export class FetchTransport {
  constructor(
    private readonly fetch: FetchLike,
    private readonly timeoutMs: number,
    private readonly mode: 'api' | 'oauth',
  ) {}

  /** As jsforce's `Transport#httpRequest`: a promise of the whole answer with a `stream()` of its body. */
  httpRequest(request: HttpRequest): StreamPromise<HttpResponse> {
    return StreamPromise.create(() => {
      const stream = new PassThrough();
      const promise = this.send(request).then(
        (response) => {
          stream.end(response.body);
          return response;
        },
        (err: unknown) => {
          stream.end();
          throw err;
        },
      );
      return { stream, promise };
    });
  }

  getRequestStreamCreator(): never {
    throw new Error('streaming requests are not supported by this transport');
  }

  /** As jsforce's type wants it (the class is not exported as a value we could extend). */
  asJsforce(): Transport {
    return this as unknown as Transport;
  }

  private async send(request: HttpRequest): Promise<HttpResponse> {
    // fetch computes the length itself; jsforce's precomputed one is dropped rather than trusted.
    const headers = Object.fromEntries(Object.entries(request.headers ?? {}).filter(([name]) => name.toLowerCase() !== 'content-length'));
    let response: Response;
    let body: string;
    try {
      response = await this.fetch(request.url, {
        method: request.method,
        headers,
        redirect: 'manual',
        ...(request.body !== undefined && request.body !== null ? { body: request.body as string } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      body = await response.text();
    } catch (err) {
      throw transportFailure(err, request.url);
    }
    const answer: HttpResponse = { statusCode: response.status, headers: Object.fromEntries(response.headers), body };
    if (response.status >= 300 && response.status < 400)
      throw new CrmRequestRejected(`Salesforce answered ${response.status} (a redirect, not followed) for ${pathOf(request.url)}`, response.status);
    if (this.mode === 'api' && response.status >= 400) throw apiFailure(answer);
    if (this.mode === 'oauth' && (response.status >= 500 || response.status === 429)) throw apiFailure(answer);
    return answer;
  }
}

/** A failure that never got an answer: refused by the address policy, timed out, or the network. */
function transportFailure(err: unknown, url: string): CrmError {
  // fetch wraps a refusal made while connecting (a name that resolves to a refused address) as its cause.
  const refusal = err instanceof OutboundRefusedError ? err : (err as { cause?: unknown })?.cause;
  if (refusal instanceof OutboundRefusedError) {
    const refused = new CrmRequestRejected(`Salesforce instance URL refused by the outbound policy (${refusal.message})`, 0);
    (refused as Error).cause = refusal;
    return refused;
  }
  const reason = err instanceof Error ? (err.name === 'TimeoutError' ? 'timed out' : `${err.message}${causeOf(err)}`) : String(err);
  const failure = new CrmUnavailable(`Salesforce did not answer ${pathOf(url)}: ${reason}`);
  (failure as Error).cause = err;
  return failure;
}

/** Salesforce's error answer (`[{ message, errorCode }]`) as the port's error. */
export function apiFailure(response: HttpResponse): CrmError {
  const { errorCode, message } = firstError(response.body);
  const status = response.statusCode;
  const text = `Salesforce ${status}${errorCode ? ` ${errorCode}` : ''}: ${message}`;
  if (status === 401) return new CrmUnauthorized(text);
  if (status === 429) return new CrmRateLimited(text, retryAfterMs(response.headers['retry-after'], DEFAULT_RATE_WAIT_MS));
  if (errorCode === 'REQUEST_LIMIT_EXCEEDED') {
    // The same code covers the rolling 24-hour API quota ("TotalRequests Limit exceeded") and the org's
    // concurrent long-request limit ("ConcurrentPerOrgLongTxn"), which clears in seconds.
    if (/concurrent/i.test(message)) return new CrmRateLimited(text, retryAfterMs(response.headers['retry-after'], DEFAULT_RATE_WAIT_MS));
    return new CrmQuotaExhausted(text, null);
  }
  if (status >= 500) return new CrmUnavailable(text);
  return new CrmRequestRejected(text, status);
}

/** Salesforce sends no Retry-After with its limits; when none comes, wait this long. */
const DEFAULT_RATE_WAIT_MS = 20_000;

function firstError(body: string): { errorCode: string | null; message: string } {
  try {
    const parsed = JSON.parse(body) as unknown;
    const first = (Array.isArray(parsed) ? parsed[0] : parsed) as
      { errorCode?: unknown; message?: unknown; error?: unknown; error_description?: unknown } | undefined;
    if (first && typeof first === 'object') {
      const errorCode = typeof first.errorCode === 'string' ? first.errorCode : typeof first.error === 'string' ? first.error : null;
      const message =
        typeof first.message === 'string' ? first.message : typeof first.error_description === 'string' ? first.error_description : body;
      return { errorCode, message };
    }
  } catch {
    // not JSON: an HTML error page from a proxy or a maintenance screen
  }
  return { errorCode: null, message: body.slice(0, 200) };
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

function causeOf(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? ` (${cause.message})` : '';
}
