import { expect } from 'chai';
import { conflictResolvedEvent, explainConflict, mergeField, type MergeDecision, type MergeInput } from './conflicts.ts';

const base = { value: 'CTO', oursAt: '2024-05-01T10:00:00Z', theirsAt: '2024-05-01T10:00:00Z' };
const input = (over: Partial<MergeInput>): MergeInput => ({
  base,
  ours: { value: 'CTO', changedAt: '2024-05-01T10:00:00Z' },
  theirs: { value: 'CTO', modifiedAt: '2024-05-01T10:00:00Z' },
  policy: 'most_recent',
  ...over,
});
const conflict = (decision: MergeDecision) => (decision.kind === 'conflict' ? { winner: decision.winner, reason: decision.reason } : decision.kind);

describe('Two-way merge of a field', () => {
  it('does nothing when neither side changed, only moves the base when both changed alike', () => {
    expect(mergeField(input({}))).to.deep.equal({ kind: 'unchanged' });
    expect(mergeField(input({ ours: { value: 'CEO', changedAt: null }, theirs: { value: ' CEO', modifiedAt: null } }))).to.deep.equal({
      kind: 'converged',
      value: 'CEO',
    });
  });

  it('takes the side that changed, unless the mapping does not flow that way', () => {
    const ours = { value: 'CEO', changedAt: '2024-05-02T00:00:00Z' };
    const theirs = { value: 'VP', modifiedAt: '2024-05-02T00:00:00Z' };
    expect(mergeField(input({ ours }))).to.deep.equal({ kind: 'take_ours', value: 'CEO' });
    expect(mergeField(input({ theirs }))).to.deep.equal({ kind: 'take_theirs', value: 'VP' });
    expect(mergeField(input({ ours, direction: 'in' }))).to.deep.equal({ kind: 'unchanged' });
    expect(mergeField(input({ theirs, direction: 'out' }))).to.deep.equal({ kind: 'unchanged' });
  });

  it('fills an empty side on the first sync, and treats two different values then as a conflict', () => {
    expect(mergeField(input({ base: null, ours: { value: null, changedAt: null } }))).to.deep.equal({ kind: 'take_theirs', value: 'CTO' });
    expect(mergeField(input({ base: null, theirs: { value: '', modifiedAt: null } }))).to.deep.equal({ kind: 'take_ours', value: 'CTO' });
    expect(conflict(mergeField(input({ base: null, policy: 'ours', theirs: { value: 'VP', modifiedAt: null } })))).to.deep.equal({
      winner: 'ours',
      reason: 'policy_ours',
    });
  });

  describe('given both sides changed since the base', () => {
    const both = (over: Partial<MergeInput>) =>
      input({ ours: { value: 'CEO', changedAt: '2024-05-02T09:00:00Z' }, theirs: { value: 'VP', modifiedAt: '2024-05-02T10:00:00Z' }, ...over });

    it('follows the policy', () => {
      expect(conflict(mergeField(both({ policy: 'ours' })))).to.deep.equal({ winner: 'ours', reason: 'policy_ours' });
      expect(conflict(mergeField(both({ policy: 'theirs' })))).to.deep.equal({ winner: 'theirs', reason: 'policy_theirs' });
    });

    it('most recent: the later stamp wins; a tie goes to the provider', () => {
      expect(conflict(mergeField(both({})))).to.deep.equal({ winner: 'theirs', reason: 'most_recent_theirs' });
      expect(conflict(mergeField(both({ ours: { value: 'CEO', changedAt: '2024-05-02T11:00:00Z' } })))).to.deep.equal({
        winner: 'ours',
        reason: 'most_recent_ours',
      });
      expect(conflict(mergeField(both({ ours: { value: 'CEO', changedAt: '2024-05-02T12:00:00+02:00' } })))).to.deep.equal({
        winner: 'theirs',
        reason: 'most_recent_tie',
      });
      // No usable stamps: both count as stamped when last synced, a tie.
      expect(conflict(mergeField(both({ ours: { value: 'CEO', changedAt: null }, theirs: { value: 'VP', modifiedAt: 'garbage' } })))).to.deep.equal({
        winner: 'theirs',
        reason: 'most_recent_tie',
      });
    });

    it('a one-way mapping lets its source win whatever the policy', () => {
      expect(conflict(mergeField(both({ policy: 'ours', direction: 'in' })))).to.deep.equal({ winner: 'theirs', reason: 'one_way_in' });
      expect(conflict(mergeField(both({ policy: 'theirs', direction: 'out' })))).to.deep.equal({ winner: 'ours', reason: 'one_way_out' });
    });

    it('records both values, the winner and the reason as a storable event', () => {
      const decision = mergeField(both({ theirs: { value: 'V\u0000P', modifiedAt: '2024-05-02T10:00:00Z' } }));
      if (decision.kind !== 'conflict') expect.fail('expected a conflict');
      const context = {
        organizationId: 'org-a',
        integrationId: 'i-1',
        contactId: 'c-1',
        externalId: '003X',
        runId: 'r-1',
        field: 'title',
        providerField: 'Title',
      };
      expect(conflictResolvedEvent(context, decision)).to.deep.equal({
        type: 'ContactFieldConflictResolved',
        version: 1,
        data: {
          ...context,
          base: 'CTO',
          ours: { value: 'CEO', changedAt: '2024-05-02T09:00:00Z' },
          theirs: { value: 'V\uFFFDP', modifiedAt: '2024-05-02T10:00:00Z' },
          winner: 'theirs',
          reason: 'most_recent_theirs',
        },
      });
      expect(explainConflict('most_recent_theirs')).to.equal('most recent: theirs stamped later');
    });
  });
});
