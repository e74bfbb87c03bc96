import { expect } from 'chai';
import { nextOccurrence, occurrences } from './schedule.ts';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

describe('Cron schedules in IANA time zones (DST)', () => {
  it('keeps the wall-clock time across the spring-forward change', () => {
    // Europe/Paris switches to summer time on 2027-03-28.
    expect(iso(occurrences('30 9 * * *', 'Europe/Paris', new Date('2027-03-26T00:00:00Z'), new Date('2027-03-30T00:00:00Z')))).to.deep.equal([
      '2027-03-26T08:30:00.000Z',
      '2027-03-27T08:30:00.000Z',
      '2027-03-28T07:30:00.000Z',
      '2027-03-29T07:30:00.000Z',
    ]);
  });

  it('fires a time inside the spring-forward gap just after it, and a repeated fall-back time once', () => {
    expect(nextOccurrence('30 2 * * *', 'Europe/Paris', new Date('2027-03-27T12:00:00Z')).toISOString()).to.equal('2027-03-28T01:30:00.000Z');
    // America/New_York falls back on 2026-11-01: 01:30 happens twice, the schedule fires once.
    expect(iso(occurrences('30 1 * * *', 'America/New_York', new Date('2026-10-31T12:00:00Z'), new Date('2026-11-02T12:00:00Z')))).to.deep.equal([
      '2026-11-01T05:30:00.000Z',
      '2026-11-02T06:30:00.000Z',
    ]);
  });

  it('lists business-day firings in a range, after its start and up to its end', () => {
    // Friday 09:00 in Tokyo is the start itself (excluded); the weekend has none; Monday and Tuesday do.
    const fired = occurrences('0 9 * * 1-5', 'Asia/Tokyo', new Date('2026-12-04T00:00:00Z'), new Date('2026-12-08T00:00:00Z'));
    expect(iso(fired)).to.deep.equal(['2026-12-07T00:00:00.000Z', '2026-12-08T00:00:00.000Z']);
  });
});
