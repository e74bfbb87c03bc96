import { AssociationTypes } from '@hubspot/api-client';
import { CrmRequestRejected, type ActivityWrite, type DealWrite } from '../../../projectors/integrations/ports.ts';
import type { HubSpotApi, HubSpotApis } from './hubspot-api.ts';

/**
 * The property holding a `crm_action` step's idempotency key on what it creates. HubSpot takes no idempotency
 * header on object creation, so the key is stored on the object and looked up before creating:
 *
 * - deals: a unique-value property (`hasUniqueValue`), read back by `GET /crm/v3/objects/deals/{key}?idProperty=`
 *   (no search-index lag) and enforced by HubSpot itself: a second create with the same key is refused, even in a
 *   race, and we answer the first deal;
 * - tasks (the logged activity: a completed task carries a subject and a body, a note only a body): HubSpot offers
 *   unique-value properties on contacts, companies, deals, tickets and custom objects only, so the key is a plain
 *   property found through the search API. Search is eventually consistent (seconds): a retry within that
 *   window after a create whose answer was lost could log twice. The step's retry backoff is longer than that.
 *
 * The property is created on first use (in the portal's default property group of the object type; needs the
 * schema write scopes asked for in oauth.ts); "already exists" is success.
 */
export const IDEMPOTENCY_PROPERTY = 'nexusflow_idempotency_key';

type Lookup = { found: string } | 'absent' | 'no-property';

export async function logActivityOnce(api: HubSpotApi, apis: HubSpotApis, activity: ActivityWrite): Promise<{ reference: string }> {
  const find = async (): Promise<Lookup> => {
    try {
      const answer = await api.call('task search', () =>
        apis.tasks.searchApi.doSearch({
          filterGroups: [{ filters: [{ propertyName: IDEMPOTENCY_PROPERTY, operator: 'EQ' as never, value: activity.idempotencyKey }] }],
          properties: ['hs_task_subject'],
          limit: 1,
        }),
      );
      const first = answer.results[0];
      return first ? { found: String(first.id) } : 'absent';
    } catch (err) {
      if (err instanceof CrmRequestRejected && err.status === 400) return 'no-property';
      throw err;
    }
  };
  const create = async () => {
    const created = await api.call('task create', () =>
      apis.tasks.basicApi.create({
        properties: {
          hs_task_subject: activity.subject,
          hs_task_body: activity.body,
          hs_task_status: 'COMPLETED',
          hs_task_type: 'TODO',
          hs_timestamp: new Date().toISOString(),
          [IDEMPOTENCY_PROPERTY]: activity.idempotencyKey,
        },
        associations: [toContact(activity.contactExternalId, AssociationTypes.taskToContact)],
      }),
    );
    return String(created.id);
  };
  return { reference: await createOnce(api, apis, 'tasks', false, find, create) };
}

export async function createDealOnce(api: HubSpotApi, apis: HubSpotApis, deal: DealWrite): Promise<{ reference: string }> {
  const find = async (): Promise<Lookup> => {
    try {
      const found = await api.call('deal read by key', () =>
        apis.deals.basicApi.getById(deal.idempotencyKey, ['dealname'], undefined, undefined, false, IDEMPOTENCY_PROPERTY),
      );
      return { found: String(found.id) };
    } catch (err) {
      if (err instanceof CrmRequestRejected && err.status === 404) return 'absent';
      // 400: the key property does not exist yet (or is not a unique one): it is made next.
      if (err instanceof CrmRequestRejected && err.status === 400) return 'no-property';
      throw err;
    }
  };
  const create = async () => {
    const stage = await dealStage(api, apis, deal.stage);
    const created = await api.call('deal create', () =>
      apis.deals.basicApi.create({
        properties: {
          dealname: deal.name,
          pipeline: 'default',
          dealstage: stage,
          ...(deal.amount !== null ? { amount: String(deal.amount) } : {}),
          [IDEMPOTENCY_PROPERTY]: deal.idempotencyKey,
        },
        associations: [toContact(deal.contactExternalId, AssociationTypes.dealToContact)],
      }),
    );
    return String(created.id);
  };
  return { reference: await createOnce(api, apis, 'deals', true, find, create) };
}

/**
 * Find by key, else create (making the key property first when it is missing). A create refused for what it
 * holds (a 4xx: the unique key taken by a concurrent create, most likely) is looked up once more before the
 * refusal is passed on.
 */
async function createOnce(
  api: HubSpotApi,
  apis: HubSpotApis,
  objectType: 'tasks' | 'deals',
  unique: boolean,
  find: () => Promise<Lookup>,
  create: () => Promise<string>,
): Promise<string> {
  const before = await find();
  if (typeof before === 'object') return before.found;
  if (before === 'no-property') await ensureKeyProperty(api, apis, objectType, unique);
  try {
    return await create();
  } catch (err) {
    if (!(err instanceof CrmRequestRejected) || err.status === 403) throw err;
    const after = await find();
    if (typeof after === 'object') return after.found;
    if (after === 'no-property' || /PROPERTY_DOESNT_EXIST/.test(err.message)) {
      await ensureKeyProperty(api, apis, objectType, unique);
      return await create();
    }
    throw err;
  }
}

async function ensureKeyProperty(api: HubSpotApi, apis: HubSpotApis, objectType: 'tasks' | 'deals', unique: boolean): Promise<void> {
  try {
    await api.call(`${objectType} key property`, () =>
      apis.properties.create(objectType, {
        name: IDEMPOTENCY_PROPERTY,
        label: 'NexusFlow idempotency key',
        description: 'Set by NexusFlow workflows so that a retried step creates nothing twice.',
        type: 'string' as never,
        fieldType: 'text' as never,
        groupName: objectType === 'deals' ? 'dealinformation' : 'taskinformation',
        hasUniqueValue: unique,
        formField: false,
      }),
    );
  } catch (err) {
    if (!(err instanceof CrmRequestRejected && err.status === 409)) throw err;
  }
}

/** The stage id for a stage name or id of the default pipeline; null: its first stage. An unknown one is sent as is (HubSpot refuses it). */
async function dealStage(api: HubSpotApi, apis: HubSpotApis, wanted: string | null): Promise<string> {
  const pipeline = await api.call('deal pipeline', () => apis.pipelines.getById('deals', 'default'));
  const stages = [...pipeline.stages].filter((stage) => !stage.archived).sort((a, b) => a.displayOrder - b.displayOrder);
  if (wanted === null) {
    const first = stages[0];
    if (!first) throw new CrmRequestRejected('the default deal pipeline has no stage', 409);
    return first.id;
  }
  const lower = wanted.trim().toLowerCase();
  return stages.find((stage) => stage.id.toLowerCase() === lower || stage.label.trim().toLowerCase() === lower)?.id ?? wanted;
}

function toContact(contactId: string, associationTypeId: number) {
  return { to: { id: contactId }, types: [{ associationCategory: 'HUBSPOT_DEFINED' as never, associationTypeId }] };
}
