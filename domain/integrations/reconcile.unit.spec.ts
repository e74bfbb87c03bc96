import { expect } from 'chai';
import { contactFieldsOf } from '../contacts/fields.ts';
import { recordWrite } from './echo.ts';
import type { FieldMapping } from './mappings.ts';
import { emptyLink, newContactFields, reconcile, type OurRecord, type SyncLink } from './reconcile.ts';

const mappings: FieldMapping[] = [
  { ours: 'email', theirs: 'Email', direction: 'both' },
  { ours: 'firstName', theirs: 'FirstName', direction: 'both' },
  { ours: 'company', theirs: 'Account_Name__c', direction: 'in' },
  { ours: 'customFields.score', theirs: 'Score__c', direction: 'out' },
];

const ours = (fields: Partial<ReturnType<typeof contactFieldsOf>>, changedAt = '2026-01-01T10:00:00.000Z', revision = 3): OurRecord => ({
  fields: { ...contactFieldsOf({ email: 'ada@example.com' }), ...fields },
  changedAt,
  revision,
});

/** The link after a sync where both sides held Ada's values. */
function syncedLink(): SyncLink {
  const at = { oursAt: '2026-01-01T09:00:00.000Z', theirsAt: '2026-01-01T09:00:00.000Z' };
  return {
    base: {
      email: { value: 'ada@example.com', ...at },
      firstName: { value: 'Ada', ...at },
      company: { value: 'Engines', ...at },
      'customFields.score': { value: 7, ...at },
    },
    ledger: emptyLink().ledger,
  };
}

describe('Reconciling a contact with its CRM record', () => {
  describe('Given a provider record with no contact of ours', () => {
    it('When reconciled, then our new contact gets the inbound-mapped fields and nothing goes out', () => {
      const result = reconcile({
        mappings,
        defaultPolicy: 'most_recent',
        direction: 'both',
        ours: null,
        theirs: {
          fields: { Email: 'Ada@Example.com', FirstName: 'Ada', Account_Name__c: 'Engines', Score__c: 9 },
          modifiedAt: '2026-01-01T09:00:00Z',
        },
        link: null,
      });
      expect(result.ourChanges).to.deep.equal({ email: 'Ada@Example.com', firstName: 'Ada', company: 'Engines' });
      expect(newContactFields(result)?.email).to.equal('ada@example.com');
      expect(result.theirChanges).to.deep.equal({});
      expect(result.base.firstName!.value).to.equal('Ada');
    });

    it('When its email is not an email, then the field is rejected and no contact can be made', () => {
      const result = reconcile({
        mappings,
        defaultPolicy: 'most_recent',
        direction: 'both',
        ours: null,
        theirs: { fields: { Email: 'not-an-email', FirstName: 'Ada' }, modifiedAt: '2026-01-01T09:00:00Z' },
        link: null,
      });
      expect(newContactFields(result)).to.equal(null);
      expect(result.rejects).to.deep.equal([{ field: 'email', providerField: 'Email', side: 'in', reason: 'not an email address' }]);
    });
  });

  describe('Given a contact of ours with no record', () => {
    it('When reconciled, then every outbound-mapped field goes out, and an in-only one does not', () => {
      const result = reconcile({
        mappings,
        defaultPolicy: 'most_recent',
        direction: 'both',
        ours: ours({ firstName: 'Ada', company: 'Engines', customFields: { score: 7 } }),
        theirs: null,
        link: null,
      });
      expect(result.theirChanges).to.deep.equal({ Email: 'ada@example.com', FirstName: 'Ada', Score__c: 7 });
      expect(result.ourChanges).to.deep.equal({});
    });
  });

  describe('Given a synced pair', () => {
    it('When only the provider changed a field, then it comes in', () => {
      const result = reconcile({
        mappings,
        defaultPolicy: 'most_recent',
        direction: 'both',
        ours: ours({ firstName: 'Ada', company: 'Engines', customFields: { score: 7 } }),
        theirs: {
          fields: { Email: 'ada@example.com', FirstName: 'Augusta', Account_Name__c: 'Engines', Score__c: 7 },
          modifiedAt: '2026-01-02T00:00:00Z',
        },
        link: syncedLink(),
      });
      expect(result.ourChanges).to.deep.equal({ firstName: 'Augusta' });
      expect(result.theirChanges).to.deep.equal({});
      expect(result.conflicts).to.deep.equal([]);
    });

    for (const [policy, winner, expected] of [
      ['ours', 'ours', 'policy_ours'],
      ['theirs', 'theirs', 'policy_theirs'],
      ['most_recent', 'theirs', 'most_recent_theirs'],
    ] as const) {
      it(`When both changed the same field under policy ${policy}, then ${winner} wins and the conflict names both values and why`, () => {
        const result = reconcile({
          mappings,
          defaultPolicy: policy,
          direction: 'both',
          ours: ours({ firstName: 'Adeline', company: 'Engines', customFields: { score: 7 } }, '2026-01-01T10:00:00.000Z'),
          theirs: { fields: { Email: 'ada@example.com', FirstName: 'Augusta', Account_Name__c: 'Engines' }, modifiedAt: '2026-01-01T11:00:00.000Z' },
          link: syncedLink(),
        });
        expect(result.conflicts).to.have.length(1);
        const { decision } = result.conflicts[0]!;
        expect(decision.winner).to.equal(winner);
        expect(decision.reason).to.equal(expected);
        expect(decision.base).to.equal('Ada');
        expect(decision.ours.value).to.equal('Adeline');
        expect(decision.theirs.value).to.equal('Augusta');
        if (winner === 'ours') expect(result.theirChanges).to.deep.equal({ FirstName: 'Adeline' });
        else expect(result.ourChanges).to.deep.equal({ firstName: 'Augusta' });
        expect(result.base.firstName!.value).to.equal(winner === 'ours' ? 'Adeline' : 'Augusta');
      });
    }

    it('When the provider reports our own last write back, then it is an echo: nothing comes in', () => {
      const link = syncedLink();
      link.ledger = recordWrite(link.ledger, 'out', 'firstName', 'Adeline', '2026-01-03T00:00:00.000Z');
      // We pushed "Adeline"; then our contact changed again to "Addy" before the provider's echo arrived.
      const result = reconcile({
        mappings,
        defaultPolicy: 'theirs',
        direction: 'both',
        ours: ours({ firstName: 'Addy', company: 'Engines', customFields: { score: 7 } }),
        theirs: { fields: { Email: 'ada@example.com', FirstName: 'Adeline', Account_Name__c: 'Engines' }, modifiedAt: '2026-01-03T00:00:00.000Z' },
        link: { ...link, base: { ...link.base, firstName: { value: 'Adeline', oursAt: null, theirsAt: null } } },
      });
      expect(result.conflicts).to.deep.equal([]);
      expect(result.ourChanges).to.deep.equal({});
      expect(result.theirChanges).to.deep.equal({ FirstName: 'Addy' });
    });

    it('When a one-way mapping changed on its target side, then the target is not the source: nothing flows back', () => {
      const result = reconcile({
        mappings,
        defaultPolicy: 'most_recent',
        direction: 'both',
        ours: ours({ firstName: 'Ada', company: 'Our Name', customFields: { score: 7 } }),
        theirs: {
          fields: { Email: 'ada@example.com', FirstName: 'Ada', Account_Name__c: 'Engines', Score__c: 1 },
          modifiedAt: '2026-01-02T00:00:00Z',
        },
        link: syncedLink(),
      });
      expect(result.theirChanges).to.deep.equal({});
      expect(result.ourChanges).to.deep.equal({});
    });

    it('When the pass may only read in, then our change waits (the base stays, so a later two-way pass sends it)', () => {
      const result = reconcile({
        mappings,
        defaultPolicy: 'most_recent',
        direction: 'in',
        ours: ours({ firstName: 'Adeline', company: 'Engines', customFields: { score: 7 } }),
        theirs: { fields: { Email: 'ada@example.com', FirstName: 'Ada', Account_Name__c: 'Engines' }, modifiedAt: '2026-01-02T00:00:00Z' },
        link: syncedLink(),
      });
      expect(result.theirChanges).to.deep.equal({});
      expect(result.base.firstName!.value).to.equal('Ada');
    });

    it('When a forced pass names fields, then only those are visited', () => {
      const result = reconcile({
        mappings,
        defaultPolicy: 'most_recent',
        direction: 'both',
        fields: ['company'],
        ours: ours({ firstName: 'Ada' }),
        theirs: {
          fields: { Email: 'ada@example.com', FirstName: 'Augusta', Account_Name__c: 'Difference Engines' },
          modifiedAt: '2026-01-02T00:00:00Z',
        },
        link: syncedLink(),
      });
      expect(result.ourChanges).to.deep.equal({ company: 'Difference Engines' });
    });
  });
});
