// First: where AdminJS keeps its bundle is read when AdminJS loads (see adminjs-environment.ts).
import './adminjs-environment.ts';
import { BaseProperty, BaseRecord, BaseResource, Filter, ForbiddenError, type ParamsType, type PropertyType } from 'adminjs';

/**
 * A read-only console resource whose records are computed rather than stored in a table (a stream's
 * history, the projections' state): lists, pages and shows what `rows` returns; refuses every write.
 */
export abstract class VirtualResource extends BaseResource {
  private readonly props: BaseProperty[];

  constructor(
    private readonly resourceId: string,
    specs: [path: string, type: PropertyType][],
    private readonly idPath: string,
    /** Why it cannot be written, as the console says it. */
    private readonly readOnlyBecause: string,
  ) {
    super(resourceId);
    this.props = specs.map(([path, type], index) => new BaseProperty({ path, type, isId: path === idPath, isSortable: false, position: index + 1 }));
  }

  static override isAdapterFor(): boolean {
    return false;
  }

  /** The records the filter selects, in the order the list shows them. */
  protected abstract rows(filter?: Filter): Promise<ParamsType[]>;

  override databaseName(): string {
    return 'operations';
  }

  override databaseType(): string {
    return 'operations';
  }

  override id(): string {
    return this.resourceId;
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
    const row = (await this.rows()).find((r) => String(r[this.idPath]) === id);
    return row ? new BaseRecord(row, this) : null;
  }

  override async findMany(ids: (string | number)[]): Promise<BaseRecord[]> {
    const records = await Promise.all(ids.map((id) => this.findOne(String(id))));
    return records.filter((r): r is BaseRecord => r !== null);
  }

  override async create(): Promise<ParamsType> {
    throw new ForbiddenError(this.readOnlyBecause);
  }

  override async update(): Promise<ParamsType> {
    throw new ForbiddenError(this.readOnlyBecause);
  }

  override async delete(): Promise<void> {
    throw new ForbiddenError(this.readOnlyBecause);
  }
}
