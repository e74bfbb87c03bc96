import type pg from 'pg';
import type { PlainConnection } from './orm.ts';

/** The socket under a driver's connection (not in its types). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * A transaction whose statements go to the server without waiting for each other's answers (the driver's
 * pipeline mode): BEGIN, the statements, COMMIT, each written as soon as it is asked for, and what is asked for
 * within one turn of the event loop written together, in one system call. A projection's live batch is then
 * one round trip instead of three (BEGIN and the checkpoint's move, its statement, COMMIT). Measured here: each
 * statement written to PostgreSQL wakes a backend, which on this 2-core machine often runs on the writer's
 * CPU before the writer gets it back, so a write fewer is worth more than its own cost.
 *
 * Statements are answered in order. One that fails aborts the transaction: those after it fail too (current
 * transaction is aborted) and COMMIT answers ROLLBACK. `commit` therefore waits for every answer and throws
 * the first failure in the order sent (the cause, not its echoes), so a caller sees the same error as when it
 * sent the statements one by one. `send` is for a statement whose answer nobody reads: it does not wait for it,
 * and its failure fails the commit.
 *
 * The connection is in pipeline mode from `begin` until the transaction has ended (`commit` or `rollback`, which
 * both wait for every answer); nothing else may use it meanwhile. A COPY cannot be pipelined (copyRows knows).
 */
export class PipelinedTransaction implements PlainConnection {
  private readonly answers: Promise<unknown>[] = [];
  private failure: { index: number; error: unknown } | null = null;
  private corked = false;
  private ended = false;

  private constructor(private readonly client: pg.ClientBase) {}

  /** BEGIN on `client` (which nothing else uses until the transaction ends), in pipeline mode. */
  static begin(client: pg.ClientBase): PipelinedTransaction {
    const transaction = new PipelinedTransaction(client);
    pipelineMode(client, true);
    transaction.send({ text: 'BEGIN' });
    return transaction;
  }

  query<R extends object>(config: { name?: string; text: string; values?: unknown[] }): Promise<{ rows: R[] }>;
  query<S extends pg.Submittable>(submittable: S): S;
  query(config: { name?: string; text: string; values?: unknown[] } | pg.Submittable): unknown {
    if ('submit' in config) throw new Error('a pipelined transaction takes statements only (no COPY, no cursor)');
    return this.submit(config);
  }

  /** A statement whose answer nobody reads: written with the next ones; its failure fails the commit. */
  send(config: { name?: string; text: string; values?: unknown[] }): void {
    void this.submit(config).catch(() => undefined);
  }

  /** COMMIT, then every answer: throws the first failure (and the transaction is rolled back then). */
  async commit(): Promise<void> {
    const committed = this.submit({ text: 'COMMIT' });
    await this.settle();
    if (this.failure) throw this.failure.error;
    const { command } = (await committed) as pg.QueryResult;
    // Cannot happen without a failure above; a COMMIT that rolled back must never pass for one that did not.
    if (command !== 'COMMIT') throw new Error(`the pipelined transaction ended in ${command}, not COMMIT`);
  }

  /** ROLLBACK (unless COMMIT was sent), then every answer; never throws. */
  async rollback(): Promise<void> {
    if (!this.ended) void this.submit({ text: 'ROLLBACK' }).catch(() => undefined);
    await this.settle().catch(() => undefined);
  }

  /**
   * ROLLBACK (unless COMMIT was sent), every answer, and the first failure in the order sent: what to report
   * when the caller's own code threw meanwhile (a statement's echo "transaction is aborted" is not the cause).
   */
  async rollbackWithCause(): Promise<unknown> {
    await this.rollback();
    return this.failure?.error;
  }

  private submit(config: { name?: string; text: string; values?: unknown[] }): Promise<unknown> {
    if (this.ended) return Promise.reject(new Error('the pipelined transaction has ended'));
    // A value the driver cannot encode fails on this side only, after the statements before it went out and
    // before the server hears of it: a COMMIT behind it would commit the rest. Refused here, before anything
    // of it is sent (the caller's code then throws, and the transaction is rolled back).
    for (const value of config.values ?? []) {
      if (!isPlainValue(value))
        throw new TypeError(`a pipelined statement takes text, numbers, booleans, dates, bytes, nulls and arrays of them, not ${typeof value}`);
    }
    if (config.text === 'COMMIT' || config.text === 'ROLLBACK') this.ended = true;
    this.cork();
    const index = this.answers.length;
    const answer = this.client.query(config).catch((error: unknown) => {
      if (!this.failure || index < this.failure.index) this.failure = { index, error };
      throw error;
    });
    // Handled: whoever awaits it sees it; `settle` reports it otherwise.
    answer.catch(() => undefined);
    this.answers.push(answer);
    return answer;
  }

  /** Every answer in; then the connection leaves pipeline mode. */
  private async settle(): Promise<void> {
    try {
      await Promise.allSettled(this.answers);
    } finally {
      pipelineMode(this.client, false);
    }
  }

  /** What is asked for in this turn of the event loop goes out in one write. */
  private cork(): void {
    if (this.corked) return;
    const stream = (this.client as unknown as { connection?: { stream?: Partial<Corkable> } }).connection?.stream;
    if (!stream?.cork || !stream.uncork) return;
    this.corked = true;
    stream.cork();
    process.nextTick(() => {
      this.corked = false;
      stream.uncork!();
    });
  }
}

function isPlainValue(value: unknown): boolean {
  return (
    value === null ||
    value === undefined ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    value instanceof Date ||
    Buffer.isBuffer(value) ||
    (Array.isArray(value) && value.every(isPlainValue))
  );
}

/** The driver's pipeline mode, on a connection of a pool (a pg.Client, whose types say it is read-only). */
function pipelineMode(client: pg.ClientBase, on: boolean): void {
  (client as unknown as { pipeline: boolean }).pipeline = on;
}
