import type pg from 'pg';
import type { CommandHandler } from '../../../command-api/command-handling.ts';
import { pickContactFields } from '../../../domain/contacts/fields.ts';
import { integrationDecider, integrationStream } from '../../../domain/integrations/integration.ts';
import { defaultMappings, isProviderId, providers } from '../../../domain/integrations/providers.ts';
import { reconcile } from '../../../domain/integrations/reconcile.ts';
import { CrmActionRefused } from '../../../domain/workflows/steps/crm-action.ts';
import type { StepPorts } from '../../../domain/workflows/steps/step-type.ts';
import { CrmError, type CrmValue } from '../ports.ts';
import type { IntegrationAccess } from './integration-sync.ts';
import type { SyncStore } from './sync-store.ts';

/**
 * The `crm_action` workflow step through the organization's connected integration of the step's provider:
 * upsert the contact (its mapped fields, plus the step's own provider fields), log an activity on it, or
 * create a deal for it. The contact is linked to its CRM record as the sync links it, so the sync and the
 * step never make two records of one person. Activities and deals are idempotent by the step's key (the
 * adapters find what an earlier attempt made); without a connected integration the step is refused, not
 * retried.
 */
export function crmStepPort(deps: { pool: pg.Pool; handler: CommandHandler; store: SyncStore; access: IntegrationAccess }): StepPorts['crm'] {
  return {
    async perform({ organizationId, provider, action, contact, fields, idempotencyKey }) {
      if (!isProviderId(provider)) throw new CrmActionRefused(`${provider} is not a CRM NexusFlow connects to`, 'crm_unknown_provider');
      const { rows } = await deps.pool.query<{ integration_id: string }>(
        `SELECT integration_id FROM crm_sync_integrations WHERE organization_id = $1 AND provider = $2 AND status = 'connected'`,
        [organizationId, provider],
      );
      const name = providers[provider].displayName;
      if (!rows[0])
        throw new CrmActionRefused(`No connected ${name} integration: connect ${name} under Settings → Integrations`, 'crm_not_connected');
      const integrationId = rows[0].integration_id;
      const { state } = await deps.handler.load(integrationStream(integrationId), integrationDecider);
      if (state.status !== 'connected' || state.organizationId !== organizationId)
        throw new CrmActionRefused(`The ${name} integration needs a reconnect before workflows can use it`, 'crm_not_connected');
      try {
        const client = deps.access.providerOf(state).client;
        const connection = await deps.access.connectionFor(state);
        const link = (await deps.store.linksByContactId(integrationId, [contact.id])).get(contact.id) ?? null;
        const extra = Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, value as CrmValue]));

        let externalId = link?.externalId ?? null;
        if (action === 'upsert_contact' || externalId === null) {
          const mappings = state.mappings.length > 0 ? state.mappings : defaultMappings(state.provider);
          const mapped = reconcile({
            mappings,
            defaultPolicy: state.settings.conflictPolicy,
            direction: 'out',
            ours: { fields: pickContactFields(contact), changedAt: null, revision: null },
            theirs: null,
            link: null,
          });
          const [result] = await client.writeContacts(connection, [
            { externalId, fields: { ...mapped.theirChanges, ...(action === 'upsert_contact' ? extra : {}) } },
          ]);
          if (!result || !result.ok) throw new CrmActionRefused(`${name} refused the contact: ${result?.reason ?? 'no answer'}`, 'crm_rejected');
          externalId = result.externalId;
          if (!link)
            await deps.store.saveLinks(integrationId, [
              { externalId, contactId: contact.id, base: mapped.base, ledger: { in: {}, out: {} }, providerModifiedAt: new Date(result.modifiedAt) },
            ]);
          if (action === 'upsert_contact') return { reference: externalId };
        }
        const text = (key: string) => (typeof fields[key] === 'string' ? (fields[key] as string) : null);
        const number = (key: string) => (typeof fields[key] === 'number' ? (fields[key] as number) : null);
        if (action === 'log_activity') {
          return await client.logActivity(connection, {
            contactExternalId: externalId,
            subject: text('subject') ?? 'NexusFlow workflow step',
            body: text('body') ?? text('note') ?? '',
            idempotencyKey,
          });
        }
        if (action === 'create_deal') {
          const who = [contact.firstName, contact.lastName].filter(Boolean).join(' ') || contact.email;
          return await client.createDeal(connection, {
            contactExternalId: externalId,
            name: text('name') ?? text('title') ?? `Deal with ${who}`,
            amount: number('amount'),
            stage: text('stage'),
            idempotencyKey,
          });
        }
        throw new CrmActionRefused(`Unknown CRM action ${action}`, 'crm_unknown_action');
      } catch (err) {
        if (err instanceof CrmError && !err.retryable) throw new CrmActionRefused(`${name}: ${err.message}`, 'crm_refused');
        throw err;
      }
    },
  };
}
