import { lagBetween } from '../../projectors/projector-host.ts';
import type pg from 'pg';
import type { EventStore } from '../eventstore/event-store.ts';
import type { ReadModelGenerations } from './generations.ts';

export interface ProjectionStatus {
  name: string;
  /** For rebuildable read models: the generation this projection writes. */
  generation: number | null;
  /** False for a previous (or unfinished) generation of a rebuildable read model. */
  served: boolean;
  position: string | null;
  /** Events behind the head of the log (null where positions are not countable). */
  lag: number | null;
  parked: number;
  updatedAt: string | null;
}

/**
 * Every projection with its checkpoint, its lag behind the head of the log and its unresolved parked events:
 * what `nexusflow projections list` prints and the console's dashboard shows. Projections that never ran
 * have no checkpoint yet and are listed at the start of the log.
 */
export async function projectionStatuses(
  platform: { eventStore: Pick<EventStore, 'headPosition'>; pool: pg.Pool; generations: Pick<ReadModelGenerations, 'projectionName' | 'generation'> },
  /** The deployment's projections (checkpoint names) and rebuildable read models (search, analytics). */
  known: { projections: readonly string[]; rebuildable: readonly string[] },
): Promise<{ head: string | null; projections: ProjectionStatus[] }> {
  const isRebuildable = (name: string) => known.rebuildable.includes(name);
  const head = await platform.eventStore.headPosition();
  const { rows } = await platform.pool.query<{ name: string; position: string | null; updated_at: Date | null; parked: string }>(
    `SELECT c.name, c.position, c.updated_at,
            (SELECT count(*) FROM parked_events p WHERE p.projection = c.name AND p.resolved_at IS NULL) AS parked
     FROM projection_checkpoints c ORDER BY c.name`,
  );
  for (const name of [...known.projections, ...known.rebuildable.map((name) => platform.generations.projectionName(name))]) {
    if (!rows.some((row) => row.name === name)) rows.push({ name, position: null, updated_at: null, parked: '0' });
  }
  rows.sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    head,
    projections: rows.map((row) => {
      const [readModel, generation] = row.name.split('@');
      const own = generation ? Number(generation) : 1;
      return {
        name: row.name,
        generation: isRebuildable(readModel!) ? own : null,
        served: !isRebuildable(readModel!) || own === platform.generations.generation(readModel!),
        position: row.position,
        lag: lagBetween(row.position, head),
        parked: Number(row.parked),
        updatedAt: row.updated_at?.toISOString() ?? null,
      };
    }),
  };
}
