import { expect } from 'chai';
import { describeJob } from './projections-resource.ts';
import type { RebuildJob } from '../../projectors/rebuild/rebuild-jobs.ts';

const job = (overrides: Partial<RebuildJob>): RebuildJob => ({
  readModel: 'search',
  startedAt: new Date('2026-12-02T10:00:00Z'),
  state: 'running',
  progress: null,
  result: null,
  error: null,
  ...overrides,
});

describe('Rebuild progress as the console lists it', () => {
  it('says what a rebuild is doing: starting, building with its share done, switching, done or failed', () => {
    expect(describeJob(job({}))).to.equal('starting');
    const progress = {
      readModel: 'search',
      generation: 3,
      phase: 'building' as const,
      position: '10',
      head: '40',
      eventsApplied: 10,
      fraction: 0.25,
      lastError: null,
    };
    expect(describeJob(job({ progress }))).to.equal('building generation 3: 25% 10 events');
    expect(describeJob(job({ progress: { ...progress, phase: 'switching', fraction: null } }))).to.equal('switching generation 3: 10 events');
    const result = { readModel: 'search', from: 2, to: 3, position: '40', eventsApplied: 40, parked: 0, seconds: 2, eventsPerSecond: 20.4 };
    expect(describeJob(job({ state: 'done', result }))).to.equal('done: generation 3 serves (40 events, 20 events/s)');
    expect(describeJob(job({ state: 'failed', error: 'search is being rebuilt by another process' }))).to.equal(
      'failed: search is being rebuilt by another process',
    );
  });
});
