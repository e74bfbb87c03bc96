import { BigIntType, EntitySchema } from '@mikro-orm/core';
import type { BillingInterval, BillingMode, GraceReason, Standing, SubscriptionStatus } from '../../domain/billing/billing-account.ts';
import { tenantFilter } from '../tenant-scope.ts';

/**
 * An organization's billing account as its admins (and staff) see it: the subscription as the provider last
 * reported it, flat (one column per field, all null before the first subscription), the plan change waiting
 * for the period end, and the standing. The payment method's id is kept although readers only ask whether
 * there is one: a later reader (the console) can then name it without a rebuild.
 */
export interface BillingAccountView {
  organizationId: string;
  /** Where the account is kept, as its last customer or subscription was recorded (null: neither yet). */
  mode: BillingMode | null;
  customerId: string | null;
  subscriptionId: string | null;
  planId: string | null;
  interval: BillingInterval | null;
  status: SubscriptionStatus | null;
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean | null;
  canceledAt: Date | null;
  trialEnd: Date | null;
  scheduledPlanId: string | null;
  scheduledInterval: BillingInterval | null;
  scheduledAt: Date | null;
  paymentMethodId: string | null;
  standing: Standing;
  graceReason: GraceReason | null;
  graceUntil: Date | null;
  updatedAt: Date;
  /** The revision of the account's stream (`billing-<organizationId>`): what If-Match on billing commands compares. */
  revision: number;
}

const nullableTime = { type: 'datetime', columnType: 'timestamptz', nullable: true } as const;

export const BillingAccountViewSchema = new EntitySchema<BillingAccountView>({
  name: 'BillingAccountView',
  tableName: 'billing_accounts',
  properties: {
    organizationId: { type: 'uuid', primary: true },
    mode: { type: 'text', nullable: true },
    customerId: { type: 'text', nullable: true },
    subscriptionId: { type: 'text', nullable: true },
    planId: { type: 'text', nullable: true },
    interval: { type: 'text', nullable: true },
    status: { type: 'text', nullable: true },
    currentPeriodStart: nullableTime,
    currentPeriodEnd: nullableTime,
    cancelAtPeriodEnd: { type: 'boolean', nullable: true },
    canceledAt: nullableTime,
    trialEnd: nullableTime,
    scheduledPlanId: { type: 'text', nullable: true },
    scheduledInterval: { type: 'text', nullable: true },
    scheduledAt: nullableTime,
    paymentMethodId: { type: 'text', nullable: true },
    standing: { type: 'text' },
    graceReason: { type: 'text', nullable: true },
    graceUntil: nullableTime,
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
  filters: tenantFilter(),
});

/**
 * One invoice of an organization, from the provider's reports of its payment and of failed attempts. Ids are
 * the provider's (not UUIDs), unique per organization. `amount` is in the currency's minor unit: what was
 * paid once it is paid, else what is due.
 */
export interface BillingInvoiceView {
  organizationId: string;
  invoiceId: string;
  status: 'paid' | 'payment_failed';
  number: string | null;
  amount: number;
  currency: string;
  /** Known from the payment report only (a failure's report does not carry the period). */
  periodStart: Date | null;
  periodEnd: Date | null;
  hostedInvoiceUrl: string | null;
  pdfUrl: string | null;
  /** The highest failed attempt reported (0: none). */
  attempts: number;
  lastDeclineCode: string | null;
  /** When the invoice was first reported: the list's order, which a later report does not move. */
  createdAt: Date;
  updatedAt: Date;
}

export const BillingInvoiceViewSchema = new EntitySchema<BillingInvoiceView>({
  name: 'BillingInvoiceView',
  tableName: 'billing_invoices',
  properties: {
    organizationId: { type: 'uuid', primary: true },
    invoiceId: { type: 'text', primary: true },
    status: { type: 'text' },
    number: { type: 'text', nullable: true },
    // bigint: minor units outgrow int4 (2^31) in currencies with small units; read back as a number.
    amount: { type: new BigIntType('number') },
    currency: { type: 'text' },
    periodStart: nullableTime,
    periodEnd: nullableTime,
    hostedInvoiceUrl: { type: 'text', nullable: true },
    pdfUrl: { type: 'text', nullable: true },
    attempts: { type: 'integer' },
    lastDeclineCode: { type: 'text', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
  filters: tenantFilter(),
});
