// First: where AdminJS keeps its bundle is read when AdminJS loads (see adminjs-environment.ts).
import './adminjs-environment.ts';
import type { EntitySchema, FilterQuery } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import {
  BaseProperty,
  BaseRecord,
  BaseResource,
  Filter,
  ForbiddenError as AdminForbiddenError,
  ValidationError,
  type ActionContext,
  type ParamsType,
} from 'adminjs';
import { DomainError, ForbiddenError, NotFoundError } from '../../domain/errors.ts';
import type { SignedInStaff } from '../../command-api/staff/staff-accounts.ts';

export type PropertyType = 'string' | 'number' | 'boolean' | 'datetime' | 'uuid' | 'reference' | 'mixed' | 'textarea';

export interface PropertySpec {
  path: string;
  type: PropertyType;
  isId?: boolean;
  /**
   * Shown and sent as text although stored as a number: AdminJS turns an empty number field into 0, and
   * empty must stay empty (an unlimited limit).
   */
  asText?: boolean;
  /** For 'reference': the id of the resource it points to. */
  reference?: string;
  isSortable?: boolean;
}

/** What the console may change on a resource: each write is a command, never a row written here. */
export interface ResourceWrites {
  create?(params: ParamsType, staff: SignedInStaff, context: ActionContext): Promise<{ id: string; position: string | null }>;
  update?(id: string, params: ParamsType, staff: SignedInStaff, current: ParamsType, context: ActionContext): Promise<{ position: string | null }>;
  delete?(id: string, staff: SignedInStaff, context: ActionContext): Promise<{ position: string | null }>;
}

export interface ReadModelResourceOptions {
  /** The resource's id in the console (URLs, references). */
  id: string;
  orm: MikroORM;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one resource class serves every read model's entity
  entity: EntitySchema<any>;
  properties: PropertySpec[];
  writes?: ResourceWrites;
  /** Domain field names (as commands report them) → this resource's property paths, for form errors. */
  fieldNames?: Record<string, string>;
  /** Waits until the projections that build this read model have applied a command's position. */
  settle?(position: string | null): Promise<void>;
}

class Property extends BaseProperty {
  constructor(
    private readonly spec: PropertySpec,
    position: number,
  ) {
    super({
      path: spec.path,
      type: spec.type === 'uuid' || spec.asText ? 'string' : spec.type,
      isId: spec.isId ?? false,
      isSortable: spec.isSortable ?? true,
      position,
    });
  }

  override reference(): string | null {
    return this.spec.reference ?? null;
  }

  override isEditable(): boolean {
    return !this.spec.isId;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A console resource over one read-model table, read through the ORM. Lists, filters, sorts and shows like
 * any AdminJS resource; its writes go to `writes` (commands through the command handlers, with the staff
 * member as actor), and a resource without them is read-only. A rejected command comes back to the form as
 * field errors. No row is ever written from here: the projections bring the change back.
 */
export class ReadModelResource extends BaseResource {
  private readonly props: Property[];

  constructor(private readonly options: ReadModelResourceOptions) {
    super(options.entity);
    this.props = options.properties.map((spec, index) => new Property(spec, index + 1));
  }

  static override isAdapterFor(): boolean {
    return false;
  }

  override databaseName(): string {
    return 'read models';
  }

  override databaseType(): string {
    return 'postgresql';
  }

  override id(): string {
    return this.options.id;
  }

  override properties(): BaseProperty[] {
    return this.props;
  }

  override property(path: string): BaseProperty | null {
    return this.props.find((p) => p.path() === path) ?? null;
  }

  override async count(filter: Filter): Promise<number> {
    const where = this.where(filter);
    if (where === null) return 0;
    return this.em().count(this.options.entity, where, { filters: false });
  }

  override async find(
    filter: Filter,
    options: { limit?: number; offset?: number; sort?: { sortBy?: string; direction?: 'asc' | 'desc' } },
  ): Promise<BaseRecord[]> {
    const where = this.where(filter);
    if (where === null) return [];
    const sortBy = options.sort?.sortBy && this.property(options.sort.sortBy)?.isSortable() ? options.sort.sortBy : null;
    const rows = await this.em().find(this.options.entity, where, {
      filters: false,
      limit: Math.min(options.limit ?? 10, 500),
      offset: options.offset ?? 0,
      ...(sortBy ? { orderBy: { [sortBy]: options.sort?.direction === 'asc' ? 'asc' : 'desc', id: 'asc' } } : { orderBy: { id: 'asc' } }),
    });
    return rows.map((row) => new BaseRecord(this.paramsOf(row), this));
  }

  override async findOne(id: string): Promise<BaseRecord | null> {
    if (this.idIsUuid() && !UUID.test(id)) return null;
    const row = await this.em().findOne(this.options.entity, { [this.idPath()]: id }, { filters: false });
    return row ? new BaseRecord(this.paramsOf(row), this) : null;
  }

  override async findMany(ids: (string | number)[]): Promise<BaseRecord[]> {
    const wanted = ids.map(String).filter((id) => !this.idIsUuid() || UUID.test(id));
    if (wanted.length === 0) return [];
    const rows = await this.em().find(this.options.entity, { [this.idPath()]: { $in: wanted } }, { filters: false });
    return rows.map((row) => new BaseRecord(this.paramsOf(row), this));
  }

  override async create(params: ParamsType, context?: ActionContext): Promise<ParamsType> {
    const write = this.options.writes?.create;
    if (!write) throw new AdminForbiddenError('This resource is read-only');
    const { id, position } = await commandOf(() => write(params, staffOf(context), context!), this.options.fieldNames);
    await this.options.settle?.(position);
    return (await this.findOne(id))?.params ?? { ...params, [this.idPath()]: id };
  }

  override async update(id: string, params: ParamsType, context?: ActionContext): Promise<ParamsType> {
    const write = this.options.writes?.update;
    if (!write) throw new AdminForbiddenError('This resource is read-only');
    const current = await this.findOne(id);
    if (!current) throw new ValidationError({}, { message: 'This record no longer exists', type: 'error' });
    const { position } = await commandOf(() => write(id, params, staffOf(context), current.params, context!), this.options.fieldNames);
    await this.options.settle?.(position);
    return (await this.findOne(id))?.params ?? params;
  }

  override async delete(id: string, context?: ActionContext): Promise<void> {
    const write = this.options.writes?.delete;
    if (!write) throw new AdminForbiddenError('This resource is read-only');
    const { position } = await commandOf(() => write(id, staffOf(context), context!), this.options.fieldNames);
    await this.options.settle?.(position);
  }

  canWrite(kind: keyof ResourceWrites): boolean {
    return Boolean(this.options.writes?.[kind]);
  }

  private em() {
    return this.options.orm.em.fork();
  }

  private idPath(): string {
    return this.options.properties.find((p) => p.isId)?.path ?? 'id';
  }

  private idIsUuid(): boolean {
    return this.options.properties.find((p) => p.isId)?.type === 'uuid';
  }

  private paramsOf(row: object): ParamsType {
    const params: ParamsType = {};
    for (const spec of this.options.properties) {
      const value = (row as Record<string, unknown>)[spec.path];
      if (value instanceof Date) params[spec.path] = value.toISOString();
      else if (typeof value === 'bigint' || (spec.type === 'number' && typeof value === 'string')) params[spec.path] = Number(value);
      else if (spec.type === 'mixed' && value !== null && typeof value === 'object') params[spec.path] = JSON.stringify(value);
      else params[spec.path] = value ?? null;
    }
    return params;
  }

  /** The list filter as ORM conditions; null when a value can match nothing (a malformed id). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the entity differs per resource (see `entity`)
  private where(filter: Filter): FilterQuery<any> | null {
    const conditions: Record<string, unknown>[] = [];
    for (const element of Object.values(filter.filters ?? {})) {
      const spec = this.options.properties.find((p) => p.path === element.path);
      if (!spec) continue;
      const value = element.value as unknown;
      if (value && typeof value === 'object' && ('from' in value || 'to' in value)) {
        const range = value as { from?: string; to?: string };
        const bounds: Record<string, unknown> = {};
        if (range.from) bounds.$gte = spec.type === 'number' ? Number(range.from) : new Date(range.from);
        if (range.to) bounds.$lte = spec.type === 'number' ? Number(range.to) : new Date(range.to);
        conditions.push({ [spec.path]: bounds });
        continue;
      }
      const text = String(value);
      switch (spec.type) {
        case 'uuid':
        case 'reference':
          if (!UUID.test(text)) return null;
          conditions.push({ [spec.path]: text });
          break;
        case 'number': {
          const number = Number(text);
          if (!Number.isFinite(number)) return null;
          conditions.push({ [spec.path]: number });
          break;
        }
        case 'boolean':
          conditions.push({ [spec.path]: text === 'true' });
          break;
        case 'datetime':
          conditions.push({ [spec.path]: new Date(text) });
          break;
        default:
          // Text: a case-insensitive substring, with the user's % and _ taken literally.
          conditions.push({ [spec.path]: { $ilike: `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%` } });
      }
    }
    return conditions.length === 0 ? {} : { $and: conditions };
  }
}

export function staffOf(context: ActionContext | undefined): SignedInStaff {
  const staff = context?.currentAdmin as SignedInStaff | undefined;
  if (!staff?.id || !staff.role) throw new AdminForbiddenError('Sign in first');
  return staff;
}

/**
 * Runs a command for the console: a refused command becomes a form error on the field it names (or a
 * notice), a forbidden one the console's 403; anything else is a real failure and propagates.
 */
export async function commandOf<T>(run: () => Promise<T>, fieldNames: Record<string, string> = {}): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ForbiddenError) throw new AdminForbiddenError(err.message);
    if (err instanceof NotFoundError) throw new ValidationError({}, { message: err.message, type: 'error' });
    if (err instanceof DomainError) {
      const reported = (err as DomainError & { field?: string }).field;
      const field = reported === undefined ? undefined : (fieldNames[reported] ?? reported);
      throw new ValidationError(field ? { [field]: { message: err.message, type: err.code } } : {}, { message: err.message, type: err.code });
    }
    if (err instanceof ValidationError || err instanceof AdminForbiddenError) throw err;
    if (isConflict(err))
      throw new ValidationError({}, { message: 'Someone else changed this record meanwhile; reload and try again', type: 'conflict' });
    throw err;
  }
}

function isConflict(err: unknown): boolean {
  return err instanceof Error && err.name === 'WrongExpectedRevisionError';
}
