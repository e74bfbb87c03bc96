import { expect } from 'chai';
import { DateTime } from 'luxon';
import pg from 'pg';
import { commandCoreModule } from '../../command-api/module.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EventStore } from '../../infra/eventstore/event-store.ts';
import { AI_TOKENS_USED } from '../../projectors/billing/metering-projection.ts';
import { projectionTables } from '../../projectors/read-models.ts';
import { at, fact, type Fact } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant, type Tenant } from '../../test/support/query-api-spec.ts';
import { withServices } from '../../test/support/services.ts';

const PATH = '/billing/usage';
const minute = 60_000;
/** The `minutes` of projection-spec's at() that is `instant`. */
const minutesAt = (instant: string) => (Date.parse(instant) - Date.parse(at(0))) / minute;
const shifted = (instant: string, ms: number) => new Date(Date.parse(instant) + ms).toISOString();

interface Counted {
  contacts: number;
  activeWorkflows: number;
  executions: number;
  aiTokens: number;
  seats: number;
}

/**
 * The organization's usage counted straight from the log, with nothing of the metering projection: every
 * event read in order, each thing's state followed to the end, executions and tokens counted by the instant
 * they happened within [start, end).
 */
function countFromLog(events: RecordedEvent[], organizationId: string, start: string, end: string): Counted {
  const contacts = new Map<string, boolean>();
  const workflows = new Map<string, string>();
  const seats = new Map<string, boolean>();
  const within = (instant: string) => instant >= start && instant < end;
  let executions = 0;
  let aiTokens = 0;
  for (const event of events) {
    if (event.metadata.tenantId !== organizationId) continue;
    const data = event.data as Record<string, any>;
    switch (event.type) {
      case 'ContactCreated':
        contacts.set(data.contactId, true);
        break;
      case 'ContactDeleted':
      case 'ContactErased':
        contacts.set(data.contactId, false);
        break;
      case 'WorkflowCreated':
      case 'WorkflowResumed':
        workflows.set(data.workflowId, 'active');
        break;
      case 'WorkflowPaused':
        workflows.set(data.workflowId, 'paused');
        break;
      case 'WorkflowDeleted':
        workflows.set(data.workflowId, 'deleted');
        break;
      case 'UserRegistered':
      case 'MemberReactivated':
        seats.set(data.userId, true);
        break;
      case 'MemberDeactivated':
        seats.set(data.userId, false);
        break;
      case 'ExecutionStarted':
        if (within(new Date(data.startedAt).toISOString())) executions++;
        break;
      case AI_TOKENS_USED:
        if (within(new Date(event.metadata.occurredAt).toISOString())) aiTokens += data.tokens;
        break;
    }
  }
  const count = <T>(map: Map<string, T>, value: T) => [...map.values()].filter((v) => v === value).length;
  return {
    contacts: count(contacts, true),
    activeWorkflows: count(workflows, 'active'),
    executions,
    aiTokens,
    seats: count(seats, true),
  };
}

function aiTokens(organization: Tenant, tokens: number, instant: string): Fact {
  return fact(
    `ai-${organization.id}`,
    { type: AI_TOKENS_USED, version: 1, data: { organizationId: organization.id, tokens } },
    { tenantId: organization.id, occurredAt: instant },
  );
}

/**
 * Usage as the route answers it is a count of the log: the same numbers an independent fold over every
 * event gives, and the same again after the metering read model is emptied and rebuilt from the log.
 */
describe('query API: GET /billing/usage is a count of the log', function () {
  this.timeout(60_000);
  const api = queryApiSpec();

  /** Every event of the log, in order, as the application reads it. */
  async function readLog(): Promise<RecordedEvent[]> {
    return withServices({ process: { config: api.config } }, [commandCoreModule], async (services) => {
      const store = await services.get<EventStore>(TOKENS.EventStore);
      const events: RecordedEvent[] = [];
      for (let after: string | null = null; ;) {
        const page = await store.readAll({ after, maxCount: 1_000 });
        if (page.length === 0) return events;
        events.push(...page);
        after = page[page.length - 1]!.position;
      }
    });
  }

  /** Empties the metering read model and its checkpoint, as `nexusflow projections reset metering` does. */
  async function resetMetering(): Promise<void> {
    const client = new pg.Client({ connectionString: api.config.DATABASE_URL });
    await client.connect();
    try {
      const tables = projectionTables.metering!;
      await client.query(
        `${tables.map((table) => `DELETE FROM ${table};`).join(' ')} UPDATE projection_checkpoints SET position = NULL WHERE name = 'metering'`,
      );
    } finally {
      await client.end();
    }
  }

  it("answers what a fold of every event counts, in the organization's month (New York), and the same after a rebuild", async () => {
    const timezone = 'America/New_York';
    const acme = tenant('Acme', timezone);
    const globex = tenant('Globex', timezone);
    const month = DateTime.now().setZone(timezone).startOf('month');
    const start = month.toUTC().toISO()!;
    const end = month.plus({ months: 1 }).toUTC().toISO()!;
    const inMonth = shifted(start, 36 * 60 * minute);

    const contacts = [acme.contact(), acme.contact(), acme.contact(), acme.contact()];
    const flows = [acme.workflow('One'), acme.workflow('Two'), acme.workflow('Three')];
    const member = acme.member('member');
    const leaver = acme.member('viewer');
    const runAt = (instant: string) => acme.execution(flows[0]!.id, contacts[0]!.id, minutesAt(instant)).facts;
    const theirs = globex.contact();
    const theirFlow = globex.workflow();
    const facts: Fact[][] = [
      acme.signup,
      globex.signup,
      ...contacts.map((c) => c.facts),
      ...flows.map((w) => w.facts),
      member.facts,
      leaver.facts,
      contacts[3]!.stream.decide({ type: 'DeleteContact', data: { contactId: contacts[3]!.id, organizationId: acme.id } }, 5),
      flows[1]!.stream.decide({ type: 'PauseWorkflow', data: { workflowId: flows[1]!.id, organizationId: acme.id } }, 5),
      flows[2]!.stream.decide({ type: 'PauseWorkflow', data: { workflowId: flows[2]!.id, organizationId: acme.id } }, 5),
      flows[2]!.stream.decide({ type: 'DeleteWorkflow', data: { workflowId: flows[2]!.id, organizationId: acme.id } }, 6),
      acme.organization.decide({ type: 'DeactivateMember', data: { organizationId: acme.id, userId: leaver.member.userId, byRole: 'owner' } }, 5),
      // Executions at the month's edges in New York (a minute before its midnight is last month), and inside it.
      runAt(shifted(start, -minute)),
      runAt(start),
      runAt(inMonth),
      runAt(shifted(inMonth, 3 * 60 * minute)),
      runAt(shifted(end, -minute)),
      runAt(end),
      [aiTokens(acme, 700, shifted(start, -minute)), aiTokens(acme, 1_500, inMonth), aiTokens(acme, 250, shifted(end, -minute))],
      // Another organization's usage, in the same month.
      theirs.facts,
      theirFlow.facts,
      globex.execution(theirFlow.id, theirs.id, minutesAt(inMonth)).facts,
      [aiTokens(globex, 9_999, inMonth)],
    ];
    const position = await api.given(...facts);

    const answered = await api.get(acme.owner, PATH, { 'X-Min-Position': position });
    expect(answered.status, JSON.stringify(answered.body)).to.equal(200);
    expect(answered.body.period).to.deep.equal({ start, end, basis: 'calendar_month', timezone });
    const usage = answered.body.usage;
    const counted = countFromLog(await readLog(), acme.id, start, end);
    expect({
      contacts: usage.contacts.used,
      activeWorkflows: usage.activeWorkflows.used,
      executions: usage.executionsPerMonth.used,
      aiTokens: usage.aiTokensPerMonth.used,
      seats: usage.seats.used,
    }).to.deep.equal(counted);
    // And the fold counted what the facts say (so the comparison above is not of two zeros).
    expect(counted).to.deep.equal({ contacts: 3, activeWorkflows: 1, executions: 4, aiTokens: 1_750, seats: 2 });

    await resetMetering();
    await api.project();
    const rebuilt = await api.get(acme.owner, PATH, { 'X-Min-Position': await api.head() });
    expect(rebuilt.status, JSON.stringify(rebuilt.body)).to.equal(200);
    expect(rebuilt.body).to.deep.equal(answered.body);
  });
});
