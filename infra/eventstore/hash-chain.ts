import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { NewEvent, RecordedEvent } from '../../domain/events.ts';
import {
  WrongExpectedRevisionError,
  checkBulk,
  type AppendResult,
  type BulkAppendOutcome,
  type ExpectedRevision,
  type NewPersonalDataKey,
  type ReadStreamOptions,
  type StreamAppend,
} from '../../command-api/ports.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { EventStore } from './event-store.ts';
import { retryPolicies, retrying } from '../retry.ts';
import { EventStoreLayer } from './event-store-layer.ts';

/**
 * JSON with object keys sorted at every level: the same value always gives the same text, whatever order
 * its keys were written in or the store gave them back in (jsonb reorders keys).
 */
export function canonicalJson(value: unknown): string {
  // Hot (every appended event is hashed): one string built in place, no arrays of entries on the way.
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += item === undefined ? 'null' : canonicalJson(item);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  let first = true;
  for (const key of sortedKeys(record)) {
    const item = record[key];
    if (item === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += `${quotedKey(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}

/**
 * An object's keys in order of UTF-16 code units (as the default sort and `<` compare). Most are in order
 * already (events are built with the same literals each time): checked in one pass, sorted only if not.
 */
function sortedKeys(record: object): string[] {
  const keys = Object.keys(record);
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) return keys.sort();
  return keys;
}

/** Keys as JSON strings, remembered (events repeat the same few keys); bounded, since data may bring any key. */
const quotedKeys = new Map<string, string>();
const QUOTED_KEYS_MAX = 10_000;

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < QUOTED_KEYS_MAX) quotedKeys.set(key, quoted);
  }
  return quoted;
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
  /** The tip's hash, or the tip itself when nobody needed its hash yet (most streams get no second append here). */
  hash: string | (() => string);
}

/** Stream tips a bulk append reads at once (streams it has no tip of, and which it does not create). */
const TIP_READS = 32;

/**
 * Tamper evidence for the log: every event appended through here carries in its metadata the hash of the
 * event before it in its stream (`previousHash`), so changing, removing or reordering a stored event breaks
 * the link of the next one (`nexusflow audit verify`). Works on any event store, as a wrapper: the previous
 * event's hash comes from a small cache of stream tips this process wrote or read, or from one read of that
 * event.
 * Events stored before chaining existed carry no link; the first chained event links to the last of them.
 * An expectation of 'any' or 'stream_exists' is turned into the exact revision read, retried on conflict,
 * because a link must name one predecessor.
 */
export class HashChainedEventStore extends EventStoreLayer {
  // Tips hold their last event until its hash is needed: fewer of them than hashes would fit (memory).
  private readonly tips = new LRUCache<string, StreamTip>({ max: 20_000 });

  constructor(
    private readonly store: EventStore,
    private readonly metrics?: Metrics,
  ) {
    super(store, {});
  }

  override async append(
    streamId: string,
    events: NewEvent[],
    expectedRevision: ExpectedRevision,
    keys?: readonly NewPersonalDataKey[],
  ): Promise<AppendResult> {
    // Only an expectation we made exact ourselves is tried again: the caller's own stays the caller's. And
    // 'stream_exists' on a missing stream is the caller's answer, not a lost race (we append with exact ones).
    const ours = typeof expectedRevision !== 'number' && expectedRevision !== 'no_stream';
    const lostTheTip = (err: unknown) => ours && err instanceof WrongExpectedRevisionError && err.expected !== 'stream_exists';
    const once = async () => {
      const linked = this.metrics?.layer('hash_chain');
      const { expected, previous } = await this.tipFor(streamId, expectedRevision);
      try {
        const chained = this.chain(streamId, events, expected, previous);
        linked?.();
        const result = await this.store.append(streamId, chained.events, expected, keys);
        this.tips.set(streamId, { revision: result.nextRevision, hash: chained.last });
        return result;
      } catch (err) {
        if (err instanceof WrongExpectedRevisionError) this.tips.delete(streamId);
        throw err;
      }
    };
    // The first try without the retry machinery (almost every append wins it).
    try {
      return await once();
    } catch (err) {
      if (!lostTheTip(err)) throw err;
    }
    return retrying({ ...retryPolicies.chainTip, attempts: retryPolicies.chainTip.attempts - 1 }, once, { retryIf: lostTheTip });
  }

  /**
   * A stream read here leaves its last event as a known tip (hashed only if an append needs it): a command
   * that reads a stream written by another process, then appends to it, links without reading it again.
   */
  override async readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    const events = await this.store.readStream(streamId, options);
    const last = events[events.length - 1];
    const known = this.tips.peek(streamId);
    if (last && (!known || known.revision < last.revision)) {
      let hash: string | null = null;
      this.tips.set(streamId, { revision: last.revision, hash: () => (hash ??= eventHash(last)) });
    }
    return events;
  }

  override get appendAtomically(): EventStore['appendAtomically'] {
    return this.store.appendAtomically ? (appends) => this.chainedAtomically(appends) : undefined;
  }

  private async chainedAtomically(appends: StreamAppend[]): Promise<AppendResult[]> {
    const linked = this.metrics?.layer('hash_chain');
    const prepared: StreamAppend[] = [];
    const lasts: (() => string)[] = [];
    for (const append of appends) {
      const { expected, previous } = await this.tipFor(append.streamId, append.expectedRevision);
      const chained = this.chain(append.streamId, append.events, expected, previous);
      prepared.push({ streamId: append.streamId, events: chained.events, expectedRevision: expected, keys: append.keys });
      lasts.push(chained.last);
    }
    linked?.();
    try {
      const results = await this.store.appendAtomically!(prepared);
      results.forEach((result, i) => this.tips.set(prepared[i]!.streamId, { revision: result.nextRevision, hash: lasts[i]! }));
      return results;
    } catch (err) {
      for (const append of appends) this.tips.delete(append.streamId);
      throw err;
    }
  }

  override get appendBulk(): EventStore['appendBulk'] {
    return this.store.appendBulk ? (appends) => this.chainedBulk(appends) : undefined;
  }

  /**
   * Chains every append of a bulk from its stream's tip: a new stream links to null, a known tip is used as
   * it is, any other is read (a few streams at a time; the port has no read of many tips at once, and an
   * import mostly creates streams). An expectation we made exact ('any', 'stream_exists') and lost to a
   * concurrent writer is chained again from the new tip and sent in a next, smaller bulk, as `append` retries.
   */
  private async chainedBulk(appends: StreamAppend[]): Promise<BulkAppendOutcome[]> {
    checkBulk(appends);
    const outcomes: BulkAppendOutcome[] = new Array<BulkAppendOutcome>(appends.length);
    const ours = (expected: ExpectedRevision) => expected === 'any' || expected === 'stream_exists';
    let pending = appends.map((_, i) => i);
    for (let attempt = 1; pending.length > 0; attempt++) {
      const linked = this.metrics?.layer('hash_chain');
      const sent: number[] = [];
      const prepared: StreamAppend[] = [];
      const lasts: (() => string)[] = [];
      for (let start = 0; start < pending.length; start += TIP_READS) {
        const group = pending.slice(start, start + TIP_READS);
        const tips = await Promise.all(
          group.map((i) =>
            this.tipFor(appends[i]!.streamId, appends[i]!.expectedRevision).catch((err: unknown) => {
              // 'stream_exists' on a missing stream: that append's answer, not the bulk's.
              if (err instanceof WrongExpectedRevisionError) return err;
              throw err;
            }),
          ),
        );
        group.forEach((i, j) => {
          const tip = tips[j]!;
          if (tip instanceof WrongExpectedRevisionError) {
            outcomes[i] = { status: 'wrong_expected_revision', actual: tip.actual };
            return;
          }
          const { streamId, events } = appends[i]!;
          const chained = this.chain(streamId, events, tip.expected, tip.previous);
          sent.push(i);
          prepared.push({ streamId, events: chained.events, expectedRevision: tip.expected });
          lasts.push(chained.last);
        });
      }
      linked?.();
      let results: BulkAppendOutcome[];
      try {
        results = prepared.length > 0 ? await this.store.appendBulk!(prepared) : [];
      } catch (err) {
        for (const append of prepared) this.tips.delete(append.streamId);
        throw err;
      }
      const again: number[] = [];
      results.forEach((outcome, j) => {
        const i = sent[j]!;
        const { streamId } = prepared[j]!;
        if (outcome.status === 'stored') {
          this.tips.set(streamId, { revision: outcome.nextRevision, hash: lasts[j]! });
          outcomes[i] = outcome;
          return;
        }
        this.tips.delete(streamId);
        if (outcome.status === 'wrong_expected_revision' && ours(appends[i]!.expectedRevision) && attempt < retryPolicies.chainTip.attempts) {
          again.push(i);
        } else {
          outcomes[i] = outcome;
        }
      });
      pending = again;
    }
    return outcomes;
  }

  private chain(
    streamId: string,
    events: NewEvent[],
    expected: ExpectedRevision,
    previous: string | null,
  ): { events: NewEvent[]; last: () => string } {
    let revision = typeof expected === 'number' ? expected : -1;
    let link = previous;
    const chained: NewEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      revision += 1;
      const withLink = { ...events[i]!, metadata: { ...events[i]!.metadata, previousHash: link } } as NewEvent;
      chained.push(withLink);
      // Every event but the last is hashed now (the next one links to it); the last when first needed.
      if (i < events.length - 1) link = eventHash({ ...withLink, streamId, revision });
    }
    const tip = { ...chained[chained.length - 1]!, streamId, revision };
    let hash: string | null = null;
    return { events: chained, last: () => (hash ??= eventHash(tip)) };
  }

  /** The exact expectation to append with, and the hash the first new event links to. */
  private async tipFor(streamId: string, expectedRevision: ExpectedRevision): Promise<{ expected: ExpectedRevision; previous: string | null }> {
    if (expectedRevision === 'no_stream') return { expected: 'no_stream', previous: null };
    if (typeof expectedRevision === 'number') {
      const cached = this.tips.get(streamId);
      if (cached && cached.revision === expectedRevision) {
        const hash = typeof cached.hash === 'string' ? cached.hash : cached.hash();
        return { expected: expectedRevision, previous: hash };
      }
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
