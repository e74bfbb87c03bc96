import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import AdminJS, { Filter, type ActionContext, type ActionRequest, type BaseResource, type RecordActionResponse } from 'adminjs';
import { expect } from 'chai';
import type { SignedInStaff } from '../../../command-api/staff/staff-accounts.ts';
import type { StaffConsole } from '../../../command-api/staff/staff-console.ts';
import type { StaffRole } from '../../../domain/staff/staff-permissions.ts';
import { loadConfig } from '../../../infra/config/config.ts';
import { migrateDatabase } from '../../../infra/di/container.ts';
import { TOKENS } from '../../../infra/di/tokens.ts';
import type { EventStore } from '../../../infra/eventstore/event-store.ts';
import { integrationsProjection } from '../../../projectors/integrations/integrations-projection.ts';
import { ProjectionRunner } from '../../../projectors/runner/projection-runner.ts';
import { eventually } from '../../../test/support/events.ts';
import { testEnvironment } from '../../../test/support/http.ts';
import { integrationFacts } from '../../../test/support/integrations.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/support/postgres.ts';
import type { Fact } from '../../../test/support/projection-spec.ts';
import { openServices, type Services } from '../../../test/support/services.ts';
import { silentLogger } from '../../../test/support/stores.ts';
import { adminModules } from '../../modules.ts';
import { adminConsoleModule } from '../module.ts';
import { integrationsResource } from './integrations.ts';

type Action = {
  isAccessible: (input: { currentAdmin?: unknown }) => boolean;
  handler: (request: ActionRequest, response: unknown, context: ActionContext) => Promise<RecordActionResponse>;
};

/**
 * The console's Integrations resource over the real read model, and its actions through the real staff
 * commands (the admin process's modules, without the AdminJS app): what a staff member's click runs.
 */
describe('Staff console: the Integrations resource (real PostgreSQL and Redis)', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let outbox: string;
  let services: Services;
  let store: EventStore;
  let orm: MikroORM;
  let staffConsole: StaffConsole;

  before(async function () {
    this.timeout(120_000);
    database = await createTestDatabase('nf_test_console_integrations');
    outbox = await mkdtemp(path.join(os.tmpdir(), 'nf-outbox-'));
    const env = testEnvironment(database.url, outbox, database.name);
    await migrateDatabase(env);
    const modules = adminModules.filter((module) => module !== adminConsoleModule);
    services = openServices({ process: { config: loadConfig(env, 'admin') } }, modules);
    [store, orm, staffConsole] = await Promise.all([
      services.get<EventStore>(TOKENS.EventStore),
      services.get<MikroORM>(TOKENS.Orm),
      services.get<StaffConsole>(TOKENS.StaffConsole),
    ]);
  });
  after(async function () {
    this.timeout(60_000);
    await services?.close();
    await database?.drop();
    if (outbox) await rm(outbox, { recursive: true, force: true });
  });

  /** Runs the integrations projection until it has applied the head of the log (the projectors process's job). */
  async function project(): Promise<void> {
    const head = await store.headPosition();
    const runner = new ProjectionRunner(integrationsProjection, store, orm, silentLogger, { batchSize: 100, liveDelayMs: 0 });
    await runner.start();
    try {
      await eventually(
        () => runner.status().position,
        (position) => head === null || (position !== null && store.comparePositions(position, head) >= 0),
      );
    } finally {
      await runner.stop();
    }
  }

  async function given(...facts: Fact[][]): Promise<void> {
    for (const { id, streamId, event, metadata } of facts.flat())
      await store.append(streamId, [{ id, type: event.type, version: event.version, data: event.data, metadata }], 'any');
    await project();
  }

  const staff = (role: StaffRole): SignedInStaff => ({ id: randomUUID(), email: `${role}@staff.nexusflow.test`, name: `A ${role}`, role });

  /** The resource as the console declares it, decorated by AdminJS (records render through their resource's decorator). */
  function consoleResource() {
    const declared = integrationsResource({
      orm,
      streams: store,
      staffConsole,
      projections: { statuses: async () => ({ head: null, projections: [] }), job: () => null, rebuildable: () => [] } as never,
      settle: () => project(),
      holdImpersonation: async () => '/admin',
      requestOf: (_context, who) => ({ staff: who, correlationId: randomUUID() }),
    });
    new AdminJS({ rootPath: '/admin', resources: [declared] });
    return declared;
  }

  async function click(name: 'forceSync' | 'disconnect', who: SignedInStaff, integrationId: string) {
    const { resource, options } = consoleResource();
    const action = (options.actions as Record<string, Action>)[name]!;
    const context = { currentAdmin: who, resource } as unknown as ActionContext;
    const record = await (resource as BaseResource).findOne(integrationId, context);
    return {
      accessible: action.isAccessible({ currentAdmin: who }),
      run: () => action.handler({} as ActionRequest, {}, { ...context, record: record! }),
    };
  }

  it("lists every organization's integrations with status, account, last sync, errors and rejected records", async () => {
    const acme = randomUUID();
    const globex = randomUUID();
    const crm = integrationFacts(acme, { accountLabel: 'Acme Sales' });
    const theirs = integrationFacts(globex, { provider: 'hubspot' });
    await given(
      crm.connected,
      crm.start('run-1', 2),
      crm.fail('run-1', 3, 'REQUEST_LIMIT_EXCEEDED', true),
      crm.reject([{ direction: 'in', externalId: '003A', contactId: null, reason: 'missing email' }], 4),
      theirs.connected,
    );
    const { resource } = consoleResource();
    const rows = await resource.find(new Filter({ organizationId: acme }, resource), {});
    expect(rows).to.have.length(1);
    expect(rows[0]!.params).to.deep.include({
      id: crm.id,
      organizationId: acme,
      provider: 'salesforce',
      status: 'connected',
      accountLabel: 'Acme Sales',
      lastSyncOutcome: 'failed',
      lastSyncError: 'REQUEST_LIMIT_EXCEEDED',
      openRejects: 1,
    });
    expect(JSON.parse(rows[0]!.params.rejects as string)).to.deep.equal([
      { direction: 'in', externalId: '003A', contactId: null, reason: 'missing email' },
    ]);
    expect(await resource.count(new Filter({ provider: 'hubspot', organizationId: globex }, resource))).to.equal(1);
    expect(JSON.stringify(rows[0]!.params)).not.to.contain('sealed:v1');
  });

  it('forces a sync as a staff command: a new forced run recorded with the staff member as actor, refused while one runs', async () => {
    const acme = randomUUID();
    const crm = integrationFacts(acme);
    await given(crm.connected, crm.decide('SetSyncSettings', { settings: { direction: 'in' } }, 2));
    const support = staff('support');

    const force = await click('forceSync', support, crm.id);
    expect(force.accessible).to.equal(true);
    const answer = await force.run();
    expect(answer.notice?.message).to.match(/forced sync \(run .+\) has started/);
    const events = await store.readStream(`integration-${crm.id}`);
    const started = events[events.length - 1]!;
    expect(started.type).to.equal('SyncStarted');
    expect(started.data).to.deep.include({ kind: 'forced', direction: 'in', fields: null });
    expect(started.metadata.actor).to.deep.equal({ type: 'staff', id: support.id });
    expect(started.metadata.tenantId).to.equal(acme);
    // The answer shows the row as the projection left it once the command settled.
    expect(JSON.parse(answer.record.params.run as string)).to.deep.include({ kind: 'forced', runId: (started.data as { runId: string }).runId });

    const again = await click('forceSync', support, crm.id);
    await expectRefused(again.run(), /still in progress/);
  });

  it('disconnects as a staff command for admins only; support may not', async () => {
    const acme = randomUUID();
    const crm = integrationFacts(acme);
    await given(crm.connected, crm.start('run-1', 2));

    const bySupport = await click('disconnect', staff('support'), crm.id);
    expect(bySupport.accessible).to.equal(false);
    await expectRefused(bySupport.run(), /may not do this/);

    const admin = staff('admin');
    const byAdmin = await click('disconnect', admin, crm.id);
    expect(byAdmin.accessible).to.equal(true);
    const answer = await byAdmin.run();
    expect(answer.record.params).to.deep.include({ status: 'disconnected', run: null, lastSyncError: 'disconnected' });
    const types = (await store.readStream(`integration-${crm.id}`)).map((e) => [e.type, e.metadata.actor.type]);
    expect(types.slice(-2)).to.deep.equal([
      ['SyncFailed', 'staff'],
      ['IntegrationDisconnected', 'staff'],
    ]);
  });

  async function expectRefused(attempt: Promise<unknown>, message: RegExp): Promise<void> {
    const err = await attempt.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err, 'the action should have been refused').to.be.instanceOf(Error);
    const text = `${err!.message} ${JSON.stringify((err as { baseError?: unknown }).baseError ?? '')}`;
    expect(text).to.match(message);
  }
});
