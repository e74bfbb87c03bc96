import { providers, type ProviderId } from '../../domain/integrations/providers.ts';
import { ProblemError } from '../../infra/http/problem.ts';
import { OutboundRefusedError } from '../../infra/outbound/guarded-http.ts';
import { ProviderNotConfiguredError } from '../../infra/crm/integration-connections.ts';
import {
  CrmError,
  CrmGrantRevoked,
  CrmQuotaExhausted,
  CrmRateLimited,
  CrmRequestRejected,
  CrmUnauthorized,
  CrmUnavailable,
} from '../../projectors/integrations/ports.ts';

export function providerNotConfigured(provider: ProviderId, missing: readonly string[]): ProblemError {
  return new ProblemError(
    503,
    'Provider not configured',
    `${providers[provider].displayName} is not configured on this server: the operator must set ${missing.join(' and ')}.`,
    { code: 'provider_not_configured', provider, missingSettings: [...missing] },
  );
}

/**
 * A provider's failure as the API answers it: never a 500. The provider's own message is not echoed (it may
 * name internals of the customer's CRM account); the code says what happened.
 */
export function crmProblem(err: unknown, provider: ProviderId): ProblemError | null {
  const name = providers[provider].displayName;
  if (err instanceof ProviderNotConfiguredError) return providerNotConfigured(provider, err.missing);
  if (err instanceof OutboundRefusedError)
    return new ProblemError(502, 'Provider unreachable', `The ${name} host of this account is not one this server may call.`, {
      code: 'provider_unreachable',
    });
  if (!(err instanceof CrmError)) return null;
  if (err instanceof CrmGrantRevoked)
    return new ProblemError(409, 'Conflict', `${name} refused the grant: reconnect the integration.`, { code: 'needs_reconnect' });
  if (err instanceof CrmRateLimited)
    return new ProblemError(
      503,
      'Provider rate limit',
      `${name} asks to slow down; retry later.`,
      { code: 'provider_rate_limited' },
      { 'Retry-After': String(Math.max(1, Math.ceil(err.retryAfterMs / 1_000))) },
    );
  if (err instanceof CrmQuotaExhausted)
    return new ProblemError(503, 'Provider quota exhausted', `The ${name} API quota is spent until ${err.resetAt ?? 'it resets'}.`, {
      code: 'provider_quota_exhausted',
    });
  if (err instanceof CrmUnavailable)
    return new ProblemError(502, 'Provider unavailable', `${name} did not answer; retry shortly.`, { code: 'provider_unavailable' });
  if (err instanceof CrmUnauthorized)
    return new ProblemError(502, 'Provider refused the token', `${name} refused the access token.`, { code: 'provider_unauthorized' });
  if (err instanceof CrmRequestRejected)
    return new ProblemError(502, 'Provider refused the request', `${name} refused the request (HTTP ${err.status}).`, { code: 'provider_rejected' });
  return new ProblemError(502, 'Provider error', `${name} failed.`, { code: 'provider_error' });
}

/** Runs a call to a provider, answering its failures as problems. */
export async function callingProvider<T>(provider: ProviderId, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw crmProblem(err, provider) ?? err;
  }
}
