import {
  CrmError,
  CrmGrantRevoked,
  CrmQuotaExhausted,
  CrmRateLimited,
  CrmRequestRejected,
  CrmUnauthorized,
  CrmUnavailable,
} from '../../../projectors/integrations/ports.ts';
import { retryAfterMs } from '../rest/rest.ts';

/**
 * What @hubspot/api-client throws for an HTTP failure: its generated `ApiException`, with the status as `code`,
 * the parsed JSON body (HubSpot's error object, kept whole: the library's "Error" model is not in its type map)
 * and the answer's headers with lower-case names. Anything else (node-fetch's FetchError, our deadline) never
 * reached an answer.
 */
interface LibraryHttpError {
  code: number;
  body: unknown;
  headers: Record<string, string>;
}

function isHttpError(err: unknown): err is LibraryHttpError {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number' && 'headers' in err;
}

/** HubSpot's error fields we read (https://developers.hubspot.com/docs/api/error-handling). */
interface HubSpotErrorBody {
  status?: string;
  message?: string;
  category?: string;
  policyName?: string;
  error?: string;
  error_description?: string;
  correlationId?: string;
}

function errorBody(err: LibraryHttpError): HubSpotErrorBody {
  if (typeof err.body === 'object' && err.body !== null) return err.body as HubSpotErrorBody;
  if (typeof err.body === 'string') {
    try {
      return JSON.parse(err.body) as HubSpotErrorBody;
    } catch {
      return { message: err.body };
    }
  }
  return {};
}

/** Fallback waits when a 429 carries no Retry-After: the length of the policy's window. */
const POLICY_WINDOW_MS: Record<string, number> = { SECONDLY: 1_000, TEN_SECONDLY_ROLLING: 10_000 };

/**
 * Maps a failure of a HubSpot data call to the port's errors: 429 with policyName DAILY (or a daily budget
 * reported spent) → CrmQuotaExhausted; any other 429 (SECONDLY, TEN_SECONDLY_ROLLING, the search API's own
 * per-second limit) → CrmRateLimited after Retry-After, else the policy's window; 401 → CrmUnauthorized; 5xx and
 * no answer at all → CrmUnavailable; any other 4xx → CrmRequestRejected.
 *
 * HubSpot's daily limit resets at midnight in the portal's own time zone, which a data call does not tell us:
 * `resetAt` is null (unknown) and the caller backs off on its own schedule.
 */
export function hubSpotError(err: unknown, what: string): CrmError {
  if (err instanceof CrmError) return err;
  // Our outbound policy refused the configured host (node-fetch keeps the cause's code): a setting to fix, not a wait.
  if ((err as { code?: unknown } | null)?.code === 'outbound_refused')
    return new CrmRequestRejected(`HubSpot ${what}: ${(err as Error).message} (HUBSPOT_API_URL outside OUTBOUND_ALLOW_CIDRS?)`, 0);
  if (!isHttpError(err)) return new CrmUnavailable(`HubSpot ${what}: no answer (${err instanceof Error ? err.message : String(err)})`);
  const status = err.code;
  const body = errorBody(err);
  const message = `HubSpot ${what}: ${status} ${body.category ?? body.status ?? ''} ${body.message ?? body.error_description ?? ''}`
    .replace(/\s+/g, ' ')
    .trim();
  if (status === 429) {
    const daily = body.policyName === 'DAILY' || err.headers['x-hubspot-ratelimit-daily-remaining'] === '0';
    if (daily) return new CrmQuotaExhausted(message, null);
    return new CrmRateLimited(message, retryAfterMs(err.headers['retry-after'], POLICY_WINDOW_MS[body.policyName ?? ''] ?? 1_000));
  }
  if (status === 401) return new CrmUnauthorized(message);
  if (status >= 500) return new CrmUnavailable(message);
  return new CrmRequestRejected(message, status);
}

/**
 * A failure of the OAuth token endpoint: a refused code or refresh token (`invalid_grant`; HubSpot's own statuses
 * BAD_AUTH_CODE and BAD_REFRESH_TOKEN) means the grant is gone; the rest maps like a data call.
 */
export function hubSpotTokenError(err: unknown, what: string): CrmError {
  if (isHttpError(err) && err.code === 400) {
    const body = errorBody(err);
    if (body.error === 'invalid_grant' || body.status === 'BAD_REFRESH_TOKEN' || body.status === 'BAD_AUTH_CODE')
      return new CrmGrantRevoked(`HubSpot ${what}: ${body.message ?? body.error_description ?? 'invalid_grant'}`);
  }
  return hubSpotError(err, what);
}

/** The status of a library failure, when it was an HTTP answer. */
export function httpStatus(err: unknown): number | null {
  return isHttpError(err) ? err.code : null;
}
