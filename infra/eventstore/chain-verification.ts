import { createHash } from 'node:crypto';
import type { GlobalEventLog } from '../../projectors/ports.ts';
import { eventHash, previousHashOf } from './hash-chain.ts';

export interface BrokenLink {
  streamId: string;
  /** The event whose link does not match (the one before it, or its link, was changed or removed). */
  revision: number;
  position: string;
  eventId: string;
  /** What the link should be (the hash of the event before it as stored now) and what it is. */
  expected: string | null;
  found: string | null;
  reason: 'link_mismatch' | 'revision_gap';
}

export interface ChainReport {
  events: number;
  streams: number;
  /** Events stored before chaining existed: they carry no link (the next chained event links to them). */
  unchained: number;
  brokenLinks: number;
  /** The first broken link in log order; null when every chain holds. */
  firstBroken: BrokenLink | null;
  /**
   * A digest of every stream's newest event: keep it somewhere else and compare later, and a change to the
   * newest event of a stream (which no later link covers yet) shows too.
   */
  headsDigest: string;
  lastPosition: string | null;
}

/**
 * Walks the whole log in order and checks every stream's chain: each event's `previousHash` must be the
 * hash of the event before it as stored now, and revisions must follow each other. Memory grows with the
 * number of streams (one tip each), not with the number of events.
 */
export async function verifyChains(
  log: Pick<GlobalEventLog, 'readAll'>,
  options: { tenantId?: string; pageSize?: number; onProgress?(checked: number, position: string | null): void } = {},
): Promise<ChainReport> {
  const tips = new Map<string, { revision: number; hash: string }>();
  const report: Omit<ChainReport, 'headsDigest' | 'streams'> = { events: 0, unchained: 0, brokenLinks: 0, firstBroken: null, lastPosition: null };
  let after: string | null = null;
  for (;;) {
    const page = await log.readAll({ after, maxCount: options.pageSize ?? 1_000 });
    if (page.length === 0) break;
    for (const event of page) {
      after = event.position;
      if (options.tenantId !== undefined && event.metadata.tenantId !== options.tenantId) continue;
      report.events++;
      report.lastPosition = event.position;
      const tip = tips.get(event.streamId);
      const link = previousHashOf(event);
      let broken: BrokenLink['reason'] | null = null;
      if ((tip ? tip.revision + 1 : 0) !== event.revision && !(tip === undefined && link === undefined)) broken = 'revision_gap';
      if (link === undefined) report.unchained++;
      else if (link !== (tip?.hash ?? null)) broken ??= 'link_mismatch';
      if (broken) {
        report.brokenLinks++;
        report.firstBroken ??= {
          streamId: event.streamId,
          revision: event.revision,
          position: event.position,
          eventId: event.id,
          expected: tip?.hash ?? null,
          found: link ?? null,
          reason: broken,
        };
      }
      tips.set(event.streamId, { revision: event.revision, hash: eventHash(event) });
    }
    options.onProgress?.(report.events, after);
  }
  const heads = createHash('sha256');
  for (const streamId of [...tips.keys()].sort()) {
    const tip = tips.get(streamId)!;
    heads.update(`${streamId}\n${tip.revision}\n${tip.hash}\n`);
  }
  return { ...report, streams: tips.size, headsDigest: heads.digest('hex') };
}
