import { DateTime, Duration } from 'luxon';
import { weekdays, type SendWindow, type Weekday } from './definition.ts';

/** Time arithmetic workflows need, in IANA time zones (DST-correct: wall-clock times are kept). */

/** An ISO 8601 duration (PT30M, P2D, P1W...) in milliseconds, or null when it is not one. */
export function durationMs(iso: string): number | null {
  const duration = Duration.fromISO(iso);
  if (!duration.isValid) return null;
  // Calendar units (days, weeks) count as their usual lengths: a wait is relative to when it starts.
  const ms = duration.as('milliseconds');
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/**
 * The shortest and the longest wait a workflow may ask for. At least a second: a zero or sub-second wait in a
 * cycle would run it hot (the per-execution step budget ends such a cycle, but it should not spin until
 * then). At most a year, counted as 365 days (a month as 30): longer is not a nurture sequence, and far
 * enough out the due date cannot even be represented.
 */
export const minWaitMs = 1_000;
export const maxWaitMs = 365 * 86_400_000;

/** Why `iso` is not a duration a wait may ask for, or null when it is one (1 second to 1 year, no negative parts). */
export function waitDurationProblem(iso: string): string | null {
  const duration = Duration.fromISO(iso);
  if (!duration.isValid) return 'must be an ISO 8601 duration such as PT30M or P2D';
  if (Object.values(duration.toObject()).some((part) => part < 0)) return 'must not have negative parts';
  const ms = duration.as('milliseconds');
  if (!(ms >= minWaitMs)) return 'must be at least 1 second (PT1S)';
  if (ms > maxWaitMs) return 'must be at most 1 year (P1Y, or 365 days)';
  return null;
}

/** "HH:MM" → minutes after midnight, or null. */
export function minutesOfDay(hhmm: string): number | null {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  return match ? Number(match[1]) * 60 + Number(match[2]) : null;
}

const luxonWeekday: Record<Weekday, number> = { mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6, sun: 7 };

/**
 * The next moment at or after `now` when the wall clock in `zone` shows `hhmm` on one of `days` (all days
 * when absent). On a day where that time does not exist (the DST gap) it is the first moment after the gap.
 */
export function nextTimeOfDay(now: Date, hhmm: string, zone: string, days: readonly Weekday[] = weekdays): Date {
  const minutes = minutesOfDay(hhmm);
  if (minutes === null) throw new Error(`not a time of day: ${hhmm}`);
  const allowed = new Set(days.map((day) => luxonWeekday[day]));
  let day = DateTime.fromJSDate(now, { zone }).startOf('day');
  for (let i = 0; i < 15; i++, day = day.plus({ days: 1 })) {
    if (!allowed.has(day.weekday)) continue;
    const candidate = day.set({ hour: Math.floor(minutes / 60), minute: minutes % 60 });
    if (candidate.toMillis() >= now.getTime()) return candidate.toJSDate();
  }
  throw new Error('no matching day within two weeks');
}

/**
 * When a send may go out: `now` itself inside the window, otherwise the window's next opening (in the
 * contact's zone). Windows that cross midnight are not supported (start must be before end).
 */
export function nextSendOpportunity(now: Date, window: SendWindow, zone: string): Date {
  const start = minutesOfDay(window.start)!;
  const end = minutesOfDay(window.end)!;
  const local = DateTime.fromJSDate(now, { zone });
  const minute = local.hour * 60 + local.minute;
  const today = window.days.map((day) => luxonWeekday[day]).includes(local.weekday);
  if (today && minute >= start && minute < end) return now;
  return nextTimeOfDay(today && minute < start ? now : local.plus({ days: 1 }).startOf('day').toJSDate(), window.start, zone, window.days);
}

export function isTimeZone(zone: string): boolean {
  return DateTime.now().setZone(zone).isValid;
}
