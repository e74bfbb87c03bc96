import type { DomainEvent } from '../events.ts';

/**
 * How many authenticated API requests an organization made in a window, as one process counted them. The
 * analytics read model sums these (metric api_calls); processes count apart, so a window may have several.
 */
export type ApiCallsCounted = DomainEvent<
  'ApiCallsCounted',
  {
    organizationId: string;
    calls: number;
    /** The window counted, [from, to), ISO 8601. */
    from: string;
    to: string;
  }
>;

/** One stream per organization, process (meter) and window: a retried append of the same window is refused, never counted twice. */
export function apiUsageStream(organizationId: string, meterId: string, window: number): string {
  return `apiusage-${organizationId}-${meterId}-${window}`;
}
