import { defaultMappings } from '../../domain/integrations/providers.ts';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { defaultSyncSettings, MAX_OPEN_REJECTS, type SyncReject } from '../../domain/integrations/integration.ts';
import { integrationFacts, syncCounts } from '../../test/support/integrations.ts';
import { at, fact, projectionSpec, rowsOf } from '../../test/support/projection-spec.ts';
import { IntegrationSyncRunViewSchema, IntegrationViewSchema, type IntegrationSyncRunView, type IntegrationView } from './integration-view.ts';
import { integrationsProjection } from './integrations-projection.ts';

describe('Integrations projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(integrationsProjection);

  const rows = (organizationId: string) => rowsOf(IntegrationViewSchema, { tenant: organizationId, orderBy: { connectedAt: 'asc' } });
  const runs = (organizationId: string) => rowsOf(IntegrationSyncRunViewSchema, { tenant: organizationId, orderBy: { startedAt: 'asc' } });

  function connectedRow(integration: ReturnType<typeof integrationFacts>, overrides: Partial<IntegrationView> = {}): IntegrationView {
    return {
      id: integration.id,
      organizationId: integration.organizationId,
      provider: integration.provider,
      status: 'connected',
      accountId: integration.grant.accountId,
      accountLabel: integration.grant.accountLabel,
      instanceUrl: integration.grant.instanceUrl,
      grantedScopes: ['api', 'refresh_token'],
      tokenExpiresAt: new Date(integration.grant.tokenExpiresAt),
      grantFailure: null,
      connectedAt: new Date(at(1)),
      connectedByType: integration.connectedBy.type,
      connectedById: integration.connectedBy.id,
      reconnectedAt: null,
      disconnectedAt: null,
      mappings: defaultMappings(integration.provider),
      settings: defaultSyncSettings,
      run: null,
      lastRun: null,
      lastSyncAt: null,
      lastSyncOutcome: null,
      lastSyncError: null,
      cursors: {},
      rejects: [],
      rejectsOverflow: 0,
      openRejects: 0,
      fieldsToResync: [],
      lastWebhookAt: null,
      updatedAt: new Date(at(1)),
      revision: 0,
      ...overrides,
    };
  }

  /** What the row and the decider both know must agree (the row folds the same events its own way). */
  function expectAsDecided(row: IntegrationView | undefined, integration: ReturnType<typeof integrationFacts>) {
    const state = integration.state;
    if (state.status === 'absent') throw new Error('the integration was never connected');
    const { status, mappings, settings, cursors, rejects, rejectsOverflow, fieldsToResync } = state;
    expect(row).to.deep.include({ status, mappings, settings, cursors, rejects, rejectsOverflow, fieldsToResync });
    expect(row!.run?.runId ?? null).to.equal(state.run?.runId ?? null);
    expect(row!.lastRun?.runId ?? null).to.equal(state.lastRun?.runId ?? null);
  }

  it('lists a connected integration with its grant and who connected it (never the credentials), for its organization only', async () => {
    const org = randomUUID();
    const salesforce = integrationFacts(org);
    const hubspot = integrationFacts(org, { provider: 'hubspot', minutes: 2 });
    const scenario = spec.given(salesforce.connected, hubspot.connected);
    await scenario.then(rows(org), [
      connectedRow(salesforce),
      connectedRow(hubspot, { connectedAt: new Date(at(2)), updatedAt: new Date(at(2)), instanceUrl: null }),
    ]);
    await scenario.then(rows(randomUUID()), []);
    const stored = JSON.stringify(await scenario.rows(rowsOf(IntegrationViewSchema, { tenant: org })));
    expect(stored).not.to.contain('sealed:v1');
  });

  it('follows a run from its start through checkpoints to completion, in the row and in the run history', async () => {
    const org = randomUUID();
    const crm = integrationFacts(org);
    const cursorIn = { stamp: at(10), lastId: '003A' };
    const cursorOut = { stamp: at(11), lastId: 'c-9' };
    const started = crm.start('run-1', 5);
    const first = crm.checkpoint('run-1', 6, syncCounts({ read: 100, created: 90 }), { in: cursorIn });
    const second = crm.checkpoint('run-1', 7, syncCounts({ read: 200, created: 180, updated: 3 }), { in: cursorIn, out: cursorOut });
    const completed = crm.complete('run-1', 8, syncCounts({ read: 250, created: 200, updated: 5, conflicts: 1 }), { in: cursorIn, out: cursorOut });

    const inProgress = crm.connected.length + started.length + first.length + second.length - 1;
    const midway = connectedRow(crm, {
      run: {
        runId: 'run-1',
        kind: 'initial',
        direction: 'both',
        resumed: false,
        fields: null,
        startedAt: at(5),
        counts: syncCounts({ read: 200, created: 180, updated: 3 }),
        cursors: { in: cursorIn, out: cursorOut },
        checkpointedAt: new Date(at(7)).toISOString(),
        resyncCovered: [],
      },
      updatedAt: new Date(at(7)),
      revision: inProgress,
    });
    const runRow: IntegrationSyncRunView = {
      integrationId: crm.id,
      runId: 'run-1',
      organizationId: org,
      kind: 'initial',
      direction: 'both',
      resumed: false,
      fields: null,
      from: {},
      status: 'running',
      counts: syncCounts({ read: 200, created: 180, updated: 3 }),
      cursors: { in: cursorIn, out: cursorOut },
      checkpoints: 2,
      reason: null,
      retryable: null,
      startedAt: new Date(at(5)),
      checkpointedAt: new Date(at(7)),
      finishedAt: null,
    };
    await spec.given(crm.connected, started, first, second).then(rows(org), [midway]);
    await spec.given(crm.connected, started, first, second).then(runs(org), [runRow]);

    const done = connectedRow(crm, {
      lastRun: {
        runId: 'run-1',
        kind: 'initial',
        direction: 'both',
        outcome: 'completed',
        reason: null,
        retryable: null,
        counts: syncCounts({ read: 250, created: 200, updated: 5, conflicts: 1 }),
        startedAt: at(5),
        finishedAt: at(8),
      },
      lastSyncAt: new Date(at(8)),
      lastSyncOutcome: 'completed',
      cursors: { in: cursorIn, out: cursorOut },
      updatedAt: new Date(at(8)),
      revision: inProgress + 1,
    });
    const finished = {
      ...runRow,
      status: 'completed' as const,
      counts: syncCounts({ read: 250, created: 200, updated: 5, conflicts: 1 }),
      finishedAt: new Date(at(8)),
    };
    const all = [crm.connected, started, first, second, completed];
    await spec.given(...all).then(rows(org), [done]);
    await spec.given(...all).then(runs(org), [finished]);
    // Batch boundaries anywhere, a restart between the start and the rest, two projector processes: the same rows.
    await spec
      .given(...all)
      .inBatchesOf(1)
      .then(rows(org), [done]);
    await spec.given(crm.connected, started).when(first, second, completed).then(runs(org), [finished]);
    await spec
      .given(...all)
      .byRunners(2)
      .then(rows(org), [done]);
  });

  it('records a failed run with its reason and last counts; a grant failure stops the run and shows why', async () => {
    const org = randomUUID();
    const crm = integrationFacts(org);
    const facts = [
      crm.connected,
      crm.start('run-1', 5),
      crm.checkpoint('run-1', 6, syncCounts({ read: 40 }), { in: { stamp: at(6), lastId: 'a' } }),
      crm.fail('run-1', 7, 'REQUEST_LIMIT_EXCEEDED: daily API quota used up', true),
      crm.start('run-2', 20, 'initial'),
      crm.grantFailure('invalid_grant: refresh token revoked', 21),
    ];
    const [row] = await spec.given(...facts).rows(rows(org));
    expect(row).to.deep.include({
      status: 'needs_reconnect',
      run: null,
      lastSyncOutcome: 'failed',
      lastSyncError: 'grant_failure',
      lastSyncAt: new Date(at(21)),
    });
    expect(row!.grantFailure).to.deep.equal({ reason: 'invalid_grant: refresh token revoked', revoked: true, at: at(21) });
    expect(row!.lastRun).to.deep.include({ runId: 'run-2', outcome: 'failed', reason: 'grant_failure', retryable: true, counts: null });
    const history = await spec.given(...facts).rows(runs(org));
    expect(history.map((run) => [run.runId, run.status, run.reason, run.retryable, run.counts?.read ?? null])).to.deep.equal([
      ['run-1', 'failed', 'REQUEST_LIMIT_EXCEEDED: daily API quota used up', true, 40],
      ['run-2', 'failed', 'grant_failure', true, null],
    ]);
    // The second run resumed the first's checkpoint (same kind and direction).
    expect(history[1]).to.deep.include({ resumed: true, from: { in: { stamp: at(6), lastId: 'a' } } });
    expectAsDecided(row, crm);
  });

  it('keeps the open rejects as the decider does (latest reason, a cap, overflow counted) and drops resolved ones', async () => {
    const org = randomUUID();
    const crm = integrationFacts(org);
    const reject = (n: number, reason = 'INVALID_EMAIL_ADDRESS'): SyncReject => ({ direction: 'out', externalId: null, contactId: `c-${n}`, reason });
    const many = Array.from({ length: MAX_OPEN_REJECTS }, (_, n) => reject(n));
    const facts = [
      crm.connected,
      crm.start('run-1', 5),
      crm.reject(many, 6, 'run-1'),
      crm.reject([reject(0, 'FIELD_CUSTOM_VALIDATION_EXCEPTION'), reject(MAX_OPEN_REJECTS), reject(MAX_OPEN_REJECTS + 1)], 7, 'run-1'),
      crm.complete('run-1', 8, syncCounts({ rejected: 1_002 })),
      crm.decide('ResolveRejects', { refs: [{ direction: 'out', externalId: null, contactId: 'c-1' }] }, 9),
    ];
    const [row] = await spec.given(...facts).rows(rows(org));
    expect(row!.rejects).to.have.length(MAX_OPEN_REJECTS - 1);
    expect(row!.rejects[0]).to.deep.equal(reject(0, 'FIELD_CUSTOM_VALIDATION_EXCEPTION'));
    expect(row!.rejects[1]).to.deep.equal(reject(2));
    expect(row).to.deep.include({ rejectsOverflow: 2, openRejects: MAX_OPEN_REJECTS + 1 });
    expectAsDecided(row, crm);

    // A clean full run resolves every reject of its sides, the overflow too.
    const clean = [...facts, crm.start('run-2', 10, 'forced'), crm.complete('run-2', 11, syncCounts({ read: 5 }))];
    const [after] = await spec.given(...clean).rows(rows(org));
    expect(after).to.deep.include({ rejects: [], rejectsOverflow: 0, openRejects: 0 });
    expectAsDecided(after, crm);
  });

  it('shows mappings, the fields waiting for a re-sync until a full run covers them, settings, webhooks and the disconnection', async () => {
    const org = randomUUID();
    const crm = integrationFacts(org);
    const email = { ours: 'email', theirs: 'Email', direction: 'both' as const };
    const company = { ours: 'company', theirs: 'Account_Name__c', direction: 'in' as const, transform: { kind: 'trim' as const } };
    const facts = [
      crm.connected,
      crm.map([email, company], 2),
      crm.decide('SetSyncSettings', { settings: { pollIntervalMinutes: 30, deletePolicy: 'archive' } }, 3),
      crm.webhook(['003A', '003B'], 4),
    ];
    const [mapped] = await spec.given(...facts).rows(rows(org));
    expect(mapped!.mappings).to.deep.equal([email, company]);
    // email was mapped so already (the standard fields an integration starts with): only company waits.
    expect(mapped!.fieldsToResync).to.deep.equal(['company']);
    expect(mapped!.settings).to.deep.equal({ ...defaultSyncSettings, pollIntervalMinutes: 30, deletePolicy: 'archive' });
    expect(mapped!.lastWebhookAt).to.deep.equal(new Date(at(4)));

    // A forced run on one field covers it; a mapping change during a run is not covered by it.
    const later = [
      ...facts,
      crm.start('run-1', 5, 'forced', 'both'),
      crm.map([email, { ...company, theirs: 'Company' }], 6),
      crm.complete('run-1', 7, syncCounts()),
    ];
    const [resynced] = await spec.given(...later).rows(rows(org));
    expect(resynced!.fieldsToResync).to.deep.equal(['company']);
    expectAsDecided(resynced, crm);

    const gone = [...later, crm.start('run-2', 8, 'incremental'), crm.disconnect(9)];
    const [disconnected] = await spec.given(...gone).rows(rows(org));
    expect(disconnected).to.deep.include({ status: 'disconnected', disconnectedAt: new Date(at(9)), run: null, lastSyncError: 'disconnected' });
    expectAsDecided(disconnected, crm);
  });

  it('parks a second connection of the same integration and events of one it never saw, and goes on', async () => {
    const org = randomUUID();
    const crm = integrationFacts(org);
    const copy = fact(`${crm.connected[0]!.streamId}-copy`, crm.connected[0]!.event, { tenantId: org });
    const stranger = integrationFacts(org);
    // Its connection never reached the log.
    const strangerWebhook = fact(`integration-${stranger.id}`, stranger.webhook(['x'], 3)[0]!.event, { tenantId: org });
    const scenario = spec.given(crm.connected, copy, strangerWebhook, crm.webhook(['003A'], 4));
    await scenario.thenParked([
      { eventType: 'IntegrationConnected', error: /already exists/ },
      { eventType: 'IntegrationWebhookReceived', error: /is not in the read model/ },
    ]);
    await scenario.then(rows(org), [connectedRow(crm, { lastWebhookAt: new Date(at(4)), updatedAt: new Date(at(4)), revision: 1 })]);
  });
});
