import type { GlobalEventLog } from '../../projectors/ports.ts';

/** A page asked of the store. */
export interface PageRead {
  after: string | null;
  maxCount: number;
  types: readonly string[] | undefined;
}

/** `store` as the projectors read it, every page read from it recorded in `reads` (in order). */
export function countedLog(store: GlobalEventLog): { log: GlobalEventLog; reads: PageRead[] } {
  const reads: PageRead[] = [];
  const log: GlobalEventLog = {
    readPage: (options) => {
      reads.push({ after: options.after, maxCount: options.maxCount, types: options.types });
      return store.readPage(options);
    },
    readAll: (options) => store.readAll(options),
    headPosition: () => store.headPosition(),
    isValidPosition: (value) => store.isValidPosition(value),
    comparePositions: (a, b) => store.comparePositions(a, b),
    waitForAppends: (after, timeoutMs, signal) => store.waitForAppends(after, timeoutMs, signal),
  };
  return { log, reads };
}
