import type { EventStreams } from '../../command-api/ports.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { GlobalEventLog } from '../../projectors/ports.ts';

/** An event store: the command side's streams and the projectors' global log, closed with the process. */
export type EventStore = EventStreams & GlobalEventLog & { close(): Promise<void> };

/** The log as stored (hash-chain links included), and how the application reads stored events. */
export interface StoredLog {
  log: EventStore;
  /** Stored events as the application reads them (personal data opened, old versions upgraded). */
  readable(events: RecordedEvent[]): Promise<RecordedEvent[]>;
}
