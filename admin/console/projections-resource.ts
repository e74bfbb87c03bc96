import { BaseProperty, BaseRecord, BaseResource, Filter, ForbiddenError, type ParamsType } from 'adminjs';
import type { ProjectionStatus } from '../../infra/readmodels/projection-status.ts';
import type { RebuildJob } from '../../projectors/rebuild/rebuild-jobs.ts';

export interface ProjectionsSource {
  statuses(): Promise<{ head: string | null; projections: ProjectionStatus[] }>;
  /** The rebuild last started from this console for a read model, if any. */
  job(readModel: string): RebuildJob | null;
  rebuildable(): string[];
}

const specs: [path: string, type: 'string' | 'number' | 'boolean' | 'datetime'][] = [
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
];

/** Every projection, where it is and how far behind; the search and analytics ones can be rebuilt. */
export class ProjectionsResource extends BaseResource {
  private readonly props = specs.map(([path, type], index) => new BaseProperty({ path, type, isId: path === 'name', isSortable: false, position: index + 1 }));

  constructor(private readonly source: ProjectionsSource) {
    super('Projections');
  }

  static override isAdapterFor(): boolean {
    return false;
  }

  override databaseName(): string {
    return 'operations';
  }

  override databaseType(): string {
    return 'operations';
  }

  override id(): string {
    return 'Projections';
  }

  override properties(): BaseProperty[] {
    return this.props;
  }

  override property(path: string): BaseProperty | null {
    return this.props.find((p) => p.path() === path) ?? null;
  }

  override async count(filter: Filter): Promise<number> {
    return (await this.rows(filter)).length;
  }

  override async find(filter: Filter, options: { limit?: number; offset?: number }): Promise<BaseRecord[]> {
    const offset = options.offset ?? 0;
    return (await this.rows(filter)).slice(offset, offset + (options.limit ?? 10)).map((row) => new BaseRecord(row, this));
  }

  override async findOne(id: string): Promise<BaseRecord | null> {
    const row = (await this.rows()).find((r) => r.name === id);
    return row ? new BaseRecord(row, this) : null;
  }

  override async findMany(ids: (string | number)[]): Promise<BaseRecord[]> {
    const rows = await this.rows();
    return rows.filter((r) => ids.map(String).includes(String(r.name))).map((row) => new BaseRecord(row, this));
  }

  override async create(): Promise<ParamsType> {
    throw new ForbiddenError('Projections are defined in code');
  }

  override async update(): Promise<ParamsType> {
    throw new ForbiddenError('Projections are defined in code');
  }

  override async delete(): Promise<void> {
    throw new ForbiddenError('Projections are defined in code');
  }

  private async rows(filter?: Filter): Promise<ParamsType[]> {
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
