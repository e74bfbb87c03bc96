import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { at, fact, projectionSpec, rowsOf, type Fact } from '../../test/support/projection-spec.ts';
import { tenant, type Tenant } from '../../test/support/query-api-spec.ts';
import { pgArray } from '../../infra/readmodels/orm.ts';
import { AI_TOKENS_USED, dayIn, daysOfPeriod, meteringProjection } from './metering-projection.ts';
import { UsageDailyViewSchema, type UsageDailyView } from './metering-views.ts';

/** The organization's day buckets, as the usage route reads them (tenant-scoped). */
const bucketsOf = (organization: Tenant) =>
  rowsOf(UsageDailyViewSchema, { tenant: organization.id, orderBy: { metric: 'asc', day: 'asc' } as never });

const bucket = (organization: Tenant, metric: UsageDailyView['metric'], day: string, quantity: number): UsageDailyView => ({
  organizationId: organization.id,
  metric,
  day,
  quantity,
});

/** Minutes after at(0) (2026-03-02 09:00 UTC) of an instant. */
const minutesAt = (instant: string) => (Date.parse(instant) - Date.parse(at(0))) / 60_000;

function aiTokens(organization: Tenant, tokens: number, minutes: number): Fact {
  return fact(
    `ai-${organization.id}`,
    { type: AI_TOKENS_USED, version: 1, data: { organizationId: organization.id, tokens } },
    { tenantId: organization.id, occurredAt: at(minutes) },
  );
}

/**
 * A month of an organization's life: contacts come and go, workflows are paused, resumed and deleted, a member
 * leaves, executions start on two days and AI tokens are used.
 */
function aMonth(organization: Tenant): Fact[] {
  const kept = organization.contact({}, 1);
  const deleted = organization.contact({}, 1);
  const erased = organization.contact({}, 1);
  const active = organization.workflow('Active', 1);
  const pausedThenDeleted = organization.workflow('Paused', 1);
  const resumed = organization.workflow('Resumed', 1);
  const member = organization.member('member', 1);
  const leaver = organization.member('viewer', 1);
  const deactivate = (userId: string, minutes: number) =>
    organization.organization.decide({ type: 'DeactivateMember', data: { organizationId: organization.id, userId, byRole: 'owner' } }, minutes);
  const pause = (w: typeof active, minutes: number) =>
    w.stream.decide({ type: 'PauseWorkflow', data: { workflowId: w.id, organizationId: organization.id } }, minutes);
  return [
    organization.signup,
    kept.facts,
    deleted.facts,
    erased.facts,
    active.facts,
    pausedThenDeleted.facts,
    resumed.facts,
    member.facts,
    leaver.facts,
    // The next day (2026-03-03): one contact deleted, another deleted and erased (erasing frees nothing more).
    deleted.stream.decide({ type: 'DeleteContact', data: { contactId: deleted.id, organizationId: organization.id } }, 24 * 60),
    erased.stream.decide({ type: 'DeleteContact', data: { contactId: erased.id, organizationId: organization.id } }, 24 * 60),
    erased.stream.decide({ type: 'EraseContact', data: { contactId: erased.id } }, 24 * 60),
    // A paused workflow deleted no longer counts twice; one paused and resumed counts again.
    pause(pausedThenDeleted, 24 * 60),
    pausedThenDeleted.stream.decide({ type: 'DeleteWorkflow', data: { workflowId: pausedThenDeleted.id, organizationId: organization.id } }, 24 * 60),
    pause(resumed, 24 * 60),
    resumed.stream.decide({ type: 'ResumeWorkflow', data: { workflowId: resumed.id, organizationId: organization.id } }, 24 * 60 + 1),
    deactivate(leaver.member.userId, 24 * 60),
    organization.execution(active.id, kept.id, 2).facts,
    organization.execution(active.id, kept.id, 3).facts,
    organization.execution(active.id, kept.id, 24 * 60 + 5).facts,
    aiTokens(organization, 1_200, 10),
    aiTokens(organization, 300, 24 * 60 + 10),
  ].flat();
}

/** What aMonth makes: 2026-03-02 the creations, 2026-03-03 the departures (UTC). */
function expectedMonth(organization: Tenant): UsageDailyView[] {
  return [
    bucket(organization, 'active_workflows', '2026-03-02', 3),
    // Two pauses (−2), a deletion of a paused one (0), a resume (+1).
    bucket(organization, 'active_workflows', '2026-03-03', -1),
    bucket(organization, 'ai_tokens', '2026-03-02', 1_200),
    bucket(organization, 'ai_tokens', '2026-03-03', 300),
    bucket(organization, 'contacts', '2026-03-02', 3),
    bucket(organization, 'contacts', '2026-03-03', -2),
    bucket(organization, 'executions', '2026-03-02', 2),
    bucket(organization, 'executions', '2026-03-03', 1),
    // The owner and two members, then one deactivated.
    bucket(organization, 'seats', '2026-03-02', 3),
    bucket(organization, 'seats', '2026-03-03', -1),
  ];
}

describe('metering projection: usage per organization and day, from the log', function () {
  this.timeout(60_000);
  const spec = projectionSpec(meteringProjection);

  it('counts gauges as changes (+1 in, −1 out, only real changes) and counters as amounts, per day', async () => {
    const acme = tenant('Acme');
    const globex = tenant('Globex');
    await spec.given(aMonth(acme), globex.signup, globex.contact().facts).then(bucketsOf(acme), expectedMonth(acme));
  });

  it('gives the same rows whatever the batches and however many runners: nothing counted twice or missed', async () => {
    const acme = tenant('Acme');
    const facts = aMonth(acme);
    await spec.given(facts).inBatchesOf(1).then(bucketsOf(acme), expectedMonth(acme));
    await spec.given(facts.slice(0, 9)).when(facts.slice(9)).inBatchesOf(3).byRunners(2).then(bucketsOf(acme), expectedMonth(acme));
  });

  it('counts a batch of many new contacts (their members stored by COPY) as one at a time and as on the embedded database, and their departure', async () => {
    const acme = tenant('Acme');
    const contacts = Array.from({ length: 300 }, () => acme.contact({}, 1));
    const created: Fact[] = [acme.signup, contacts.map((contact) => contact.facts)].flat(2);
    const deleted: Fact[] = contacts
      .map((contact) => contact.stream.decide({ type: 'DeleteContact', data: { contactId: contact.id, organizationId: acme.id } }, 24 * 60))
      .flat();
    const contactsOf = rowsOf(UsageDailyViewSchema, { tenant: acme.id, where: { metric: 'contacts' }, orderBy: { day: 'asc' } as never });
    const expected = [bucket(acme, 'contacts', '2026-03-02', 300), bucket(acme, 'contacts', '2026-03-03', -300)];
    await spec.given(created).when(deleted).inBatchesOf(1_000).then(contactsOf, expected);
    await spec.given(created).when(deleted).inBatchesOf(1_000).asOnEmbedded().then(contactsOf, expected);
    await spec.given(created).when(deleted).inBatchesOf(7).then(contactsOf, expected);
  });

  it("buckets by the organization's own calendar: 10:00 UTC is already tomorrow in Kiribati (UTC+14)", async () => {
    const kiribati = tenant('Kiribati', 'Pacific/Kiritimati');
    const contact = kiribati.contact();
    const workflow = kiribati.workflow();
    const late = minutesAt('2026-03-02T09:59:00Z'); // 23:59 on the 2nd in Kiribati
    const midnight = minutesAt('2026-03-02T10:00:00Z'); // 00:00 on the 3rd there
    await spec
      .given(
        kiribati.signup,
        contact.facts,
        workflow.facts,
        kiribati.execution(workflow.id, contact.id, late).facts,
        kiribati.execution(workflow.id, contact.id, midnight).facts,
      )
      .then(rowsOf(UsageDailyViewSchema, { tenant: kiribati.id, where: { metric: 'executions' } }), [
        bucket(kiribati, 'executions', '2026-03-02', 1),
        bucket(kiribati, 'executions', '2026-03-03', 1),
      ]);
  });

  it('ignores what never entered a gauge (a deletion the log never saw created) rather than going negative', async () => {
    const acme = tenant('Acme');
    const stray = randomUUID();
    await spec
      .given(
        acme.signup,
        fact(`contact-${stray}`, { type: 'ContactDeleted', version: 1, data: { contactId: stray, email: 'x@y.z' } }, { tenantId: acme.id }),
      )
      .then(rowsOf(UsageDailyViewSchema, { tenant: acme.id, where: { metric: 'contacts' } }), []);
  });
});

describe('metering: days and periods in a time zone', () => {
  it('names the day of an instant in the zone, across a daylight-saving change', () => {
    expect(dayIn('UTC', Date.parse('2026-03-02T23:59:59.999Z'))).to.equal('2026-03-02');
    expect(dayIn('Pacific/Kiritimati', Date.parse('2026-03-02T10:00:00Z'))).to.equal('2026-03-03');
    // New York springs forward on 2026-03-08 at 02:00 local (07:00 UTC): midnight of the 9th is 04:00 UTC.
    expect(dayIn('America/New_York', Date.parse('2026-03-09T03:59:59Z'))).to.equal('2026-03-08');
    expect(dayIn('America/New_York', Date.parse('2026-03-09T04:00:00Z'))).to.equal('2026-03-09');
  });

  it('gives a period the days whose midnight falls within it', () => {
    expect(daysOfPeriod('UTC', new Date('2026-03-01T00:00:00Z'), new Date('2026-04-01T00:00:00Z'))).to.deep.equal({
      from: '2026-03-01',
      to: '2026-04-01',
    });
    // A subscription period from 14:23 on the 5th: the 5th belongs to the period before (its midnight did).
    expect(daysOfPeriod('UTC', new Date('2026-03-05T14:23:00Z'), new Date('2026-04-05T14:23:00Z'))).to.deep.equal({
      from: '2026-03-06',
      to: '2026-04-06',
    });
  });

  it('quotes array elements for PostgreSQL', () => {
    expect(pgArray(['a', 'b"c', 'd\\e'])).to.equal('{"a","b\\"c","d\\\\e"}');
    expect(pgArray(['"\\"', '', 'NULL'])).to.equal('{"\\"\\\\\\"","","NULL"}');
    expect(pgArray([])).to.equal('{}');
  });
});
