import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { fold } from './decider.ts';
import { organizationDecider, type OrganizationEvent } from './organizations/organization.ts';
import { latestVersions, upcast } from './upcasting.ts';

const fixture = JSON.parse(readFileSync(new URL('../test/fixtures/events/organization-v1.json', import.meta.url), 'utf8')) as {
  events: { type: string; version: number; data: Record<string, unknown> }[];
};

describe('Upcasting old event versions', () => {
  it('upgrades a stored OrganizationCreated v1 (no owner email, no trial) to v2, leaving current events as they are', () => {
    const [created, renamed] = fixture.events;
    expect(upcast(created!)).to.deep.include({
      type: 'OrganizationCreated',
      version: 2,
      data: { ...created!.data, ownerEmail: null, trialEndsAt: null },
    });
    const withEmail = { ...created!, data: { ...created!.data, ownerEmail: 'owner@founders.test' } };
    expect(upcast(withEmail).data).to.include({ ownerEmail: 'owner@founders.test', trialEndsAt: null });
    expect(upcast(renamed!)).to.equal(renamed);
    const current = { type: 'OrganizationCreated', version: 2, data: { trialEndsAt: '2026-12-16T00:00:00.000Z' } };
    expect(upcast(current)).to.equal(current);
    expect(latestVersions.get('OrganizationCreated')).to.equal(2);
  });

  it('lets today’s decider fold a years-old stream', () => {
    const state = fold(organizationDecider, fixture.events.map(upcast) as OrganizationEvent[]);
    expect(state).to.deep.include({ status: 'active', name: 'Founders Group', trialEndsAt: null, planId: null });
    if (state.status === 'absent') throw new Error('expected an organization');
    expect(Object.keys(state.members)).to.have.length(2);
    expect(state.members['7d2c1e55-3a5e-4f7b-8d1b-6a0c9e2f4b10']!.email).to.equal(null);
  });
});
