import type { EventMetadata, RecordedEvent } from '../../domain/events.ts';

/** Parses a position an adapter produced as a decimal string; used by adapters with integer positions. */
export function compareDecimalPositions(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export type { EventMetadata, RecordedEvent };
