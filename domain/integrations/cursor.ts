import { instantMs } from './values.ts';

/**
 * The incremental cursor of one sync direction: the highest (stamp, id) applied so far. Providers answer
 * "modified since" queries from stamps that are coarse (often whole seconds), set at commit time (an edit
 * committed late can carry an earlier stamp than one already read) and shared by many records. So the next
 * query starts a little before the cursor (the overlap window) and whatever comes back twice is dropped by
 * (id, stamp): a record stamped exactly at the cursor is read again, not lost, and applied once.
 */
export interface SyncCursor {
  /** The provider's modification stamp (ISO 8601). */
  stamp: string;
  /** The id of the last record at that stamp (ties on the stamp are ordered by id). */
  lastId: string;
}

/** A record as the cursor sees it. `revision`, when the provider has one finer than the stamp, tells two edits within one stamp apart. */
export interface StampedRecord {
  id: string;
  stamp: string;
  revision?: string;
}

export const DEFAULT_OVERLAP_MS = 5 * 60_000;

/**
 * Where the next query starts: the cursor's stamp minus the overlap, or null (everything: an initial sync)
 * without a cursor. A cursor whose stamp does not parse also reads everything: re-reading costs API calls,
 * skipping loses data.
 */
export function nextWindow(cursor: SyncCursor | null, overlapMs: number = DEFAULT_OVERLAP_MS): { since: string | null } {
  const ms = cursor ? instantMs(cursor.stamp) : null;
  if (ms === null) return { since: null };
  const overlap = Number.isFinite(overlapMs) && overlapMs > 0 ? overlapMs : 0;
  return { since: new Date(ms - overlap).toISOString() };
}

/**
 * The key a record was applied under: its id and stamp (normalized, so 12:00:00Z and 12:00:00.000Z agree),
 * plus its revision when it has one.
 */
export function seenKey(record: StampedRecord): string {
  const ms = instantMs(record.stamp);
  const stamp = ms === null ? record.stamp : new Date(ms).toISOString();
  return JSON.stringify(record.revision === undefined ? [record.id, stamp] : [record.id, stamp, record.revision]);
}

/** The records of a page not applied yet (by seenKey), in page order; a record twice in one page counts once. */
export function dedupe<R extends StampedRecord>(records: readonly R[], seen: ReadonlySet<string>): R[] {
  const kept = new Set<string>();
  return records.filter((record) => {
    const key = seenKey(record);
    if (seen.has(key) || kept.has(key)) return false;
    kept.add(key);
    return true;
  });
}

/** Order of (stamp, id): by instant, then id; negative when a comes first. Unparseable stamps sort first. */
export function compareStamped(a: { stamp: string; id: string }, b: { stamp: string; id: string }): number {
  const byStamp = (instantMs(a.stamp) ?? -Infinity) - (instantMs(b.stamp) ?? -Infinity);
  if (byStamp !== 0 && !Number.isNaN(byStamp)) return byStamp;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The cursor after a page: the greatest (stamp, id) among the cursor and the page's records. Never moves
 * back (a late-committed record with an older stamp does not rewind it). Records with unparseable stamps
 * are skipped: they cannot be placed.
 */
export function advance(cursor: SyncCursor | null, page: readonly StampedRecord[]): SyncCursor | null {
  let best = cursor;
  for (const record of page) {
    const ms = instantMs(record.stamp);
    if (ms === null) continue;
    const candidate = { stamp: new Date(ms).toISOString(), lastId: record.id };
    if (best === null || compareStamped({ stamp: candidate.stamp, id: candidate.lastId }, { stamp: best.stamp, id: best.lastId }) > 0)
      best = candidate;
  }
  return best;
}

/**
 * The seen keys worth keeping after a page: those of records inside the next overlap window (older ones can
 * no longer come back). Bounds what a checkpoint carries to the records of one window.
 */
export function seenWithin<R extends StampedRecord>(
  records: readonly R[],
  cursor: SyncCursor | null,
  overlapMs: number = DEFAULT_OVERLAP_MS,
): string[] {
  const { since } = nextWindow(cursor, overlapMs);
  const from = instantMs(since) ?? -Infinity;
  return records.filter((record) => (instantMs(record.stamp) ?? -Infinity) >= from).map(seenKey);
}
