// First: where AdminJS keeps its bundle is read when AdminJS loads (see adminjs-environment.ts).
import './adminjs-environment.ts';
import type { Filter, ParamsType } from 'adminjs';
import type { ProjectionStatus } from '../../infra/readmodels/projection-status.ts';
import type { RebuildJob } from '../../projectors/rebuild/rebuild-jobs.ts';
import { VirtualResource } from './virtual-resource.ts';

export interface ProjectionsSource {
  statuses(): Promise<{ head: string | null; projections: ProjectionStatus[] }>;
  /** The rebuild last started from this console for a read model, if any. */
  job(readModel: string): RebuildJob | null;
  rebuildable(): string[];
}

/** Every projection, where it is and how far behind; the search and analytics ones can be rebuilt. */
export class ProjectionsResource extends VirtualResource {
  constructor(private readonly source: ProjectionsSource) {
    super(
      'Projections',
      [
        ['name', 'string'],
        ['readModel', 'string'],
        ['generation', 'number'],
        ['served', 'boolean'],
        ['position', 'string'],
        ['lag', 'number'],
        ['parked', 'number'],
        ['updatedAt', 'datetime'],
        ['rebuildable', 'boolean'],
        ['rebuild', 'string'],
      ],
      'name',
      'Projections are defined in code',
    );
  }

  protected override async rows(filter?: Filter): Promise<ParamsType[]> {
    const { projections } = await this.source.statuses();
    const rebuildable = this.source.rebuildable();
    const wanted = filter?.filters?.name?.value;
    return projections
      .filter((p) => typeof wanted !== 'string' || p.name.includes(wanted))
      .map((p) => {
        const readModel = p.name.split('@')[0]!;
        const job = this.source.job(readModel);
        return {
          name: p.name,
          readModel,
          generation: p.generation,
          served: p.served,
          position: p.position,
          lag: p.lag,
          parked: p.parked,
          updatedAt: p.updatedAt,
          rebuildable: rebuildable.includes(readModel) && p.served,
          rebuild: job ? describeJob(job) : '',
        };
      });
  }
}

export function describeJob(job: RebuildJob): string {
  if (job.state === 'failed') return `failed: ${job.error}`;
  if (job.state === 'done' && job.result) {
    return `done: generation ${job.result.to} serves (${job.result.eventsApplied} events, ${Math.round(job.result.eventsPerSecond)} events/s)`;
  }
  const progress = job.progress;
  if (!progress) return 'starting';
  const percent = progress.fraction === null ? '' : `${Math.floor(progress.fraction * 100)}% `;
  return `${progress.phase} generation ${progress.generation}: ${percent}${progress.eventsApplied} events`;
}
