import { Migration } from '@mikro-orm/migrations';

/**
 * Billing's read side (issue 21), both written by the billing projection (projectors/billing):
 * - billing_accounts: one row per organization with billing events: the subscription, the scheduled plan
 *   change, the payment method and the standing (good, grace, restricted);
 * - billing_invoices: one row per invoice of an organization, paid or with failed attempts, listed newest
 *   first by when it was first reported.
 */
export class Migration20261205000010 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE billing_accounts (
        organization_id      uuid PRIMARY KEY,
        mode                 text,
        customer_id          text,
        subscription_id      text,
        plan_id              text,
        interval             text,
        status               text,
        current_period_start timestamptz,
        current_period_end   timestamptz,
        cancel_at_period_end boolean,
        canceled_at          timestamptz,
        trial_end            timestamptz,
        scheduled_plan_id    text,
        scheduled_interval   text,
        scheduled_at         timestamptz,
        payment_method_id    text,
        standing             text NOT NULL,
        grace_reason         text,
        grace_until          timestamptz,
        updated_at           timestamptz NOT NULL,
        revision             integer NOT NULL
      );

      CREATE TABLE billing_invoices (
        organization_id    uuid NOT NULL,
        invoice_id         text NOT NULL,
        status             text NOT NULL,
        number             text,
        amount             bigint NOT NULL,
        currency           text NOT NULL,
        period_start       timestamptz,
        period_end         timestamptz,
        hosted_invoice_url text,
        pdf_url            text,
        attempts           integer NOT NULL,
        last_decline_code  text,
        created_at         timestamptz NOT NULL,
        updated_at         timestamptz NOT NULL,
        PRIMARY KEY (organization_id, invoice_id)
      );
      CREATE INDEX billing_invoices_newest ON billing_invoices (organization_id, created_at DESC, invoice_id DESC);
    `);
  }
}
