import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { defaultSyncSettings } from '../../domain/integrations/integration.ts';
import { integrationFacts, syncCounts } from '../../test/support/integrations.ts';
import { expectProblem } from '../../test/support/problems.ts';
import { at } from '../../test/support/projection-spec.ts';
import { queryApiSpec, tenant } from '../../test/support/query-api-spec.ts';

/** Run ids as the sync process makes them (UUIDs; the sync's own projection stores them as such). */
const runIds = () => ({ 'run-1': randomUUID(), 'run-2': randomUUID(), 'run-a': randomUUID(), 'run-b': randomUUID(), 'run-c': randomUUID() });

describe('query API: integrations (GET /integrations, /integrations/:id/status, /mappings, /runs)', function () {
  this.timeout(30_000);
  // HubSpot's OAuth app is configured; Salesforce's only half (no secret): it is not offered.
  const api = queryApiSpec({ env: { HUBSPOT_CLIENT_ID: 'hub-app', HUBSPOT_CLIENT_SECRET: 'hub-secret', SALESFORCE_CLIENT_ID: 'sf-app' } });

  const ids = (reply: { body: { data: { id: string }[] } }) => reply.body.data.map((item) => item.id);

  it('lists the integrations newest first with the providers this deployment can connect; never another organization’s', async () => {
    const run = runIds();
    const acme = tenant();
    const globex = tenant('Globex');
    const salesforce = integrationFacts(acme.id, { minutes: 1, connectedBy: { type: 'user', id: acme.owner.userId } });
    const hubspot = integrationFacts(acme.id, { provider: 'hubspot', minutes: 2 });
    const theirs = integrationFacts(globex.id, { provider: 'pipedrive', minutes: 3 });
    await api.given(
      acme.signup,
      globex.signup,
      salesforce.connected,
      salesforce.start(run['run-1'], 4),
      salesforce.complete(run['run-1'], 5, syncCounts({ read: 3, created: 3 })),
      hubspot.connected,
      hubspot.disconnect(6),
      theirs.connected,
    );

    const list = await api.get(acme.owner, '/integrations');
    expect(list.status, JSON.stringify(list.body)).to.equal(200);
    expect(ids(list)).to.deep.equal([hubspot.id, salesforce.id]);
    expect(list.body.data[1]).to.deep.equal({
      id: salesforce.id,
      provider: 'salesforce',
      providerName: 'Salesforce',
      status: 'connected',
      account: { id: salesforce.grant.accountId, label: salesforce.grant.accountLabel },
      instanceUrl: salesforce.grant.instanceUrl,
      grantedScopes: ['api', 'refresh_token'],
      tokenExpiresAt: salesforce.grant.tokenExpiresAt,
      grantFailure: null,
      connectedAt: at(1),
      connectedBy: { type: 'user', id: acme.owner.userId },
      disconnectedAt: null,
      syncing: false,
      lastSync: {
        runId: run['run-1'],
        kind: 'initial',
        direction: 'both',
        outcome: 'completed',
        reason: null,
        retryable: null,
        counts: syncCounts({ read: 3, created: 3 }),
        startedAt: at(4),
        finishedAt: at(5),
      },
      openRejects: 0,
    });
    expect(list.body.data[0]).to.deep.include({ status: 'disconnected', disconnectedAt: at(6), instanceUrl: null });
    expect(list.body.providers).to.deep.equal([
      { id: 'salesforce', displayName: 'Salesforce', beta: false, configured: false },
      { id: 'hubspot', displayName: 'HubSpot', beta: false, configured: true },
      { id: 'pipedrive', displayName: 'Pipedrive', beta: false, configured: false },
      { id: 'zoho', displayName: 'Zoho CRM', beta: true, configured: false },
    ]);
    expect(JSON.stringify(list.body)).not.to.contain('sealed:v1');

    expect(ids(await api.get(acme.owner, '/integrations?status=connected'))).to.deep.equal([salesforce.id]);
    const first = await api.get(acme.owner, '/integrations?limit=1');
    const second = await api.get(acme.owner, `/integrations?limit=1&cursor=${first.body.page.nextCursor}`);
    expect([...ids(first), ...ids(second)]).to.deep.equal([hubspot.id, salesforce.id]);
    expect(second.body.page).to.deep.equal({ limit: 1, hasMore: false, nextCursor: null });
    expect(ids(await api.get(globex.owner, '/integrations'))).to.deep.equal([theirs.id]);
  });

  it('answers the status: the run in progress with its counts, the last sync, errors, rejected records and the next poll', async () => {
    const run = runIds();
    const acme = tenant();
    const crm = integrationFacts(acme.id);
    const cursorIn = { stamp: at(12), lastId: '003A' };
    const reject = { direction: 'out' as const, externalId: null, contactId: randomUUID(), reason: 'INVALID_EMAIL_ADDRESS: bad' };
    await api.given(
      acme.signup,
      crm.connected,
      crm.decide('SetSyncSettings', { settings: { pollIntervalMinutes: 30 } }, 2),
      crm.start(run['run-1'], 10),
      crm.checkpoint(run['run-1'], 11, syncCounts({ read: 50 }), { in: cursorIn }),
      crm.fail(run['run-1'], 12, 'UNABLE_TO_LOCK_ROW', true),
      crm.reject([reject], 13),
      crm.webhook(['003A'], 14),
    );

    const status = await api.get(acme.owner, `/integrations/${crm.id}/status`);
    expect(status.status, JSON.stringify(status.body)).to.equal(200);
    expect(status.body).to.deep.equal({
      id: crm.id,
      provider: 'salesforce',
      status: 'connected',
      grantFailure: null,
      runInProgress: null,
      lastSync: {
        runId: run['run-1'],
        kind: 'initial',
        direction: 'both',
        outcome: 'failed',
        reason: 'UNABLE_TO_LOCK_ROW',
        retryable: true,
        counts: syncCounts({ read: 50 }),
        startedAt: at(10),
        finishedAt: at(12),
      },
      cursors: { in: null, out: null },
      errors: [{ source: 'sync', message: 'UNABLE_TO_LOCK_ROW', at: at(12) }],
      rejects: { open: 1, items: [reject] },
      fieldsToResync: [],
      lastWebhookAt: at(14),
      nextPollDueAt: at(12 + 30),
      settings: { ...defaultSyncSettings, pollIntervalMinutes: 30 },
    });

    // A run in progress (resumed from the failed one's checkpoint), then a refused grant.
    await api.given(crm.start(run['run-2'], 20), crm.checkpoint(run['run-2'], 21, syncCounts({ read: 80, updated: 7 }), { in: cursorIn }));
    const running = await api.get(acme.owner, `/integrations/${crm.id}/status`);
    expect(running.body.runInProgress).to.deep.equal({
      runId: run['run-2'],
      kind: 'initial',
      direction: 'both',
      resumed: true,
      fields: null,
      startedAt: at(20),
      lastCheckpointAt: at(21),
      counts: syncCounts({ read: 80, updated: 7 }),
    });
    expect(running.body.nextPollDueAt).to.equal(null);

    await api.given(crm.grantFailure('invalid_grant: expired access/refresh token', 22));
    const stopped = await api.get(acme.owner, `/integrations/${crm.id}/status`);
    expect(stopped.body).to.deep.include({ status: 'needs_reconnect', runInProgress: null, nextPollDueAt: null });
    expect(stopped.body.errors).to.deep.equal([
      { source: 'grant', message: 'invalid_grant: expired access/refresh token', at: at(22) },
      { source: 'sync', message: 'grant_failure', at: at(22) },
    ]);
  });

  it('answers the mappings and the run history, newest first and paged', async () => {
    const run = runIds();
    const acme = tenant();
    const crm = integrationFacts(acme.id, { provider: 'hubspot' });
    const mappings = [
      { ours: 'email', theirs: 'email', direction: 'both' as const, conflictPolicy: 'theirs' as const },
      { ours: 'company', theirs: 'company', direction: 'in' as const, transform: { kind: 'picklist' as const, values: { ACME: 'Acme Inc' } } },
    ];
    await api.given(
      acme.signup,
      crm.connected,
      crm.map(mappings, 2),
      crm.start(run['run-a'], 3),
      crm.complete(run['run-a'], 4, syncCounts({ read: 1 })),
      crm.start(run['run-b'], 5, 'incremental'),
      crm.fail(run['run-b'], 6, 'HTTP 429: daily limit', false),
      crm.start(run['run-c'], 7, 'forced', 'out'),
      crm.checkpoint(run['run-c'], 8, syncCounts({ read: 9, updated: 9 }), { out: { stamp: at(8), lastId: 'c-1' } }),
    );

    const mapped = await api.get(acme.owner, `/integrations/${crm.id}/mappings`);
    expect(mapped.status).to.equal(200);
    expect(mapped.body).to.deep.equal({
      integrationId: crm.id,
      provider: 'hubspot',
      mappings,
      defaultConflictPolicy: 'most_recent',
      // The initial run visited every field the mapping added.
      fieldsToResync: [],
    });

    const firstPage = await api.get(acme.owner, `/integrations/${crm.id}/runs?limit=2`);
    expect(firstPage.status).to.equal(200);
    expect(firstPage.body.data.map((run: { runId: string; status: string }) => [run.runId, run.status])).to.deep.equal([
      [run['run-c'], 'running'],
      [run['run-b'], 'failed'],
    ]);
    expect(firstPage.body.data[0]).to.deep.include({
      kind: 'forced',
      direction: 'out',
      checkpoints: 1,
      counts: syncCounts({ read: 9, updated: 9 }),
      cursors: { in: null, out: { stamp: at(8), lastId: 'c-1' } },
      lastCheckpointAt: at(8),
      finishedAt: null,
    });
    expect(firstPage.body.data[1]).to.deep.include({ reason: 'HTTP 429: daily limit', retryable: false, finishedAt: at(6) });
    const rest = await api.get(acme.owner, `/integrations/${crm.id}/runs?limit=2&cursor=${firstPage.body.page.nextCursor}`);
    expect(rest.body.data.map((run: { runId: string }) => run.runId)).to.deep.equal([run['run-a']]);
    expect(rest.body.page).to.deep.equal({ limit: 2, hasMore: false, nextCursor: null });
    expectProblem(await api.get(acme.owner, `/integrations/${crm.id}/runs?cursor=%7B%7D`), 400, ['cursor']);
    expectProblem(await api.get(acme.owner, `/integrations/${crm.id}/runs?limit=0`), 400, ['limit']);
  });

  it("answers 404 for another organization's integration, an unknown one and a malformed id, on every route", async () => {
    const run = runIds();
    const acme = tenant();
    const globex = tenant('Globex');
    const theirs = integrationFacts(globex.id);
    await api.given(acme.signup, globex.signup, theirs.connected, theirs.start(run['run-1'], 2));
    for (const id of [theirs.id, randomUUID(), 'not-an-id']) {
      for (const route of ['status', 'mappings', 'runs']) {
        const reply = await api.get(acme.owner, `/integrations/${id}/${route}`);
        expectProblem(reply, 404);
        expect(JSON.stringify(reply.body)).not.to.contain(theirs.grant.accountId);
      }
    }
    expect((await api.get(globex.owner, `/integrations/${theirs.id}/runs`)).body.data).to.have.length(1);
  });

  it('is for owners and admins (integrations:read): members and viewers get 403; documented in /openapi.json', async () => {
    const acme = tenant();
    const admin = acme.member('admin', 1);
    const crm = integrationFacts(acme.id);
    const position = await api.given(acme.signup, admin.facts, crm.connected);

    expect((await api.get(admin.member, '/integrations', { 'X-Min-Position': position })).status).to.equal(200);
    expect((await api.get(admin.member, `/integrations/${crm.id}/status`)).status).to.equal(200);
    for (const role of ['member', 'viewer'] as const) {
      const reader = { ...admin.member, role };
      for (const path of ['/integrations', `/integrations/${crm.id}/status`, `/integrations/${crm.id}/mappings`, `/integrations/${crm.id}/runs`])
        expectProblem(await api.get(reader, path), 403);
    }

    const spec = (await api.http.get('/openapi.json')).body;
    for (const path of ['/integrations', '/integrations/{id}/status', '/integrations/{id}/mappings', '/integrations/{id}/runs']) {
      const operation = spec.paths[path].get;
      expect(operation['x-permission'], path).to.equal('integrations:read');
      expect(operation.responses['200'].content['application/json'].schema, path).to.be.an('object');
      expect(operation.responses['404'] ?? operation.responses['400'], path).to.exist;
    }
  });
});
