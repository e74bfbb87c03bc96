// First: where AdminJS keeps its bundle is read when AdminJS loads (see adminjs-environment.ts).
import './adminjs-environment.ts';
import type { MikroORM } from '@mikro-orm/postgresql';
import { BaseProperty, BaseRecord, BaseResource, Filter, ForbiddenError, type ParamsType, type PropertyType } from 'adminjs';
import { billingAccountStream, type BillingMode } from '../../domain/billing/billing-account.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { BillingInvoiceViewSchema } from '../../projectors/billing/billing-views.ts';
import { TENANT_FILTER } from '../../projectors/tenant-scope.ts';
import { usageOf } from '../../query-api/billing/routes.ts';

/** One organization's billing as staff read it: a row of the organizations read model with its billing account. */
interface BillingRow {
  id: string;
  name: string;
  plan_id: string | null;
  trial_ends_at: Date | null;
  mode: BillingMode | null;
  customer_id: string | null;
  subscription_id: string | null;
  subscription_plan_id: string | null;
  interval: string | null;
  status: string | null;
  current_period_start: Date | null;
  current_period_end: Date | null;
  cancel_at_period_end: boolean | null;
  canceled_at: Date | null;
  scheduled_plan_id: string | null;
  scheduled_interval: string | null;
  scheduled_at: Date | null;
  payment_method_id: string | null;
  standing: string | null;
  grace_reason: string | null;
  grace_until: Date | null;
  updated_at: Date | null;
  unpaid_invoices: string | number;
}

const properties: [path: string, type: PropertyType, reference?: string][] = [
  ['id', 'string'],
  ['name', 'string'],
  ['planId', 'reference', 'Plan'],
  ['comped', 'boolean'],
  ['trialEndsAt', 'datetime'],
  ['mode', 'string'],
  ['subscriptionId', 'string'],
  ['subscriptionPlanId', 'reference', 'Plan'],
  ['status', 'string'],
  ['interval', 'string'],
  ['currentPeriodStart', 'datetime'],
  ['currentPeriodEnd', 'datetime'],
  ['cancelAtPeriodEnd', 'boolean'],
  ['canceledAt', 'datetime'],
  ['scheduledChange', 'string'],
  ['hasPaymentMethod', 'boolean'],
  ['standing', 'string'],
  ['standingDetail', 'string'],
  ['graceReason', 'string'],
  ['graceUntil', 'datetime'],
  ['unpaidInvoices', 'number'],
  ['customerId', 'string'],
  ['invoices', 'mixed'],
  ['usage', 'mixed'],
  ['updatedAt', 'datetime'],
];

/** List filters → SQL conditions (exact, except the name: a case-insensitive substring). */
const filterColumns: Record<string, { column: string; kind: 'uuid' | 'text' | 'substring' | 'boolean' }> = {
  id: { column: 'o.id', kind: 'uuid' },
  name: { column: 'o.name', kind: 'substring' },
  planId: { column: 'o.plan_id', kind: 'uuid' },
  status: { column: 'b.status', kind: 'text' },
  interval: { column: 'b.interval', kind: 'text' },
  standing: { column: "coalesce(b.standing, 'good')", kind: 'text' },
  mode: { column: 'b.mode', kind: 'text' },
  cancelAtPeriodEnd: { column: 'coalesce(b.cancel_at_period_end, false)', kind: 'boolean' },
  hasPaymentMethod: { column: '(b.payment_method_id IS NOT NULL)', kind: 'boolean' },
};

const sortColumns: Record<string, string> = {
  name: 'o.name',
  trialEndsAt: 'o.trial_ends_at',
  status: 'b.status',
  currentPeriodEnd: 'b.current_period_end',
  standing: "coalesce(b.standing, 'good')",
  graceUntil: 'b.grace_until',
  unpaidInvoices: 'unpaid_invoices',
  updatedAt: 'b.updated_at',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How many invoices the show page lists (newest first); older ones are in Stripe's dashboard. */
const INVOICES_SHOWN = 50;

/**
 * Every organization's billing, read-only: the organizations read model joined with the billing read models
 * (an organization without a billing event yet shows as such: no subscription, good standing), so staff find
 * a trial that is about to end as well as a subscription in grace. The show page adds its invoices and its
 * usage against its plan's limits, counted by the query API's own usage computation. Staff act through the
 * resource's actions (commands); nothing is written here.
 */
export class BillingResource extends BaseResource {
  private readonly props: BaseProperty[];

  constructor(
    private readonly options: {
      orm: MikroORM;
      streams: { readStream(streamId: string): Promise<RecordedEvent[]> };
      /** The deployment's billing mode: an account with no billing event yet will be kept there. */
      mode: BillingMode;
    },
  ) {
    super('Billing');
    this.props = properties.map(
      ([path, type, reference], index) =>
        new (class extends BaseProperty {
          override reference(): string | null {
            return reference ?? null;
          }
        })({ path, type, isId: path === 'id', isSortable: path in sortColumns, position: index + 1 }),
    );
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
    return 'Billing';
  }

  override properties(): BaseProperty[] {
    return this.props;
  }

  override property(path: string): BaseProperty | null {
    return this.props.find((p) => p.path() === path) ?? null;
  }

  override async count(filter: Filter): Promise<number> {
    const where = whereOf(filter);
    if (where === null) return 0;
    const [row] = await this.options.orm.em
      .fork()
      .execute<{ count: string }[]>(
        `SELECT count(*) AS count FROM organizations o LEFT JOIN billing_accounts b ON b.organization_id = o.id WHERE ${where.sql}`,
        where.values,
      );
    return Number(row?.count ?? 0);
  }

  override async find(
    filter: Filter,
    options: { limit?: number; offset?: number; sort?: { sortBy?: string; direction?: 'asc' | 'desc' } },
  ): Promise<BaseRecord[]> {
    const where = whereOf(filter);
    if (where === null) return [];
    const sortBy = options.sort?.sortBy ? sortColumns[options.sort.sortBy] : undefined;
    const order = sortBy ? `${sortBy} ${options.sort?.direction === 'desc' ? 'DESC' : 'ASC'} NULLS LAST, o.id` : 'o.name, o.id';
    const rows = await this.rows(`${where.sql} ORDER BY ${order} LIMIT ? OFFSET ?`, [
      ...where.values,
      Math.min(options.limit ?? 10, 500),
      options.offset ?? 0,
    ]);
    return Promise.all(rows.map(async (row) => new BaseRecord(await this.paramsOf(row), this)));
  }

  override async findOne(id: string): Promise<BaseRecord | null> {
    if (!UUID.test(id)) return null;
    const [row] = await this.rows('o.id = ?', [id]);
    if (!row) return null;
    return new BaseRecord({ ...(await this.paramsOf(row)), ...(await this.details(id)) }, this);
  }

  override async findMany(ids: (string | number)[]): Promise<BaseRecord[]> {
    const wanted = ids.map(String).filter((id) => UUID.test(id));
    if (wanted.length === 0) return [];
    const rows = await this.rows(`o.id IN (${wanted.map(() => '?').join(', ')})`, wanted);
    return Promise.all(rows.map(async (row) => new BaseRecord(await this.paramsOf(row), this)));
  }

  override async create(): Promise<ParamsType> {
    throw new ForbiddenError('Billing is changed by its actions (staff commands), not written here');
  }

  override async update(): Promise<ParamsType> {
    throw new ForbiddenError('Billing is changed by its actions (staff commands), not written here');
  }

  override async delete(): Promise<void> {
    throw new ForbiddenError('Billing is changed by its actions (staff commands), not written here');
  }

  private rows(where: string, values: unknown[]): Promise<BillingRow[]> {
    return this.options.orm.em.fork().execute<BillingRow[]>(
      `SELECT o.id, o.name, o.plan_id, o.trial_ends_at,
              b.mode, b.customer_id, b.subscription_id, b.plan_id AS subscription_plan_id, b.interval, b.status,
              b.current_period_start, b.current_period_end, b.cancel_at_period_end, b.canceled_at,
              b.scheduled_plan_id, b.scheduled_interval, b.scheduled_at, b.payment_method_id,
              b.standing, b.grace_reason, b.grace_until, b.updated_at,
              (SELECT count(*) FROM billing_invoices i WHERE i.organization_id = o.id AND i.status <> 'paid') AS unpaid_invoices
         FROM organizations o
         LEFT JOIN billing_accounts b ON b.organization_id = o.id
        WHERE ${where}`,
      values,
    );
  }

  private async paramsOf(row: BillingRow): Promise<ParamsType> {
    const standing = row.standing ?? 'good';
    return {
      id: row.id,
      name: row.name,
      planId: row.plan_id,
      // The rule billing applies (checkStanding): a plan staff gave, and no subscription ever.
      comped: row.plan_id !== null && row.subscription_id === null,
      trialEndsAt: iso(row.trial_ends_at),
      mode: row.mode ?? this.options.mode,
      subscriptionId: row.subscription_id,
      subscriptionPlanId: row.subscription_plan_id,
      status: row.status,
      interval: row.interval,
      currentPeriodStart: iso(row.current_period_start),
      currentPeriodEnd: iso(row.current_period_end),
      cancelAtPeriodEnd: row.cancel_at_period_end ?? false,
      canceledAt: iso(row.canceled_at),
      scheduledChange:
        row.scheduled_plan_id && row.scheduled_interval && row.scheduled_at
          ? `to plan ${row.scheduled_plan_id} (${row.scheduled_interval}ly) at ${iso(row.scheduled_at)}`
          : null,
      hasPaymentMethod: row.payment_method_id !== null,
      standing,
      standingDetail: await this.standingDetail(row),
      graceReason: row.grace_reason,
      graceUntil: iso(row.grace_until),
      unpaidInvoices: Number(row.unpaid_invoices),
      customerId: row.customer_id,
      updatedAt: iso(row.updated_at),
    };
  }

  /**
   * "grace since … until …" / "restricted since …": the read model keeps when a grace ends, not when it began,
   * so that comes from the account's stream (when the decision was taken; only for accounts out of good standing).
   */
  private async standingDetail(row: BillingRow): Promise<string> {
    if (row.standing === null || row.standing === 'good') return 'good';
    const events = await this.options.streams.readStream(billingAccountStream(row.id));
    const since = (type: string) => events.findLast((event) => event.type === type)?.metadata.occurredAt ?? 'unknown';
    const reason = row.grace_reason ? ` (${row.grace_reason.replace(/_/g, ' ')})` : '';
    if (row.standing === 'restricted') return `restricted since ${since('OrganizationRestricted')}${reason}`;
    return `grace since ${since('GraceStarted')} until ${iso(row.grace_until) ?? 'unknown'}${reason}`;
  }

  /** The show page's extras: the invoices, and usage against the plan's limits (the query API's computation). */
  private async details(organizationId: string): Promise<ParamsType> {
    const em = this.options.orm.em.fork();
    // usageOf counts through the read models' tenant filter, as a request of the organization would.
    em.setFilterParams(TENANT_FILTER, { organizationId });
    const [invoices, usage] = await Promise.all([
      em.find(BillingInvoiceViewSchema, { organizationId }, { orderBy: { createdAt: 'desc', invoiceId: 'desc' }, limit: INVOICES_SHOWN }),
      usageOf(em, organizationId, new Date()),
    ]);
    return {
      invoices: JSON.stringify(
        invoices.map((invoice) => ({
          id: invoice.invoiceId,
          number: invoice.number,
          status: invoice.status,
          amount: Number(invoice.amount),
          currency: invoice.currency,
          attempts: invoice.attempts,
          lastDeclineCode: invoice.lastDeclineCode,
          hostedInvoiceUrl: invoice.hostedInvoiceUrl,
          pdfUrl: invoice.pdfUrl,
          createdAt: invoice.createdAt.toISOString(),
        })),
      ),
      usage: JSON.stringify(usage),
    };
  }
}

function iso(value: Date | string | null): string | null {
  if (value === null) return null;
  return new Date(value).toISOString();
}

/** The list filter as SQL; null when a value can match nothing (a malformed id). */
function whereOf(filter: Filter): { sql: string; values: unknown[] } | null {
  const conditions: string[] = ['true'];
  const values: unknown[] = [];
  for (const element of Object.values(filter.filters ?? {})) {
    const spec = filterColumns[element.path];
    if (!spec) continue;
    const text = String(element.value as unknown);
    switch (spec.kind) {
      case 'uuid':
        if (!UUID.test(text)) return null;
        conditions.push(`${spec.column} = ?`);
        values.push(text);
        break;
      case 'boolean':
        conditions.push(`${spec.column} = ?`);
        values.push(text === 'true');
        break;
      case 'substring':
        // The user's % and _ taken literally.
        conditions.push(`${spec.column} ILIKE ?`);
        values.push(`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
        break;
      default:
        conditions.push(`${spec.column} = ?`);
        values.push(text);
    }
  }
  return { sql: conditions.join(' AND '), values };
}
