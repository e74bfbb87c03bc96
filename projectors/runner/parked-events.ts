import type { MikroORM } from '@mikro-orm/postgresql';
import { ConflictError, NotFoundError } from '../../domain/errors.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { Projection } from './projection.ts';
import { describe } from './projection-runner.ts';

export interface ParkedEventRetryOutcome {
  parkedEventId: string;
  projection: string;
  eventId: string;
  streamId: string;
  resolved: boolean;
  error: string | null;
}

/**
 * Retries an event a projection parked (after the bug that made it fail was fixed): the event is read from
 * the log again and applied by the same projection; on success the parked row is marked resolved in the same
 * transaction as the read-model change, so a retry is applied once. On failure the row keeps waiting, with
 * the new error and one more attempt counted.
 */
export class ParkedEvents {
  constructor(
    private readonly orm: MikroORM,
    private readonly streams: { readStream(streamId: string): Promise<RecordedEvent[]> },
    /** The projection that parked it, by its (checkpoint) name; null when it cannot be run here (a reactor). */
    private readonly projectionNamed: (name: string) => Projection | null,
  ) {}

  async retry(parkedEventId: string): Promise<ParkedEventRetryOutcome> {
    if (!/^\d{1,18}$/.test(parkedEventId)) throw new NotFoundError('Parked event');
    const rows = await this.orm.em
      .fork()
      .execute<{ projection: string; event_id: string; stream_id: string; resolved_at: Date | null }[]>(
        'SELECT projection, event_id, stream_id, resolved_at FROM parked_events WHERE id = ?',
        [parkedEventId],
      );
    const parked = rows[0];
    if (!parked) throw new NotFoundError('Parked event');
    if (parked.resolved_at) throw new ConflictError('This parked event was already retried successfully', 'already_resolved');
    const projection = this.projectionNamed(parked.projection);
    if (!projection || projection.reactor) {
      throw new ConflictError(`Events parked by ${parked.projection} are retried by the process that runs it`, 'not_retryable_here');
    }
    const event = (await this.streams.readStream(parked.stream_id)).find((e) => e.id === parked.event_id);
    const outcome = { parkedEventId, projection: parked.projection, eventId: parked.event_id, streamId: parked.stream_id };
    if (!event) return this.failed(outcome, 'the event is no longer in its stream');
    try {
      let resolvedHere = false;
      await this.orm.em.fork().transactional(async (em) => {
        // Locked and checked again: two staff retrying at once apply the event once.
        const locked = await em.execute<{ resolved_at: Date | null }[]>('SELECT resolved_at FROM parked_events WHERE id = ? FOR UPDATE', [
          parkedEventId,
        ]);
        if (locked[0]?.resolved_at) return;
        await projection.apply([event], em);
        await em.flush();
        await em.execute('UPDATE parked_events SET resolved_at = now(), attempts = attempts + 1 WHERE id = ?', [parkedEventId]);
        resolvedHere = true;
      });
      if (!resolvedHere) throw new ConflictError('This parked event was already retried successfully', 'already_resolved');
      return { ...outcome, resolved: true, error: null };
    } catch (err) {
      if (err instanceof ConflictError) throw err;
      return this.failed(outcome, describe(err));
    }
  }

  private async failed(outcome: Omit<ParkedEventRetryOutcome, 'resolved' | 'error'>, error: string): Promise<ParkedEventRetryOutcome> {
    await this.orm.em.fork().execute('UPDATE parked_events SET attempts = attempts + 1, error = ? WHERE id = ?', [error, outcome.parkedEventId]);
    return { ...outcome, resolved: false, error };
  }
}
