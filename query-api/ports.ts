/** How far the read models have got, so a query can wait for a client's own write (read-your-writes). */
export interface ReadModelProgress {
  /** Whether a client-supplied string is a position of the event store in use. */
  isValidPosition(value: string): boolean;
  /** Resolves true once every named projection has applied `position`, false after `timeoutMs`. */
  waitFor(projections: readonly string[], position: string, timeoutMs: number): Promise<boolean>;
  /** Whether no event has (yet) been committed at `position`: no command can have answered it. */
  isBeyondHead(position: string): Promise<boolean>;
}
