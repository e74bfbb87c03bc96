import type { ResourceWithOptions } from 'adminjs';
import { integrationStream } from '../../../domain/integrations/integration.ts';
import { providerIds } from '../../../domain/integrations/providers.ts';
import { IntegrationViewSchema } from '../../../projectors/integrations/integration-view.ts';
import { ReadModelResource, type PropertySpec } from '../read-model-resource.ts';
import { commandAction, detailOnly, enumOf, historyAction, navigation, readOnly, type ConsoleResourceDeps } from './console-actions.ts';

/** What the console shows of an integration: never a credentials reference (the view holds none). */
export const integrationProperties: PropertySpec[] = [
  { path: 'id', type: 'uuid', isId: true },
  { path: 'organizationId', type: 'reference', reference: 'Organization' },
  { path: 'provider', type: 'string' },
  { path: 'status', type: 'string' },
  { path: 'accountLabel', type: 'string' },
  { path: 'accountId', type: 'string' },
  { path: 'instanceUrl', type: 'string' },
  { path: 'lastSyncAt', type: 'datetime' },
  { path: 'lastSyncOutcome', type: 'string' },
  { path: 'lastSyncError', type: 'textarea', isSortable: false },
  { path: 'openRejects', type: 'number' },
  { path: 'grantFailure', type: 'mixed', isSortable: false },
  { path: 'run', type: 'mixed', isSortable: false },
  { path: 'lastRun', type: 'mixed', isSortable: false },
  { path: 'rejects', type: 'mixed', isSortable: false },
  { path: 'rejectsOverflow', type: 'number' },
  { path: 'settings', type: 'mixed', isSortable: false },
  { path: 'lastWebhookAt', type: 'datetime' },
  { path: 'tokenExpiresAt', type: 'datetime' },
  { path: 'connectedAt', type: 'datetime' },
  { path: 'disconnectedAt', type: 'datetime' },
  { path: 'updatedAt', type: 'datetime' },
];

/**
 * Customers' CRM integrations: status, account, last sync, errors and rejected records, read from the
 * integrations read model. Force sync and disconnect are staff commands on the integration's stream (the
 * same decider the API's commands go through); the row changes when the projection applies them.
 */
export function integrationsResource(deps: ConsoleResourceDeps): ResourceWithOptions {
  const { staffConsole } = deps;
  const resource = new ReadModelResource({
    id: 'Integration',
    orm: deps.orm,
    entity: IntegrationViewSchema,
    properties: integrationProperties,
  });
  const settled = (position: string | null) => deps.settle(['integrations'], position);

  return {
    resource,
    options: {
      navigation: navigation.tenants,
      listProperties: ['organizationId', 'provider', 'status', 'accountLabel', 'lastSyncAt', 'lastSyncOutcome', 'lastSyncError', 'openRejects'],
      filterProperties: ['organizationId', 'provider', 'status', 'lastSyncOutcome', 'lastSyncAt', 'connectedAt'],
      properties: {
        provider: enumOf(...providerIds),
        status: enumOf('connected', 'needs_reconnect', 'disconnected'),
        lastSyncOutcome: enumOf('completed', 'failed'),
        grantFailure: detailOnly,
        run: { ...detailOnly, description: 'The run in progress: its kind, direction and counts at the last checkpoint' },
        lastRun: detailOnly,
        rejects: { ...detailOnly, description: 'The open rejects kept (oldest first); rejectsOverflow counts the others' },
        settings: detailOnly,
        instanceUrl: detailOnly,
        accountId: detailOnly,
        tokenExpiresAt: detailOnly,
        updatedAt: detailOnly,
      },
      actions: {
        ...readOnly,
        forceSync: commandAction({
          permission: 'integrations:forceSync',
          icon: 'RefreshCw',
          guard: 'Start a full sync of this integration now? Every mapped field is read and written again.',
          isVisible: (record) => record.status === 'connected' && (record.run === null || record.run === undefined),
          run: async (context, who, record) => {
            const outcome = await staffConsole.forceIntegrationSync(deps.requestOf(context, who), String(record.organizationId), String(record.id));
            await settled(outcome.position);
            return { message: `A forced sync (run ${outcome.runId}) has started` };
          },
        }),
        disconnect: commandAction({
          permission: 'integrations:disconnect',
          icon: 'Slash',
          guard: 'Disconnect this integration? Syncing stops, and the customer must connect the provider again.',
          isVisible: (record) => record.status !== 'disconnected',
          run: async (context, who, record) => {
            const outcome = await staffConsole.disconnectIntegration(deps.requestOf(context, who), String(record.organizationId), String(record.id));
            await settled(outcome.position);
            return { message: `The ${String(record.provider)} integration is disconnected` };
          },
        }),
        history: historyAction(integrationStream),
      },
    },
  };
}
