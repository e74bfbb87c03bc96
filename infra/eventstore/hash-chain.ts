import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { NewEvent, RecordedEvent } from '../../domain/events.ts';
import { WrongExpectedRevisionError, type AppendResult, type ExpectedRevision, type StreamAppend } from '../../command-api/ports.ts';
import type { EventStore } from './event-store.ts';
import { retryPolicies, retrying } from '../retry.ts';
import { EventStoreLayer } from './event-store-layer.ts';

/**
 * JSON with object keys sorted at every level: the same value always gives the same text, whatever order
 * its keys were written in or the store gave them back in (jsonb reorders keys).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** What an event's hash covers: everything that says what happened, where in its stream, and its link. */
export function eventHash(event: Pick<RecordedEvent, 'streamId' | 'revision' | 'id' | 'type' | 'version' | 'data' | 'metadata'>): string {
  const { streamId, revision, id, type, version, data, metadata } = event;
  return createHash('sha256').update(canonicalJson({ streamId, revision, id, type, version, data, metadata })).digest('hex');
}

/** The link an event's metadata holds: the hash of the event before it in its stream (null for the first). */
export function previousHashOf(event: Pick<RecordedEvent, 'metadata'>): string | null | undefined {
  return (event.metadata as { previousHash?: string | null }).previousHash;
}

interface StreamTip {
  revision: number;
  hash: string;
}

/**
 * Tamper evidence for the log: every event appended through here carries in its metadata the hash of the
 * event before it in its stream (`previousHash`), so changing, removing or reordering a stored event breaks
 * the link of the next one (`nexusflow audit verify`). Works on any event store, as a wrapper: the previous
 * event's hash comes from a small cache of stream tips this process wrote, or from one read of that event.
 * Events stored before chaining existed carry no link; the first chained event links to the last of them.
 * An expectation of 'any' or 'stream_exists' is turned into the exact revision read, retried on conflict,
 * because a link must name one predecessor.
 */
export class HashChainedEventStore extends EventStoreLayer {
  private readonly tips = new LRUCache<string, StreamTip>({ max: 50_000 });

  constructor(private readonly store: EventStore) {
    super(store, {});
  }

  override async append(streamId: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    // Only an expectation we made exact ourselves is tried again: the caller's own stays the caller's. And
    // 'stream_exists' on a missing stream is the caller's answer, not a lost race (we append with exact ones).
    const ours = typeof expectedRevision !== 'number' && expectedRevision !== 'no_stream';
    const lostTheTip = (err: unknown) => ours && err instanceof WrongExpectedRevisionError && err.expected !== 'stream_exists';
    return retrying(
      retryPolicies.chainTip,
      async () => {
        const { expected, previous } = await this.tipFor(streamId, expectedRevision);
        try {
          const chained = this.chain(streamId, events, expected, previous);
          const result = await this.store.append(streamId, chained.events, expected);
          this.tips.set(streamId, { revision: result.nextRevision, hash: chained.last });
          return result;
        } catch (err) {
          if (err instanceof WrongExpectedRevisionError) this.tips.delete(streamId);
          throw err;
        }
      },
      { retryIf: lostTheTip },
    );
  }

  override get appendAtomically(): EventStore['appendAtomically'] {
    return this.store.appendAtomically ? (appends) => this.chainedAtomically(appends) : undefined;
  }

  private async chainedAtomically(appends: StreamAppend[]): Promise<AppendResult[]> {
    const prepared: StreamAppend[] = [];
    const lasts: string[] = [];
    for (const append of appends) {
      const { expected, previous } = await this.tipFor(append.streamId, append.expectedRevision);
      const chained = this.chain(append.streamId, append.events, expected, previous);
      prepared.push({ streamId: append.streamId, events: chained.events, expectedRevision: expected });
      lasts.push(chained.last);
    }
    try {
      const results = await this.store.appendAtomically!(prepared);
      results.forEach((result, i) => this.tips.set(prepared[i]!.streamId, { revision: result.nextRevision, hash: lasts[i]! }));
      return results;
    } catch (err) {
      for (const append of appends) this.tips.delete(append.streamId);
      throw err;
    }
  }

  private chain(streamId: string, events: NewEvent[], expected: ExpectedRevision, previous: string | null): { events: NewEvent[]; last: string } {
    let revision = typeof expected === 'number' ? expected : -1;
    let link = previous;
    const chained = events.map((event) => {
      revision += 1;
      const withLink = { ...event, metadata: { ...event.metadata, previousHash: link } } as NewEvent;
      link = eventHash({ ...withLink, streamId, revision });
      return withLink;
    });
    return { events: chained, last: link! };
  }

  /** The exact expectation to append with, and the hash the first new event links to. */
  private async tipFor(streamId: string, expectedRevision: ExpectedRevision): Promise<{ expected: ExpectedRevision; previous: string | null }> {
    if (expectedRevision === 'no_stream') return { expected: 'no_stream', previous: null };
    if (typeof expectedRevision === 'number') {
      const cached = this.tips.get(streamId);
      if (cached && cached.revision === expectedRevision) return { expected: expectedRevision, previous: cached.hash };
      const [event] = await this.store.readStream(streamId, { fromRevision: expectedRevision, maxCount: 1 });
      // Missing: the stream is not at that revision, and the append will say so.
      return { expected: expectedRevision, previous: event && event.revision === expectedRevision ? eventHash(event) : null };
    }
    const events = await this.store.readStream(streamId);
    const last = events[events.length - 1];
    if (!last) {
      if (expectedRevision === 'stream_exists') throw new WrongExpectedRevisionError(streamId, 'stream_exists', 'no_stream');
      return { expected: 'no_stream', previous: null };
    }
    return { expected: last.revision, previous: eventHash(last) };
  }
}
