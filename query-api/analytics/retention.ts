import { DateTime } from 'luxon';
import type { Cohort, Interval } from './ports.ts';

/**
 * Cohorts from the two facts the stores give: the period each user joined in, and each (user, period) where
 * the user did something. Shared by every analytics store so the table means the same everywhere.
 */
export function cohortsFrom(
  joined: { userId: string; bucket: string }[],
  active: { userId: string; bucket: string }[],
  interval: Interval,
): Cohort[] {
  const cohortOf = new Map<string, string>();
  for (const { userId, bucket } of joined) {
    const known = cohortOf.get(userId);
    if (!known || bucket < known) cohortOf.set(userId, bucket);
  }
  const cohorts = new Map<string, { size: number; active: Map<number, Set<string>> }>();
  for (const cohort of cohortOf.values()) {
    const entry = cohorts.get(cohort) ?? { size: 0, active: new Map() };
    entry.size++;
    cohorts.set(cohort, entry);
  }
  for (const { userId, bucket } of active) {
    const cohort = cohortOf.get(userId);
    if (!cohort || bucket < cohort) continue;
    const k = periodsBetween(cohort, bucket, interval);
    const entry = cohorts.get(cohort)!;
    const users = entry.active.get(k) ?? new Set<string>();
    users.add(userId);
    entry.active.set(k, users);
  }
  return [...cohorts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([cohort, entry]) => {
      const periods = Math.max(0, ...entry.active.keys()) + 1;
      return { cohort, size: entry.size, active: Array.from({ length: periods }, (_, k) => entry.active.get(k)?.size ?? 0) };
    });
}

function periodsBetween(from: string, to: string, interval: Interval): number {
  const a = DateTime.fromISO(from, { zone: 'utc' });
  const b = DateTime.fromISO(to, { zone: 'utc' });
  if (interval === 'month') return (b.year - a.year) * 12 + (b.month - a.month);
  const days = Math.round(b.diff(a, 'days').days);
  return interval === 'week' ? Math.floor(days / 7) : days;
}
