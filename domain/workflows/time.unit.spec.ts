import { expect } from 'chai';
import { durationMs, nextSendOpportunity, nextTimeOfDay } from './time.ts';

describe('Workflow time arithmetic (IANA zones, DST)', () => {
  it('reads ISO 8601 durations', () => {
    expect(durationMs('PT30M')).to.equal(30 * 60_000);
    expect(durationMs('P2D')).to.equal(2 * 86_400_000);
    expect(durationMs('soon')).to.equal(null);
    expect(durationMs('PT0S')).to.equal(null);
  });

  it('finds the next time of day in a zone, across a DST change', () => {
    // Europe/Paris moves to summer time on 2026-03-29 (02:00 → 03:00).
    expect(nextTimeOfDay(new Date('2026-03-28T12:00:00Z'), '09:00', 'Europe/Paris').toISOString()).to.equal('2026-03-29T07:00:00.000Z');
    expect(nextTimeOfDay(new Date('2026-03-27T12:00:00Z'), '09:00', 'Europe/Paris').toISOString()).to.equal('2026-03-28T08:00:00.000Z');
    // 02:30 does not exist that night: the first moment after the gap.
    expect(nextTimeOfDay(new Date('2026-03-29T00:00:00Z'), '02:30', 'Europe/Paris').toISOString()).to.equal('2026-03-29T01:30:00.000Z');
    expect(nextTimeOfDay(new Date('2026-12-04T12:00:00Z'), '09:00', 'America/New_York', ['mon']).toISOString()).to.equal('2026-12-07T14:00:00.000Z');
  });

  it('moves a send outside the business window to its next opening in the contact zone', () => {
    const window = { days: ['mon', 'tue', 'wed', 'thu', 'fri'] as const, start: '09:00', end: '17:00' };
    const w = { ...window, days: [...window.days] };
    // Friday 18:00 in Paris → Monday 09:00.
    expect(nextSendOpportunity(new Date('2026-12-04T17:00:00Z'), w, 'Europe/Paris').toISOString()).to.equal('2026-12-07T08:00:00.000Z');
    // Tuesday 07:00 in Tokyo → Tuesday 09:00 there.
    expect(nextSendOpportunity(new Date('2026-12-07T22:00:00Z'), w, 'Asia/Tokyo').toISOString()).to.equal('2026-12-08T00:00:00.000Z');
    // Inside the window: now.
    const inside = new Date('2026-12-02T10:00:00Z');
    expect(nextSendOpportunity(inside, w, 'Europe/London')).to.equal(inside);
  });
});
