import { randomUUID } from 'node:crypto';
import { planDecider, planStream, type PlanLimits } from '../../domain/plans/plan.ts';
import { at, entityStream, fact, projectionSpec, rowsOf, type Rows } from '../../test/support/projection-spec.ts';
import { PlanViewSchema, type PlanView } from './plan-view.ts';
import { plansProjection } from './plans-projection.ts';

describe('plans projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(plansProjection);
  /**
   * What the staff console reads. PlanView declares the price and the limits as numbers, but their columns
   * are bigint and the ORM answers bigints as decimal strings (the console shows them as text): the rows say
   * what readers really get.
   */
  type Amounts = 'monthlyPriceCents' | 'contactsLimit' | 'activeWorkflowsLimit' | 'executionsPerMonthLimit' | 'aiTokensPerMonthLimit' | 'seatsLimit';
  type CatalogRow = Omit<PlanView, Amounts> & { monthlyPriceCents: string } & Record<Exclude<Amounts, 'monthlyPriceCents'>, string | null>;
  // The catalog is platform-level: staff list every plan, no tenant scope.
  const catalog = rowsOf(PlanViewSchema, { orderBy: { createdAt: 'asc' } }) as unknown as Rows<CatalogRow>;
  const staff = { tenantId: null, actor: { type: 'staff' as const, id: randomUUID() } };
  const limits: PlanLimits = { contacts: 1_000, activeWorkflows: 5, executionsPerMonth: null, aiTokensPerMonth: 250_000, seats: 3 };

  function plan(name: string, minutes = 0) {
    const planId = randomUUID();
    const stream = entityStream(planDecider, planStream(planId), staff);
    const drafted = stream.decide({ type: 'DraftPlan', data: { planId, name, monthlyPriceCents: 4_900, currency: 'EUR', limits } }, minutes);
    const row = (overrides: Partial<CatalogRow> = {}): CatalogRow => ({
      id: planId,
      name,
      status: 'draft',
      monthlyPriceCents: '4900',
      currency: 'EUR',
      contactsLimit: '1000',
      activeWorkflowsLimit: '5',
      executionsPerMonthLimit: null,
      aiTokensPerMonthLimit: '250000',
      seatsLimit: '3',
      createdAt: new Date(at(minutes)),
      updatedAt: new Date(at(minutes)),
      revision: 0,
      ...overrides,
    });
    return { planId, stream, drafted, row };
  }

  it('lists a drafted plan with a column per limit (null: unlimited)', async () => {
    const starter = plan('Starter');
    await spec.given(starter.drafted).then(catalog, [starter.row()]);
  });

  it('takes only what a revision changed, and follows activation and retirement', async () => {
    const starter = plan('Starter');
    const growth = plan('Growth', 1);
    const revised = starter.stream.decide(
      {
        type: 'RevisePlan',
        data: { planId: starter.planId, monthlyPriceCents: 5_900, limits: { seats: 5, executionsPerMonth: 10_000, contacts: null } },
      },
      10,
    );
    const activated = starter.stream.decide({ type: 'ActivatePlan', data: { planId: starter.planId } }, 11);
    const retired = growth.stream.decide({ type: 'RetirePlan', data: { planId: growth.planId } }, 12);
    const expected = [
      starter.row({
        status: 'active',
        monthlyPriceCents: '5900',
        contactsLimit: null,
        executionsPerMonthLimit: '10000',
        seatsLimit: '5',
        updatedAt: new Date(at(11)),
        revision: 2,
      }),
      growth.row({ status: 'retired', updatedAt: new Date(at(12)), revision: 1 }),
    ];
    await spec.given(starter.drafted, growth.drafted, revised, activated, retired).then(catalog, expected);
    await spec.given(starter.drafted, growth.drafted).when(revised, activated, retired).then(catalog, expected);
    await spec.given(starter.drafted, growth.drafted, revised, activated, retired).inBatchesOf(1).then(catalog, expected);
  });

  it('parks a second draft with the same id and a change to a plan it never saw, and goes on', async () => {
    const starter = plan('Starter');
    const copy = fact(`${planStream(starter.planId)}-copy`, starter.drafted[0]!.event, staff);
    const ghostId = randomUUID();
    const ghost = fact(planStream(ghostId), { type: 'PlanActivated', version: 1, data: { planId: ghostId } }, staff);
    const activated = starter.stream.decide({ type: 'ActivatePlan', data: { planId: starter.planId } }, 3);
    const scenario = spec.given(starter.drafted, copy, ghost, activated);
    await scenario.thenParked([
      { eventType: 'PlanDrafted', error: /already exists/ },
      { eventType: 'PlanActivated', error: /is not in the read model/ },
    ]);
    await scenario.then(catalog, [starter.row({ status: 'active', updatedAt: new Date(at(3)), revision: 1 })]);
  });
});
