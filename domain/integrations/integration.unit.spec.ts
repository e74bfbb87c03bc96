import { expect } from 'chai';
import { ConflictError, NotFoundError, RuleViolationError, ValidationError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import {
  defaultSyncSettings,
  integrationDecider,
  MAX_OPEN_REJECTS,
  type IntegrationConnected,
  type IntegrationEvent,
  type SyncCounts,
  type SyncStarted,
} from './integration.ts';

const spec = deciderSpec(integrationDecider);
const ids = { organizationId: 'org-a', integrationId: 'i-1' };
const grant = {
  accountId: '00D5e000000abcd',
  accountLabel: 'Acme (ada@acme.test)',
  instanceUrl: 'https://acme.my.salesforce.com',
  grantedScopes: ['api', 'refresh_token'],
  tokenExpiresAt: '2024-05-01T13:00:00Z',
  credentialsRef: 'sealed:v1:i-1',
};
const connected: IntegrationConnected = {
  type: 'IntegrationConnected',
  version: 1,
  data: { ...ids, provider: 'salesforce', settings: defaultSyncSettings, ...grant },
};
const needsReconnect: IntegrationEvent = { type: 'IntegrationNeedsReconnect', version: 1, data: { ...ids, reason: 'invalid_grant', revoked: true } };
const disconnected: IntegrationEvent = {
  type: 'IntegrationDisconnected',
  version: 1,
  data: { ...ids, provider: 'salesforce', credentialsRef: grant.credentialsRef },
};
const counts: SyncCounts = { read: 10, created: 2, updated: 3, skipped: 5, rejected: 0, conflicts: 1 };
const started = (over: Partial<SyncStarted['data']> = {}): SyncStarted => ({
  type: 'SyncStarted',
  version: 1,
  data: { ...ids, runId: 'r-1', kind: 'initial', direction: 'both', from: {}, resumed: false, fields: null, ...over },
});
const cursorIn = { stamp: '2024-05-01T12:00:00Z', lastId: '003A' };
const cursorOut = { stamp: '2024-05-01T12:05:00Z', lastId: 'c-9' };

describe('Integration decider', () => {
  describe('connecting', () => {
    it('records the grant with a reference to the sealed credentials and default settings', () => {
      spec
        .given()
        .when({ type: 'Connect', data: { ...ids, provider: 'salesforce', ...grant, grantedScopes: ['api', 'refresh_token', 'api'] } })
        .then([connected]);
    });

    it('refuses a second connect, a connect after disconnecting, and bad grants naming the field', () => {
      const connect = (over: object = {}) => ({ type: 'Connect' as const, data: { ...ids, provider: 'salesforce' as const, ...grant, ...over } });
      spec.given(connected).when(connect()).thenError(ConflictError, { code: 'integration_exists' });
      spec.given(connected, disconnected).when(connect()).thenError(ConflictError, { code: 'integration_disconnected' });
      spec
        .given()
        .when(connect({ instanceUrl: 'http://acme.my.salesforce.com' }))
        .thenError(RuleViolationError, { field: 'instanceUrl' });
      spec
        .given()
        .when(connect({ instanceUrl: 'http://10.0.0.5:8443' }))
        .thenError(RuleViolationError, { code: 'invalid_instance_url' });
      spec
        .given()
        .when(connect({ instanceUrl: null }))
        .thenError(RuleViolationError, { code: 'instance_url_required' });
      spec
        .given()
        .when({ type: 'Connect', data: { ...ids, provider: 'hubspot', ...grant } })
        .thenError(RuleViolationError, { code: 'unexpected_instance_url' });
      spec
        .given()
        .when(connect({ accountLabel: 'Acme\u0000' }))
        .thenError(RuleViolationError, { code: 'invalid_text', field: 'accountLabel' });
      spec
        .given()
        .when(connect({ tokenExpiresAt: 'in an hour' }))
        .thenError(RuleViolationError, { field: 'tokenExpiresAt' });
      spec
        .given()
        .when(connect({ credentialsRef: '{"access_token":"x"}' }))
        .thenError(RuleViolationError, { field: 'credentialsRef' });
      spec
        .given()
        .when(connect({ provider: 'dynamics' }))
        .thenError(RuleViolationError, { code: 'unknown_provider' });
    });

    it("answers not found for another organization's integration", () => {
      spec
        .given(connected)
        .when({ type: 'RefreshTokens', data: { ...ids, organizationId: 'org-b', tokenExpiresAt: '2024-05-01T14:00:00Z' } })
        .thenError(NotFoundError);
    });
  });

  describe('tokens and grant failures', () => {
    it('records a refresh (with rotated credentials), and nothing when nothing changed', () => {
      spec
        .given(connected)
        .when({ type: 'RefreshTokens', data: { ...ids, tokenExpiresAt: '2024-05-01T14:00:00Z', credentialsRef: 'sealed:v1:i-1:2' } })
        .then([
          {
            type: 'IntegrationTokensRefreshed',
            version: 1,
            data: { ...ids, tokenExpiresAt: '2024-05-01T14:00:00Z', credentialsRef: 'sealed:v1:i-1:2' },
          },
        ]);
      spec
        .given(connected)
        .when({ type: 'RefreshTokens', data: { ...ids, tokenExpiresAt: grant.tokenExpiresAt } })
        .thenNothing();
    });

    it('a grant failure stops syncing: the run in progress fails (retryable), then no sync starts until a reconnect', () => {
      spec
        .given(connected, started())
        .when({ type: 'ReportGrantFailure', data: { ...ids, reason: 'invalid_grant', revoked: true } })
        .then([{ type: 'SyncFailed', version: 1, data: { ...ids, runId: 'r-1', reason: 'grant_failure', retryable: true } }, needsReconnect]);
      spec
        .given(connected, needsReconnect)
        .when({ type: 'ReportGrantFailure', data: { ...ids, reason: 'again', revoked: false } })
        .thenNothing();
      spec
        .given(connected, needsReconnect)
        .when({ type: 'StartSync', data: { ...ids, runId: 'r-2', kind: 'incremental', direction: 'both' } })
        .thenError(ConflictError, { code: 'needs_reconnect' });
    });

    it('reconnects the same account back to connected, refusing another account', () => {
      const reconnected = { ...grant, grantedScopes: ['api'], tokenExpiresAt: '2024-05-02T13:00:00Z', credentialsRef: 'sealed:v1:i-1:3' };
      const given = spec.given(connected, needsReconnect);
      given
        .when({ type: 'Reconnect', data: { ...ids, ...reconnected } })
        .then([{ type: 'IntegrationReconnected', version: 1, data: { ...ids, ...reconnected } }]);
      given
        .when({ type: 'Reconnect', data: { ...ids, ...reconnected, accountId: '00DOTHER' } })
        .thenError(ConflictError, { code: 'account_mismatch' });
      const state = spec.given(connected, needsReconnect, { type: 'IntegrationReconnected', version: 1, data: { ...ids, ...reconnected } }).state();
      expect(state).to.include({ status: 'connected', grantFailure: null, credentialsRef: 'sealed:v1:i-1:3' });
    });
  });

  describe('disconnecting', () => {
    it('fails the run in progress, records the credentials to destroy, and refuses later commands', () => {
      spec
        .given(connected, started())
        .when({ type: 'Disconnect', data: ids })
        .then([{ type: 'SyncFailed', version: 1, data: { ...ids, runId: 'r-1', reason: 'disconnected', retryable: false } }, disconnected]);
      spec.given(connected, disconnected).when({ type: 'Disconnect', data: ids }).thenNothing();
      spec
        .given(connected, disconnected)
        .when({ type: 'SetMappings', data: { ...ids, mappings: [] } })
        .thenError(ConflictError, { code: 'integration_disconnected' });
      spec
        .given(connected, disconnected)
        .when({ type: 'StartSync', data: { ...ids, runId: 'r-2', kind: 'initial', direction: 'both' } })
        .thenError(ConflictError, { code: 'integration_disconnected' });
    });
  });

  describe('mappings and settings', () => {
    const email = { ours: 'email', theirs: 'Email', direction: 'both' as const };
    const title = { ours: 'title', theirs: 'Title', direction: 'in' as const };
    const mapped: IntegrationEvent = {
      type: 'IntegrationMappingsChanged',
      version: 1,
      data: { ...ids, mappings: [email], changedFields: { added: ['email'], removed: [], changed: [] } },
    };

    it('records the list and which of our fields it changes; nothing for the same list', () => {
      spec
        .given(connected, mapped)
        .when({ type: 'SetMappings', data: { ...ids, mappings: [{ ...email, direction: 'out' }, title] } })
        .then([
          {
            type: 'IntegrationMappingsChanged',
            version: 1,
            data: { ...ids, mappings: [{ ...email, direction: 'out' }, title], changedFields: { added: ['title'], removed: [], changed: ['email'] } },
          },
        ]);
      spec
        .given(connected, mapped)
        .when({ type: 'SetMappings', data: { ...ids, mappings: [email] } })
        .thenNothing();
      expect(spec.given(connected, mapped).state()).to.deep.include({ fieldsToResync: ['email'] });
    });

    it('refuses a list with problems, naming each', () => {
      let caught: unknown;
      try {
        integrationDecider.decide(
          { type: 'SetMappings', data: { ...ids, mappings: [email, { ...email, theirs: 'Email2' }] } },
          spec.given(connected).state(),
        );
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(ValidationError);
      expect((caught as ValidationError).invalidParams).to.deep.equal([{ name: 'mappings[1].ours', reason: 'mappings[0] already writes email' }]);
    });

    it('records only settings that change, within bounds', () => {
      spec
        .given(connected)
        .when({ type: 'SetSyncSettings', data: { ...ids, settings: { pollIntervalMinutes: 60, direction: 'both', deletePolicy: 'archive' } } })
        .then([
          { type: 'IntegrationSyncSettingsChanged', version: 1, data: { ...ids, changes: { deletePolicy: 'archive', pollIntervalMinutes: 60 } } },
        ]);
      spec
        .given(connected)
        .when({ type: 'SetSyncSettings', data: { ...ids, settings: { pollIntervalMinutes: 4 } } })
        .thenError(RuleViolationError, { field: 'pollIntervalMinutes' });
      spec
        .given(connected)
        .when({ type: 'SetSyncSettings', data: { ...ids, settings: { pollIntervalMinutes: 1_441 } } })
        .thenError(RuleViolationError, { field: 'pollIntervalMinutes' });
      spec
        .given(connected)
        .when({ type: 'SetSyncSettings', data: { ...ids, settings: { dailyApiBudget: 0 } } })
        .thenError(RuleViolationError, { field: 'dailyApiBudget' });
      spec
        .given(connected)
        .when({ type: 'SetSyncSettings', data: { ...ids, settings: { conflictPolicy: 'newest' as never } } })
        .thenError(RuleViolationError, { field: 'conflictPolicy' });
    });
  });

  describe('sync runs', () => {
    const completed: IntegrationEvent = {
      type: 'SyncCompleted',
      version: 1,
      data: { ...ids, runId: 'r-1', kind: 'initial', direction: 'both', cursors: { in: cursorIn, out: cursorOut }, counts },
    };

    it('starts a run; refuses a second one while it runs; the same run again is a resume, not a new run', () => {
      spec
        .given(connected)
        .when({ type: 'StartSync', data: { ...ids, runId: 'r-1', kind: 'initial', direction: 'both' } })
        .then([started()]);
      spec
        .given(connected, started())
        .when({ type: 'StartSync', data: { ...ids, runId: 'r-2', kind: 'incremental', direction: 'in' } })
        .thenError(ConflictError, { code: 'sync_in_progress' });
      spec
        .given(connected, started())
        .when({ type: 'StartSync', data: { ...ids, runId: 'r-1', kind: 'initial', direction: 'both' } })
        .thenNothing();
    });

    it('refuses a run in a direction the settings do not allow', () => {
      spec
        .given(connected, { type: 'IntegrationSyncSettingsChanged', version: 1, data: { ...ids, changes: { direction: 'in' } } })
        .when({ type: 'StartSync', data: { ...ids, runId: 'r-1', kind: 'initial', direction: 'both' } })
        .thenError(RuleViolationError, { code: 'direction_not_allowed' });
    });

    it('checkpoints, completes with the new cursors, and starts the next incremental run from them', () => {
      const checkpointed: IntegrationEvent = {
        type: 'SyncCheckpointed',
        version: 1,
        data: { ...ids, runId: 'r-1', cursors: { in: cursorIn }, counts },
      };
      spec
        .given(connected, started())
        .when({ type: 'RecordSyncProgress', data: { ...ids, runId: 'r-1', cursors: { in: cursorIn }, counts } })
        .then([checkpointed]);
      expect(spec.given(connected, started(), checkpointed).state()).to.deep.include({
        run: {
          runId: 'r-1',
          kind: 'initial',
          direction: 'both',
          from: {},
          fields: null,
          resyncCovered: [],
          checkpoint: { cursors: { in: cursorIn }, counts },
        },
      });
      spec
        .given(connected, started(), checkpointed)
        .when({ type: 'CompleteSync', data: { ...ids, runId: 'r-1', cursors: { out: cursorOut }, counts } })
        .then([completed]);
      spec
        .given(connected, started(), completed)
        .when({ type: 'CompleteSync', data: { ...ids, runId: 'r-1', cursors: {}, counts } })
        .thenNothing();
      spec
        .given(connected, started(), completed)
        .when({ type: 'StartSync', data: { ...ids, runId: 'r-2', kind: 'incremental', direction: 'in' } })
        .then([started({ runId: 'r-2', kind: 'incremental', direction: 'in', from: { in: cursorIn } })]);
    });

    it('refuses progress of a run not in progress, a cursor of a side the run does not sync, and bad counts', () => {
      spec
        .given(connected)
        .when({ type: 'RecordSyncProgress', data: { ...ids, runId: 'r-1', cursors: {}, counts } })
        .thenError(ConflictError, { code: 'run_not_in_progress' });
      spec
        .given(connected, started({ direction: 'in' }))
        .when({ type: 'RecordSyncProgress', data: { ...ids, runId: 'r-1', cursors: { out: cursorOut }, counts } })
        .thenError(RuleViolationError, { field: 'cursors.out' });
      spec
        .given(connected, started())
        .when({ type: 'RecordSyncProgress', data: { ...ids, runId: 'r-1', cursors: { in: { ...cursorIn, stamp: 'later' } }, counts } })
        .thenError(RuleViolationError, { field: 'cursors.in.stamp' });
      spec
        .given(connected, started())
        .when({ type: 'CompleteSync', data: { ...ids, runId: 'r-1', cursors: {}, counts: { ...counts, read: -1 } } })
        .thenError(RuleViolationError, { field: 'counts.read' });
    });

    it('after a retryable failure, the next run of the same kind resumes from the checkpoint', () => {
      const history: IntegrationEvent[] = [
        connected,
        started(),
        { type: 'SyncCheckpointed', version: 1, data: { ...ids, runId: 'r-1', cursors: { in: cursorIn }, counts } },
        { type: 'SyncFailed', version: 1, data: { ...ids, runId: 'r-1', reason: '503 from provider', retryable: true } },
      ];
      spec
        .given(...history)
        .when({ type: 'StartSync', data: { ...ids, runId: 'r-2', kind: 'initial', direction: 'both' } })
        .then([started({ runId: 'r-2', from: { in: cursorIn }, resumed: true })]);
      spec
        .given(...history)
        .when({ type: 'FailSync', data: { ...ids, runId: 'r-1', reason: 'again', retryable: true } })
        .thenNothing();
    });

    it('records a failure reason from the provider as storable text', () => {
      spec
        .given(connected, started())
        .when({ type: 'FailSync', data: { ...ids, runId: 'r-1', reason: 'bad\u0000gateway', retryable: false } })
        .then([{ type: 'SyncFailed', version: 1, data: { ...ids, runId: 'r-1', reason: 'bad\uFFFDgateway', retryable: false } }]);
    });

    it('clears the fields waiting for a re-sync when a forced run covering them completes', () => {
      const mapped: IntegrationEvent = {
        type: 'IntegrationMappingsChanged',
        version: 1,
        data: { ...ids, mappings: [], changedFields: { added: ['title'], removed: [], changed: ['email'] } },
      };
      const forced = started({ kind: 'forced', fields: ['title'] });
      spec
        .given(connected, mapped)
        .when({ type: 'StartSync', data: { ...ids, runId: 'r-1', kind: 'forced', direction: 'both', fields: ['title', 'title'] } })
        .then([forced]);
      const state = spec
        .given(connected, mapped, forced, {
          type: 'SyncCompleted',
          version: 1,
          data: { ...ids, runId: 'r-1', kind: 'forced', direction: 'both', cursors: {}, counts },
        })
        .state();
      expect(state).to.deep.include({ fieldsToResync: ['email'], run: null });
      spec
        .given(connected)
        .when({ type: 'StartSync', data: { ...ids, runId: 'r-1', kind: 'incremental', direction: 'both', fields: ['title'] } })
        .thenError(RuleViolationError, { code: 'fields_not_allowed' });
    });
  });

  describe('rejects', () => {
    const reject = { direction: 'out' as const, externalId: null, contactId: 'c-1', reason: 'REQUIRED_FIELD_MISSING: LastName' };
    const rejected: IntegrationEvent = { type: 'RecordsRejected', version: 1, data: { ...ids, runId: 'r-1', rejects: [reject] } };

    it('records what the provider refused and resolves it later', () => {
      spec
        .given(connected)
        .when({ type: 'RecordRejects', data: { ...ids, runId: 'r-1', rejects: [reject] } })
        .then([rejected]);
      spec
        .given(connected, rejected)
        .when({
          type: 'ResolveRejects',
          data: {
            ...ids,
            refs: [
              { direction: 'out', externalId: null, contactId: 'c-1' },
              { direction: 'in', externalId: 'x', contactId: null },
            ],
          },
        })
        .then([
          {
            type: 'RejectsResolved',
            version: 1,
            data: { ...ids, refs: [{ direction: 'out', externalId: null, contactId: 'c-1' }], overflowCleared: false },
          },
        ]);
      spec
        .given(connected)
        .when({ type: 'ResolveRejects', data: { ...ids, refs: [{ direction: 'out', externalId: null, contactId: 'c-1' }] } })
        .thenNothing();
      spec
        .given(connected)
        .when({ type: 'RecordRejects', data: { ...ids, rejects: [{ ...reject, contactId: null }] } })
        .thenError(RuleViolationError, { field: 'rejects[0].externalId' });
    });

    it('keeps at most the cap open and counts the rest', () => {
      const many = Array.from({ length: MAX_OPEN_REJECTS + 3 }, (_, i) => ({ ...reject, contactId: `c-${i}` }));
      const state = spec
        .given(
          connected,
          { type: 'RecordsRejected', version: 1, data: { ...ids, runId: null, rejects: many.slice(0, 600) } },
          {
            type: 'RecordsRejected',
            version: 1,
            data: { ...ids, runId: null, rejects: [...many.slice(600), reject] },
          },
        )
        .state();
      expect(state.status !== 'absent' && [state.rejects.length, state.rejectsOverflow]).to.deep.equal([MAX_OPEN_REJECTS, 3]);
    });

    it('a clean full run resolves every open reject of its directions', () => {
      spec
        .given(connected, rejected, started())
        .when({ type: 'CompleteSync', data: { ...ids, runId: 'r-1', cursors: {}, counts } })
        .then([
          { type: 'SyncCompleted', version: 1, data: { ...ids, runId: 'r-1', kind: 'initial', direction: 'both', cursors: {}, counts } },
          {
            type: 'RejectsResolved',
            version: 1,
            data: { ...ids, refs: [{ direction: 'out', externalId: null, contactId: 'c-1' }], overflowCleared: false },
          },
        ]);
    });
  });

  it('accepts plain http only to a loopback host (tests and local development; never across a network)', () => {
    const at = (instanceUrl: string) => ({ type: 'Connect' as const, data: { ...ids, provider: 'salesforce' as const, ...grant, instanceUrl } });
    spec
      .given()
      .when(at('http://127.0.0.1:40123/'))
      .then([{ ...connected, data: { ...connected.data, instanceUrl: 'http://127.0.0.1:40123' } }]);
    spec
      .given()
      .when(at('http://[::1]:40123'))
      .then([{ ...connected, data: { ...connected.data, instanceUrl: 'http://[::1]:40123' } }]);
    spec.given().when(at('http://127.0.0.1.example.com')).thenError(RuleViolationError, { code: 'invalid_instance_url' });
  });

  describe('webhooks', () => {
    const receivedAt = '2024-05-01T12:30:00Z';
    const note = (externalIds: string[]) => ({ type: 'NoteWebhook' as const, data: { ...ids, externalIds, receivedAt } });

    it('records the ids a verified delivery names, once each, for the sync to fetch', () => {
      spec
        .given(connected)
        .when(note(['003A', '003B', '003A']))
        .then([
          {
            type: 'IntegrationWebhookReceived',
            version: 1,
            data: { ...ids, provider: 'salesforce', externalIds: ['003A', '003B'], receivedAt },
          },
        ]);
    });

    it('changes nothing of the integration', () => {
      const before = spec.given(connected).state();
      const after = spec
        .given(connected, {
          type: 'IntegrationWebhookReceived',
          version: 1,
          data: { ...ids, provider: 'salesforce', externalIds: ['003A'], receivedAt },
        })
        .state();
      expect(after).to.deep.equal(before);
    });

    it('refuses no ids, too many, a bad id or time, and an integration that is not connected', () => {
      spec.given(connected).when(note([])).thenError(RuleViolationError, { code: 'invalid_external_ids', field: 'externalIds' });
      const many = Array.from({ length: 1_001 }, (_, i) => `id-${i}`);
      spec.given(connected).when(note(many)).thenError(RuleViolationError, { field: 'externalIds' });
      spec
        .given(connected)
        .when(note(['003A', 'bad\u0000']))
        .thenError(RuleViolationError, { field: 'externalIds[1]' });
      spec
        .given(connected)
        .when({ type: 'NoteWebhook', data: { ...ids, externalIds: ['003A'], receivedAt: 'now' } })
        .thenError(RuleViolationError, { field: 'receivedAt' });
      spec
        .given(connected, needsReconnect)
        .when(note(['003A']))
        .thenError(ConflictError, { code: 'needs_reconnect' });
      spec
        .given(connected, disconnected)
        .when(note(['003A']))
        .thenError(ConflictError, { code: 'integration_disconnected' });
      spec
        .given()
        .when(note(['003A']))
        .thenError(NotFoundError);
      spec
        .given(connected)
        .when({ type: 'NoteWebhook', data: { ...ids, organizationId: 'org-b', externalIds: ['003A'], receivedAt } })
        .thenError(NotFoundError);
    });
  });
});
