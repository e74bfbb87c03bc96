import type { EntityManager } from '@mikro-orm/postgresql';
import {
  billingAccountEventTypes,
  type BillingAccountEvent,
  type InvoicePaid,
  type PaymentFailed,
  type SubscriptionSnapshot,
} from '../../domain/billing/billing-account.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { ProjectionError, type Projection } from '../runner/projection.ts';
import { BillingAccountViewSchema, BillingInvoiceViewSchema, type BillingAccountView, type BillingInvoiceView } from './billing-views.ts';

type SnapshotFields = Partial<Omit<SubscriptionSnapshot, 'subscriptionId'>>;
type InvoiceEvent = RecordedEvent<InvoicePaid | PaymentFailed>;

const invoiceKey = (organizationId: string, invoiceId: string) => `${organizationId}\n${invoiceId}`;
const time = (value: string | null) => (value === null ? null : new Date(value));

/** The fields of a subscription snapshot an event carries (all of them when it starts, what changed after). */
function takeSnapshot(row: BillingAccountView, fields: SnapshotFields): void {
  if (fields.planId !== undefined) row.planId = fields.planId;
  if (fields.interval !== undefined) row.interval = fields.interval;
  if (fields.status !== undefined) row.status = fields.status;
  if (fields.cancelAtPeriodEnd !== undefined) row.cancelAtPeriodEnd = fields.cancelAtPeriodEnd;
  if (fields.currentPeriodStart !== undefined) row.currentPeriodStart = new Date(fields.currentPeriodStart);
  if (fields.currentPeriodEnd !== undefined) row.currentPeriodEnd = new Date(fields.currentPeriodEnd);
  if (fields.canceledAt !== undefined) row.canceledAt = time(fields.canceledAt);
  if (fields.trialEnd !== undefined) row.trialEnd = time(fields.trialEnd);
}

/** A change or cancellation names the subscription it applies to: any other one means the row missed events. */
function subscriptionOf(row: BillingAccountView, subscriptionId: string): void {
  if (row.subscriptionId !== subscriptionId) {
    throw new ProjectionError(`subscription ${subscriptionId} of organization ${row.organizationId} is not in the read model`);
  }
}

/**
 * Billing accounts and their invoices, from the billing streams (`billing-<organizationId>`). Every event
 * of a stream moves its account row's revision, invoices included: If-Match on billing commands compares
 * the stream's revision. Invoices fold the provider's reports whatever their order: paid is final (a failed
 * attempt reported after the payment changes neither status nor amount), and the attempt count only grows.
 * The batch is loaded at once, changed in memory and written by the unit of work in the checkpoint's
 * transaction.
 */
export const billingProjection: Projection = {
  name: 'billing',
  eventTypes: new Set(billingAccountEventTypes),

  async apply(events: RecordedEvent[], em: EntityManager): Promise<void> {
    const handled = events as RecordedEvent<BillingAccountEvent>[];
    const organizationIds = [...new Set(handled.map((event) => event.data.organizationId))];
    const accounts = new Map<string, BillingAccountView>(
      (await em.find(BillingAccountViewSchema, { organizationId: { $in: organizationIds } }, { filters: false })).map((row) => [
        row.organizationId,
        row,
      ]),
    );
    const invoiceEvents = handled.filter((event): event is InvoiceEvent => event.type === 'InvoicePaid' || event.type === 'PaymentFailed');
    const invoiceIds = [...new Set(invoiceEvents.map((event) => event.data.invoiceId))];
    const invoices = new Map<string, BillingInvoiceView>(
      invoiceIds.length === 0
        ? []
        : (
            await em.find(BillingInvoiceViewSchema, { organizationId: { $in: organizationIds }, invoiceId: { $in: invoiceIds } }, { filters: false })
          ).map((row) => [invoiceKey(row.organizationId, row.invoiceId), row]),
    );

    const invoiceOf = (event: InvoiceEvent, at: Date): BillingInvoiceView => {
      const { organizationId, invoiceId, number, currency, hostedInvoiceUrl, pdfUrl } = event.data;
      const key = invoiceKey(organizationId, invoiceId);
      let invoice = invoices.get(key);
      if (!invoice) {
        invoice = em.create(BillingInvoiceViewSchema, {
          organizationId,
          invoiceId,
          status: event.type === 'InvoicePaid' ? 'paid' : 'payment_failed',
          number: null,
          amount: 0,
          currency,
          periodStart: null,
          periodEnd: null,
          hostedInvoiceUrl: null,
          pdfUrl: null,
          attempts: 0,
          lastDeclineCode: null,
          createdAt: at,
          updatedAt: at,
        });
        invoices.set(key, invoice);
      }
      // A report without a number or link (the provider fills them as the invoice is finalized) keeps what an
      // earlier one gave.
      invoice.number = number ?? invoice.number;
      invoice.hostedInvoiceUrl = hostedInvoiceUrl ?? invoice.hostedInvoiceUrl;
      invoice.pdfUrl = pdfUrl ?? invoice.pdfUrl;
      invoice.updatedAt = at;
      return invoice;
    };

    for (const event of handled) {
      const at = new Date(event.metadata.occurredAt);
      const { organizationId } = event.data;
      let row = accounts.get(organizationId);
      if (!row) {
        row = em.create(BillingAccountViewSchema, {
          organizationId,
          mode: null,
          customerId: null,
          subscriptionId: null,
          planId: null,
          interval: null,
          status: null,
          currentPeriodStart: null,
          currentPeriodEnd: null,
          cancelAtPeriodEnd: null,
          canceledAt: null,
          trialEnd: null,
          scheduledPlanId: null,
          scheduledInterval: null,
          scheduledAt: null,
          paymentMethodId: null,
          standing: 'good',
          graceReason: null,
          graceUntil: null,
          updatedAt: at,
          revision: event.revision,
        });
        accounts.set(organizationId, row);
      }
      switch (event.type) {
        case 'BillingCustomerCreated':
          row.customerId = event.data.customerId;
          row.mode = event.data.mode;
          break;
        case 'SubscriptionStarted': {
          const { organizationId: _organizationId, mode, subscriptionId, ...snapshot } = event.data;
          row.mode = mode;
          row.subscriptionId = subscriptionId;
          takeSnapshot(row, snapshot);
          break;
        }
        case 'SubscriptionChanged':
          subscriptionOf(row, event.data.subscriptionId);
          takeSnapshot(row, event.data.changes);
          break;
        case 'SubscriptionCanceled':
          subscriptionOf(row, event.data.subscriptionId);
          row.status = 'canceled';
          row.canceledAt = new Date(event.data.canceledAt);
          break;
        case 'PlanChangeScheduled':
          row.scheduledPlanId = event.data.planId;
          row.scheduledInterval = event.data.interval;
          row.scheduledAt = new Date(event.data.at);
          break;
        case 'ScheduledPlanChangeDropped':
          row.scheduledPlanId = null;
          row.scheduledInterval = null;
          row.scheduledAt = null;
          break;
        case 'PaymentMethodSet':
          row.paymentMethodId = event.data.paymentMethodId;
          break;
        case 'InvoicePaid': {
          const invoice = invoiceOf(event, at);
          invoice.status = 'paid';
          invoice.amount = event.data.amountPaid;
          invoice.currency = event.data.currency;
          invoice.periodStart = new Date(event.data.periodStart);
          invoice.periodEnd = new Date(event.data.periodEnd);
          break;
        }
        case 'PaymentFailed': {
          const invoice = invoiceOf(event, at);
          if (invoice.status !== 'paid') {
            invoice.amount = event.data.amountDue;
            invoice.currency = event.data.currency;
          }
          if (event.data.attempt >= invoice.attempts) {
            invoice.attempts = event.data.attempt;
            invoice.lastDeclineCode = event.data.declineCode;
          }
          break;
        }
        case 'GraceStarted':
          row.standing = 'grace';
          row.graceReason = event.data.reason;
          row.graceUntil = new Date(event.data.until);
          break;
        case 'OrganizationRestricted':
          // The grace that ran out stays on the row: why the organization is restricted, and when its grace ended.
          row.standing = 'restricted';
          row.graceReason = event.data.reason;
          break;
        case 'StandingRestored':
          row.standing = 'good';
          row.graceReason = null;
          row.graceUntil = null;
          break;
        default: {
          const unknown: never = event;
          throw new ProjectionError(`unexpected event ${(unknown as RecordedEvent).type}`);
        }
      }
      row.updatedAt = at;
      row.revision = event.revision;
    }
  },
};
