import { CronExpressionParser } from 'cron-parser';

/**
 * Firing times of a cron schedule in an IANA zone, through cron-parser: wall-clock times are kept across DST
 * changes (09:30 stays 09:30), a time that does not exist on the spring-forward day fires just after the gap,
 * and a time that exists twice on the fall-back day fires once.
 */
export function nextOccurrence(cron: string, timezone: string, after: Date): Date {
  return CronExpressionParser.parse(cron, { currentDate: after, tz: timezone }).next().toDate();
}

/** Firings strictly after `after` and at or before `until`, oldest first, at most `max`. */
export function occurrences(cron: string, timezone: string, after: Date, until: Date, max = 10_000): Date[] {
  const interval = CronExpressionParser.parse(cron, { currentDate: after, tz: timezone });
  const found: Date[] = [];
  while (found.length < max) {
    const next = interval.next().toDate();
    if (next.getTime() > until.getTime()) break;
    found.push(next);
  }
  return found;
}
