import { randomUUID } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { expect } from 'chai';
import { billingAccountDecider, billingAccountStream, priceFor, type SubscriptionSnapshot } from '../../domain/billing/billing-account.ts';
import { planDecider, planStream, type PlanLimits } from '../../domain/plans/plan.ts';
import type { Reply } from '../../test/support/http.ts';
import { expectProblem } from '../../test/support/problems.ts';
import { at, entityStream } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant, type Member, type QueryApi, type Tenant } from '../../test/support/query-api-spec.ts';

const OFFLINE = {
  charged: false,
  note: 'Billing runs offline: nothing is charged (set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to charge through Stripe).',
};
const routes = ['/billing/subscription', '/billing/invoices', '/billing/usage', '/billing/plans'];
const day = (n: number) => new Date(Date.UTC(2026, 2, 1 + n)).toISOString();

/** An organization's billing stream, driven by its decider as the billing commands drive it. */
function billing(organization: Tenant) {
  const organizationId = organization.id;
  const stream = entityStream(billingAccountDecider, billingAccountStream(organizationId), {
    tenantId: organizationId,
    actor: { type: 'system', id: 'billing' },
  });
  const snapshot = (planId: string, changes: Partial<SubscriptionSnapshot>): SubscriptionSnapshot => ({
    subscriptionId: `sub_${organizationId.slice(0, 8)}`,
    planId,
    interval: 'month',
    status: 'active',
    currentPeriodStart: day(0),
    currentPeriodEnd: day(31),
    cancelAtPeriodEnd: false,
    canceledAt: null,
    trialEnd: null,
    ...changes,
  });
  const links = (invoiceId: string) => ({
    organizationId,
    invoiceId,
    number: `NF-${invoiceId}`,
    currency: 'EUR',
    hostedInvoiceUrl: `https://invoice.example/${invoiceId}`,
    pdfUrl: `https://invoice.example/${invoiceId}.pdf`,
  });
  return {
    subscribe: (planId: string, minutes: number, changes: Partial<SubscriptionSnapshot> = {}) => [
      ...stream.decide(
        { type: 'RecordCustomer', data: { organizationId, customerId: `cus_${organizationId.slice(0, 8)}`, mode: 'stripe' } },
        minutes,
      ),
      ...stream.decide(
        {
          type: 'ApplySubscription',
          data: { organizationId, snapshot: snapshot(planId, changes), mode: 'stripe', reason: 'provider', now: at(minutes) },
        },
        minutes,
      ),
    ],
    schedule: (planId: string, minutes: number) =>
      stream.decide({ type: 'SchedulePlanChange', data: { organizationId, planId, interval: 'year' } }, minutes),
    paymentMethod: (minutes: number) => stream.decide({ type: 'RecordPaymentMethod', data: { organizationId, paymentMethodId: 'pm_card' } }, minutes),
    paid: (invoiceId: string, minutes: number, amountPaid = 4_900) =>
      stream.decide({ type: 'RecordInvoicePaid', data: { ...links(invoiceId), amountPaid, periodStart: day(0), periodEnd: day(31) } }, minutes),
    failed: (invoiceId: string, minutes: number, amountDue = 4_900) =>
      stream.decide(
        {
          type: 'RecordPaymentFailed',
          data: { ...links(invoiceId), amountDue, attempt: 1, declineCode: 'insufficient_funds', now: at(minutes), graceDays: 7 },
        },
        minutes,
      ),
  };
}

/** A plan of the catalog, drafted by staff at `minutes`, then activated a minute later (and retired the minute after). */
function plan(name: string, monthlyPriceCents: number, limits: PlanLimits, status: 'draft' | 'active' | 'retired', minutes = 0) {
  const id = randomUUID();
  const stream = entityStream(planDecider, planStream(id), { tenantId: null, actor: { type: 'staff', id: randomUUID() } });
  const facts = stream.decide({ type: 'DraftPlan', data: { planId: id, name, monthlyPriceCents, currency: 'EUR', limits } }, minutes);
  if (status !== 'draft') facts.push(...stream.decide({ type: 'ActivatePlan', data: { planId: id } }, minutes + 1));
  if (status === 'retired') facts.push(...stream.decide({ type: 'RetirePlan', data: { planId: id } }, minutes + 2));
  return { id, facts };
}

/** Checks an answer against the schema /openapi.json gives for its status. */
function openApiCheck(api: QueryApi) {
  let document: Promise<{
    paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: object }> }> }>>;
  }> | null = null;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
  return async (path: string, reply: Reply): Promise<Reply> => {
    document ??= api.http.get('/openapi.json').then((r) => r.body);
    const schema = (await document).paths[path]?.get?.responses[String(reply.status)]?.content['application/json']?.schema;
    expect(schema, `GET ${path} documents ${reply.status}`).to.be.an('object');
    const validate = ajv.compile(schema!);
    expect(validate(reply.body), `GET ${path}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(reply.body).slice(0, 300)}`).to.equal(true);
    return reply;
  };
}

describe('query API: billing (GET /billing/subscription, /billing/invoices, /billing/plans), offline', function () {
  this.timeout(30_000);
  const api = queryApiSpec();
  const documented = openApiCheck(api);
  const get = async (member: Member, path: string) => documented(path.split('?')[0]!, await api.get(member, path));
  const limits: PlanLimits = { contacts: 1_000, activeWorkflows: 5, executionsPerMonth: null, aiTokensPerMonth: 250_000, seats: 3 };

  it('answers an organization without billing events: no subscription, good standing, no invoices, labelled offline', async () => {
    const acme = tenant();
    await api.given(acme.signup);
    const reply = await get(acme.owner, '/billing/subscription');
    expect(reply.status).to.equal(200);
    expect(reply.body).to.deep.equal({
      mode: 'offline',
      offline: OFFLINE,
      revision: null,
      subscription: null,
      scheduledChange: null,
      hasPaymentMethod: false,
      standing: 'good',
      grace: null,
    });
    expect(reply.headers.get('etag')).to.equal(null);
    const invoices = await get(acme.owner, '/billing/invoices');
    expect(invoices.body).to.deep.equal({ mode: 'offline', offline: OFFLINE, data: [], page: { limit: 50, hasMore: false, nextCursor: null } });
  });

  it("answers the subscription, the scheduled change, the payment method and the standing, its revision as ETag; never another organization's", async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const growth = randomUUID();
    const starter = randomUUID();
    const acmeBilling = billing(acme);
    const acmeFacts = [
      ...acmeBilling.subscribe(growth, 1, { trialEnd: day(14) }),
      ...acmeBilling.schedule(starter, 2),
      ...acmeBilling.paymentMethod(3),
      ...acmeBilling.failed('in_acme', 4),
    ];
    const globexFacts = billing(globex).subscribe(starter, 5, { cancelAtPeriodEnd: true });
    await api.given(acme.signup, globex.signup, acmeFacts, globexFacts);

    const reply = await get(acme.owner, '/billing/subscription');
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    const revision = acmeFacts.length - 1;
    expect(reply.body).to.deep.equal({
      mode: 'offline',
      offline: OFFLINE,
      revision,
      subscription: {
        id: `sub_${acme.id.slice(0, 8)}`,
        planId: growth,
        interval: 'month',
        status: 'active',
        currentPeriodStart: day(0),
        currentPeriodEnd: day(31),
        cancelAtPeriodEnd: false,
        canceledAt: null,
        trialEnd: day(14),
      },
      scheduledChange: { planId: starter, interval: 'year', at: day(31) },
      hasPaymentMethod: true,
      standing: 'grace',
      grace: { reason: 'payment_failed', until: new Date(Date.parse(at(4)) + 7 * 86_400_000).toISOString() },
    });
    expect(reply.headers.get('etag')).to.equal(`"${revision}"`);

    const theirs = await get(globex.owner, '/billing/subscription');
    expect(theirs.body).to.deep.include({
      revision: globexFacts.length - 1,
      scheduledChange: null,
      hasPaymentMethod: false,
      standing: 'good',
      grace: null,
    });
    expect(theirs.body.subscription).to.deep.include({ id: `sub_${globex.id.slice(0, 8)}`, planId: starter, cancelAtPeriodEnd: true });
    expect(JSON.stringify(theirs.body)).not.to.contain(acme.id.slice(0, 8));
  });

  it("lists invoices newest first with their links, paged, each once whatever its attempts; never another organization's", async () => {
    const acme = tenant();
    const globex = tenant('Globex');
    const acmeBilling = billing(acme);
    const globexBilling = billing(globex);
    await api.given(
      acme.signup,
      globex.signup,
      acmeBilling.subscribe(randomUUID(), 1),
      acmeBilling.paid('in_a1', 10),
      acmeBilling.failed('in_a2', 20, 5_900),
      acmeBilling.failed('in_a3', 30),
      acmeBilling.paid('in_a3', 31),
      globexBilling.subscribe(randomUUID(), 1),
      globexBilling.paid('in_g1', 40),
    );

    const list = await get(acme.owner, '/billing/invoices');
    expect(list.status, JSON.stringify(list.body)).to.equal(200);
    expect(list.body.data.map((invoice: { id: string }) => invoice.id)).to.deep.equal(['in_a3', 'in_a2', 'in_a1']);
    expect(list.body.data[0]).to.deep.equal({
      id: 'in_a3',
      number: 'NF-in_a3',
      status: 'paid',
      amount: 4_900,
      currency: 'EUR',
      periodStart: day(0),
      periodEnd: day(31),
      hostedInvoiceUrl: 'https://invoice.example/in_a3',
      pdfUrl: 'https://invoice.example/in_a3.pdf',
      attempts: 1,
      lastDeclineCode: 'insufficient_funds',
      createdAt: at(30),
      updatedAt: at(31),
    });
    expect(list.body.data[1]).to.deep.include({
      status: 'payment_failed',
      amount: 5_900,
      periodStart: null,
      periodEnd: null,
      pdfUrl: 'https://invoice.example/in_a2.pdf',
    });
    expect(list.body).to.deep.include({ mode: 'offline', offline: OFFLINE });

    const first = await get(acme.owner, '/billing/invoices?limit=2');
    expect(first.body.page).to.deep.include({ limit: 2, hasMore: true });
    const second = await get(acme.owner, `/billing/invoices?limit=2&cursor=${first.body.page.nextCursor}`);
    expect([...first.body.data, ...second.body.data].map((invoice: { id: string }) => invoice.id)).to.deep.equal(['in_a3', 'in_a2', 'in_a1']);
    expect(second.body.page).to.deep.equal({ limit: 2, hasMore: false, nextCursor: null });
    expectProblem(await api.get(acme.owner, '/billing/invoices?cursor=bogus'), 400, ['cursor']);
    expectProblem(await api.get(acme.owner, '/billing/invoices?limit=0'), 400, ['limit']);

    const theirs = await get(globex.owner, '/billing/invoices');
    expect(theirs.body.data.map((invoice: { id: string }) => invoice.id)).to.deep.equal(['in_g1']);
  });

  it('lists the active plans of the catalog, cheapest first, with the price per interval, currency and limits', async () => {
    const acme = tenant();
    const growth = plan('Growth', 4_900, limits, 'active', 1);
    const starter = plan('Starter', 1_900, { ...limits, contacts: 100, seats: 1 }, 'active', 2);
    const draft = plan('Enterprise', 99_900, limits, 'draft', 3);
    const retired = plan('Legacy', 900, limits, 'retired', 4);
    await api.given(acme.signup, growth.facts, starter.facts, draft.facts, retired.facts);

    const reply = await get(acme.owner, '/billing/plans');
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    const ours = new Set<string>([growth.id, starter.id, draft.id, retired.id]);
    const listed = reply.body.data.filter((p: { id: string }) => ours.has(p.id));
    expect(listed).to.deep.equal([
      {
        id: starter.id,
        name: 'Starter',
        currency: 'EUR',
        priceCents: { month: 1_900, year: priceFor(1_900, 'year') },
        limits: { contacts: 100, activeWorkflows: 5, executionsPerMonth: null, aiTokensPerMonth: 250_000, seats: 1 },
      },
      {
        id: growth.id,
        name: 'Growth',
        currency: 'EUR',
        priceCents: { month: 4_900, year: 49_000 },
        limits: { contacts: 1_000, activeWorkflows: 5, executionsPerMonth: null, aiTokensPerMonth: 250_000, seats: 3 },
      },
    ]);
    expect(reply.body).to.deep.include({ mode: 'offline', offline: OFFLINE });
  });

  it('is for owners and admins (billing:read): members and viewers get 403; each route in /openapi.json', async () => {
    const acme = tenant();
    const admin = acme.member('admin', 1);
    const position = await api.given(acme.signup, admin.facts, billing(acme).subscribe(randomUUID(), 2));
    for (const path of routes) {
      expect((await api.get(admin.member, path, { 'X-Min-Position': position })).status, path).to.equal(200);
      for (const role of ['member', 'viewer'] as const) {
        const reply = await api.get({ ...admin.member, role }, path);
        expectProblem(reply, 403);
        expect(reply.body.code).to.equal('insufficient_permission');
      }
    }
    expectProblem(await api.http.get('/billing/subscription'), 401);

    const spec = (await api.http.get('/openapi.json')).body;
    for (const path of routes) {
      const operation = spec.paths[path].get;
      expect(operation['x-permission'], path).to.equal('billing:read');
      expect(operation.responses['200'].content['application/json'].schema.required, path).to.include('mode');
    }
  });
});

describe('query API: billing through Stripe (STRIPE_SECRET_KEY set)', function () {
  this.timeout(30_000);
  const api = queryApiSpec({ env: { STRIPE_SECRET_KEY: 'sk_test_billingspec', STRIPE_WEBHOOK_SECRET: 'whsec_billingspec' } });
  const documented = openApiCheck(api);

  it('says mode stripe on every answer, with no offline label', async () => {
    const acme = tenant();
    await api.given(
      acme.signup,
      billing(acme).subscribe(randomUUID(), 1),
      plan('Growth', 4_900, { contacts: null, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null }, 'active').facts,
    );
    for (const path of routes) {
      const reply = await documented(path, await api.get(acme.owner, path));
      expect(reply.status, path).to.equal(200);
      expect(reply.body.mode, path).to.equal('stripe');
      expect(reply.body, path).not.to.have.property('offline');
    }
  });
});
