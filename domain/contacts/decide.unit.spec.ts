import { expect } from 'chai';
import { ConflictError, NotFoundError, RuleViolationError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import type { ContactCreated, ContactEvent, ContactFields } from './contact.ts';
import { contactDecider } from './decide.ts';

const spec = deciderSpec(contactDecider);
const contactId = 'c-1';
const organizationId = 'org-a';
const fields: ContactFields = {
  email: 'ada@example.com',
  firstName: 'Ada',
  lastName: 'Lovelace',
  phone: null,
  company: 'Analytical',
  title: null,
  timezone: 'Europe/London',
  customFields: { tier: 'gold', seats: 3 },
};
const created: ContactCreated = {
  type: 'ContactCreated',
  version: 1,
  data: { contactId, organizationId, ...fields, tags: ['lead'] },
};
const deleted: ContactEvent = { type: 'ContactDeleted', version: 1, data: { contactId, email: fields.email } };

describe('Contact decider', () => {
  describe('CreateContact', () => {
    it('records the contact with its fields and de-duplicated tags', () => {
      spec
        .given()
        .when({ type: 'CreateContact', data: { contactId, organizationId, fields, tags: ['lead', 'vip', 'lead'] } })
        .then([{ ...created, data: { ...created.data, tags: ['lead', 'vip'] } }]);
    });

    it('refuses to create a contact whose id already exists', () => {
      spec
        .given(created)
        .when({ type: 'CreateContact', data: { contactId, organizationId, fields, tags: [] } })
        .thenError(ConflictError, { code: 'contact_exists' });
    });
  });

  describe('UpdateContact', () => {
    it('records only the fields that change', () => {
      spec
        .given(created)
        .when({
          type: 'UpdateContact',
          data: { contactId, organizationId, changes: { firstName: 'Ada', title: 'Countess', phone: null } },
        })
        .then([{ type: 'ContactUpdated', version: 1, data: { contactId, changes: { title: 'Countess' } } }]);
    });

    it('sets, keeps and removes custom fields (null removes)', () => {
      const given = spec.given(created, {
        type: 'ContactUpdated',
        version: 1,
        data: { contactId, changes: { customFields: { tier: 'platinum', seats: null, beta: true } } },
      });
      const state = given.state();
      expect(state.status === 'active' && state.customFields).to.deep.equal({ tier: 'platinum', beta: true });
      given
        .when({
          type: 'UpdateContact',
          data: { contactId, organizationId, changes: { customFields: { tier: 'platinum', seats: null, beta: false } } },
        })
        .then([{ type: 'ContactUpdated', version: 1, data: { contactId, changes: { customFields: { beta: false } } } }]);
    });

    it("records a CRM sync's conflict decisions before the change they carry out, and keeps them even when nothing changes", () => {
      const conflict = {
        organizationId,
        integrationId: '00000000-0000-4000-8000-0000000000c1',
        contactId,
        externalId: '003000000000001',
        runId: '00000000-0000-4000-8000-0000000000r1',
        field: 'title',
        providerField: 'Title',
        base: 'Engineer',
        ours: { value: 'Lead', changedAt: '2026-01-01T10:00:00.000Z' },
        theirs: { value: 'Countess', modifiedAt: '2026-01-01T11:00:00.000Z' },
        winner: 'theirs' as const,
        reason: 'most_recent_theirs' as const,
      };
      spec
        .given(created)
        .when({ type: 'UpdateContact', data: { contactId, organizationId, changes: { title: 'Countess' }, conflicts: [conflict] } })
        .then([
          { type: 'ContactFieldConflictResolved', version: 1, data: conflict },
          { type: 'ContactUpdated', version: 1, data: { contactId, changes: { title: 'Countess' } } },
        ]);
      spec
        .given(created)
        .when({
          type: 'UpdateContact',
          data: { contactId, organizationId, changes: {}, conflicts: [{ ...conflict, winner: 'ours', reason: 'policy_ours' }] },
        })
        .then([{ type: 'ContactFieldConflictResolved', version: 1, data: { ...conflict, winner: 'ours', reason: 'policy_ours' } }]);
    });

    it('records nothing when nothing changes', () => {
      spec
        .given(created)
        .when({ type: 'UpdateContact', data: { contactId, organizationId, changes: { email: fields.email } } })
        .thenNothing();
    });

    it('answers not found for a missing, deleted or other-tenant contact', () => {
      const update = (org: string) => ({ type: 'UpdateContact', data: { contactId, organizationId: org, changes: { title: 'x' } } }) as const;
      spec.given().when(update(organizationId)).thenError(NotFoundError);
      spec.given(created, deleted).when(update(organizationId)).thenError(NotFoundError);
      spec.given(created).when(update('org-b')).thenError(NotFoundError);
    });
  });

  describe('ChangeContactTags', () => {
    it('tags and untags, skipping tags already in the wanted state', () => {
      spec
        .given(created)
        .when({ type: 'ChangeContactTags', data: { contactId, organizationId, add: ['vip', 'lead', 'vip'], remove: ['cold'] } })
        .then([{ type: 'ContactTagged', version: 1, data: { contactId, tag: 'vip' } }]);
      spec
        .given(created)
        .when({ type: 'ChangeContactTags', data: { contactId, organizationId, add: [], remove: ['lead', 'cold'] } })
        .then([{ type: 'ContactUntagged', version: 1, data: { contactId, tag: 'lead' } }]);
    });

    it('refuses a tag that is both added and removed', () => {
      spec
        .given(created)
        .when({ type: 'ChangeContactTags', data: { contactId, organizationId, add: ['vip'], remove: ['vip'] } })
        .thenError(RuleViolationError, { field: 'remove' });
    });

    it('folds tag events into the current tag list', () => {
      const state = spec
        .given(
          created,
          { type: 'ContactTagged', version: 1, data: { contactId, tag: 'vip' } },
          { type: 'ContactUntagged', version: 1, data: { contactId, tag: 'lead' } },
        )
        .state();
      expect(state.status === 'active' && state.tags).to.deep.equal(['vip']);
    });

    it('refuses another tenant', () => {
      spec
        .given(created)
        .when({ type: 'ChangeContactTags', data: { contactId, organizationId: 'org-b', add: ['x'], remove: [] } })
        .thenError(NotFoundError);
    });
  });

  describe('DeleteContact', () => {
    it('records the deletion with the email it frees', () => {
      spec.given(created).when({ type: 'DeleteContact', data: { contactId, organizationId } }).then([deleted]);
    });

    it('cannot delete twice', () => {
      spec.given(created, deleted).when({ type: 'DeleteContact', data: { contactId, organizationId } }).thenError(NotFoundError);
    });
  });
});
