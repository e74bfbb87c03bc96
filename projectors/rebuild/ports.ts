import type { Projection } from '../runner/projection.ts';

/**
 * Where a rebuildable read model keeps its data, one set of tables (or index, or ClickHouse table) per
 * generation. A rebuild fills generation g+1 while generation g keeps serving, then switches.
 */
export interface GenerationalStore<Writer> {
  /** Creates the generation's tables if they do not exist (empty). */
  ensureGeneration(generation: number): Promise<void>;
  /** Drops the generation's tables; nothing if they do not exist. */
  dropGeneration(generation: number): Promise<void>;
  /**
   * Store-side pointers that must follow the switch (Elasticsearch's read and write aliases); called just
   * before the generation pointer moves. Tables read by generation need nothing.
   */
  promoteGeneration(generation: number): Promise<void>;
  /** A writer of that generation only. */
  writerFor(generation: number): Writer;
}

/** A read model that can be rebuilt from the log: its store and the projection that fills a generation. */
export interface RebuildableReadModel {
  readonly name: string;
  readonly store: Omit<GenerationalStore<unknown>, 'writerFor'>;
  /** The projection writing `generation`, named generationName(name, generation) (its checkpoint). */
  projection(generation: number): Projection;
}

/** Which generation of each rebuildable read model is served, and the switch from one to the next. */
export interface ServedGenerations {
  generation(readModel: string): number;
  /** Called after each switch (made here or in another process). Returns a function that stops listening. */
  onSwitch(listener: (readModel: string, generation: number) => void): () => void;
  /** Reads the pointers again (another process may have switched). */
  refresh(): Promise<void>;
  /** Makes `to` the served generation if `from` still is; throws when another switch came first. */
  switchTo(readModel: string, from: number, to: number): Promise<void>;
}

/**
 * The projection (and checkpoint) name of generation `generation` of a read model. Generation 1 keeps the
 * plain name, so read models built before generations existed are generation 1 as they are.
 */
export function generationName(readModel: string, generation: number): string {
  return generation === 1 ? readModel : `${readModel}@${generation}`;
}
