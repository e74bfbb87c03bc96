import { expect } from 'chai';
import { applyTransform, diffMappings, MAX_MAPPINGS, validateMappings, type DescribedField, type FieldMapping } from './mappings.ts';

const described: DescribedField[] = [
  { name: 'Email', type: 'email', updateable: true },
  { name: 'FirstName', type: 'string', updateable: true },
  { name: 'LastName', type: 'string', updateable: true },
  { name: 'Title', type: 'string', updateable: true },
  { name: 'CreatedDate', type: 'datetime', updateable: false },
  { name: 'Birthdate', type: 'date', updateable: true },
  { name: 'NumberOfEmployees', type: 'number', updateable: true },
  { name: 'LeadSource', type: 'picklist', updateable: true, picklistValues: ['Web', 'Partner', 'Other'] },
];

const valid: FieldMapping[] = [
  { ours: 'email', theirs: 'Email', direction: 'both', transform: { kind: 'lower' }, conflictPolicy: 'theirs' },
  { ours: 'firstName', theirs: 'FirstName', direction: 'both', transform: { kind: 'trim' } },
  { ours: 'customFields.signedUp', theirs: 'CreatedDate', direction: 'in', transform: { kind: 'date', format: 'iso-datetime' } },
  { ours: 'customFields.birthday', theirs: 'Birthdate', direction: 'out', transform: { kind: 'date', format: 'iso-date' } },
  { ours: 'customFields.headcount', theirs: 'NumberOfEmployees', direction: 'both' },
  {
    ours: 'customFields.source',
    theirs: 'LeadSource',
    direction: 'both',
    transform: { kind: 'picklist', values: { web: 'Web', partner: 'Partner' } },
  },
];

const names = (mappings: FieldMapping[]) => validateMappings(mappings, described).map((p) => `${p.name} ${p.code}`);

describe('Field mappings', () => {
  describe('validateMappings', () => {
    it('accepts a sound list', () => {
      expect(validateMappings(valid, described)).to.deep.equal([]);
    });

    it('names an unknown field on either side', () => {
      expect(names([{ ours: 'nickname', theirs: 'Nick__c', direction: 'in' }])).to.deep.equal([
        'mappings[0].ours unknown_field',
        'mappings[0].theirs unknown_provider_field',
      ]);
      expect(names([{ ours: 'customFields.9bad', theirs: 'Title', direction: 'in' }])).to.deep.equal(['mappings[0].ours unknown_field']);
      expect(names([{ ours: 'customFields', theirs: 'Title', direction: 'in' }])).to.deep.equal(['mappings[0].ours unknown_field']);
    });

    it('refuses two writers of one field on our side, or on theirs', () => {
      expect(
        names([
          { ours: 'title', theirs: 'Title', direction: 'in' },
          { ours: 'title', theirs: 'LastName', direction: 'both' },
        ]),
      ).to.deep.equal(['mappings[1].ours duplicate_writer']);
      expect(
        names([
          { ours: 'firstName', theirs: 'Title', direction: 'out' },
          { ours: 'lastName', theirs: 'Title', direction: 'both' },
        ]),
      ).to.deep.equal(['mappings[1].theirs duplicate_writer']);
      // One field read into two of ours, and ours sent to two of theirs: no clash.
      expect(
        names([
          { ours: 'title', theirs: 'Title', direction: 'in' },
          { ours: 'customFields.role', theirs: 'Title', direction: 'in' },
          { ours: 'lastName', theirs: 'LastName', direction: 'out' },
          { ours: 'lastName', theirs: 'Title', direction: 'out' },
        ]),
      ).to.deep.equal([]);
    });

    it('refuses writing to a read-only provider field', () => {
      expect(names([{ ours: 'customFields.signedUp', theirs: 'CreatedDate', direction: 'both' }])).to.deep.equal([
        'mappings[0].direction not_updateable',
      ]);
    });

    it('refuses a date transform on a field that holds no date, and a type that cannot hold our field', () => {
      expect(names([{ ours: 'title', theirs: 'Title', direction: 'in', transform: { kind: 'date', format: 'epoch-ms' } }])).to.deep.equal([
        'mappings[0].transform transform_mismatch',
      ]);
      expect(names([{ ours: 'title', theirs: 'NumberOfEmployees', direction: 'in' }])).to.deep.equal(['mappings[0].theirs type_mismatch']);
      expect(names([{ ours: 'customFields.n', theirs: 'NumberOfEmployees', direction: 'in', transform: { kind: 'trim' } }])).to.deep.equal([
        'mappings[0].transform transform_mismatch',
      ]);
    });

    it('refuses picklist values the provider does not have, and values inbound could not read back', () => {
      expect(
        names([{ ours: 'customFields.source', theirs: 'LeadSource', direction: 'out', transform: { kind: 'picklist', values: { web: 'Website' } } }]),
      ).to.deep.equal(['mappings[0].transform.values.web unknown_picklist_value']);
      expect(
        names([
          {
            ours: 'customFields.source',
            theirs: 'LeadSource',
            direction: 'in',
            transform: { kind: 'picklist', values: { web: 'Web', site: 'Web' } },
          },
        ]),
      ).to.deep.equal(['mappings[0].transform.values.site ambiguous_picklist']);
      expect(names([{ ours: 'title', theirs: 'Title', direction: 'in', transform: { kind: 'picklist', values: { a: 'Web' } } }])).to.deep.equal([
        'mappings[0].transform transform_mismatch',
      ]);
    });

    it('applies the text rule to names, the cap on the list, and policies only to two-way mappings', () => {
      expect(names([{ ours: 'title', theirs: 'Ti\u0000tle', direction: 'in' }])).to.include('mappings[0].theirs invalid_text');
      expect(names([{ ours: 'title', theirs: 'Title', direction: 'in', conflictPolicy: 'ours' }])).to.deep.equal([
        'mappings[0].conflictPolicy policy_not_two_way',
      ]);
      const many = Array.from({ length: MAX_MAPPINGS + 1 }, (_, i): FieldMapping => ({
        ours: `customFields.f${i}`,
        theirs: 'Title',
        direction: 'in',
      }));
      expect(names(many)).to.deep.equal(['mappings too_many_mappings']);
    });
  });

  describe('applyTransform', () => {
    it('passes values through without a transform, and null through every transform', () => {
      expect(applyTransform(undefined, 3, 'in')).to.deep.equal({ ok: true, value: 3 });
      expect(applyTransform({ kind: 'date', format: 'epoch-ms' }, null, 'out')).to.deep.equal({ ok: true, value: null });
    });

    it('trims and lowers text, and fails on anything else', () => {
      expect(applyTransform({ kind: 'trim' }, '  Ada ', 'in')).to.deep.equal({ ok: true, value: 'Ada' });
      expect(applyTransform({ kind: 'lower' }, 'Ada@Example.COM', 'out')).to.deep.equal({ ok: true, value: 'ada@example.com' });
      expect(applyTransform({ kind: 'lower' }, 3, 'out')).to.deep.include({ ok: false });
    });

    it('converts dates both ways and reports a bad one as a typed failure', () => {
      const epoch = { kind: 'date', format: 'epoch-ms' } as const;
      expect(applyTransform(epoch, 1714564800000, 'in')).to.deep.equal({ ok: true, value: '2024-05-01T12:00:00.000Z' });
      expect(applyTransform(epoch, '1714564800000', 'in')).to.deep.equal({ ok: true, value: '2024-05-01T12:00:00.000Z' });
      expect(applyTransform(epoch, '2024-05-01T14:00:00+02:00', 'out')).to.deep.equal({ ok: true, value: 1714564800000 });
      expect(applyTransform({ kind: 'date', format: 'iso-date' }, '2024-05-01T23:30:00-02:00', 'out')).to.deep.equal({
        ok: true,
        value: '2024-05-02',
      });
      expect(applyTransform({ kind: 'date', format: 'iso-date' }, '2023-02-29', 'in')).to.deep.include({ ok: false });
      expect(applyTransform({ kind: 'date', format: 'iso-datetime' }, 'next Tuesday', 'in')).to.deep.equal({
        ok: false,
        failure: { code: 'invalid_date', reason: 'expected iso-datetime, got "next Tuesday"' },
      });
      expect(applyTransform(epoch, 1e300, 'in')).to.deep.include({ ok: false });
      expect(applyTransform(epoch, true, 'out')).to.deep.include({ ok: false });
    });

    it('maps picklist values out and back, failing on unmapped ones', () => {
      const picklist = { kind: 'picklist', values: { web: 'Web', partner: 'Partner' } } as const;
      expect(applyTransform(picklist, 'web', 'out')).to.deep.equal({ ok: true, value: 'Web' });
      expect(applyTransform(picklist, 'Partner', 'in')).to.deep.equal({ ok: true, value: 'partner' });
      expect(applyTransform(picklist, 'Other', 'in')).to.deep.include({ ok: false });
      expect(applyTransform(picklist, 'toString', 'out')).to.deep.include({ ok: false });
    });
  });

  describe('diffMappings', () => {
    it('names our fields added, removed and changed, whatever the order', () => {
      const after = (
        [
          { ...valid[1]! },
          { ...valid[0]!, conflictPolicy: 'ours' },
          { ours: 'title', theirs: 'Title', direction: 'in' },
          ...valid.slice(2, 5),
          { ...valid[5]!, transform: { kind: 'picklist', values: { partner: 'Partner', web: 'Web' } } },
        ] satisfies FieldMapping[]
      ).filter((m) => m.ours !== 'customFields.birthday');
      expect(diffMappings(valid, after)).to.deep.equal({ added: ['title'], removed: ['customFields.birthday'], changed: ['email'] });
      expect(diffMappings(valid, [...valid].reverse())).to.deep.equal({ added: [], removed: [], changed: [] });
    });
  });
});
