import { expect } from 'chai';
import { advance, dedupe, nextWindow, seenKey, seenWithin, type StampedRecord, type SyncCursor } from './cursor.ts';

const cursor: SyncCursor = { stamp: '2024-05-01T12:00:00.000Z', lastId: 'b' };

describe('Incremental cursor', () => {
  it('starts the next query one overlap window before the cursor, or at the beginning without one', () => {
    expect(nextWindow(cursor, 60_000)).to.deep.equal({ since: '2024-05-01T11:59:00.000Z' });
    expect(nextWindow(null, 60_000)).to.deep.equal({ since: null });
    expect(nextWindow({ stamp: 'yesterday', lastId: 'x' }, 60_000)).to.deep.equal({ since: null });
    expect(nextWindow(cursor, -5)).to.deep.equal({ since: cursor.stamp });
  });

  it('given a page from the overlap window, when an edit is stamped exactly at the cursor, then it is kept once and the applied one dropped', () => {
    // b was applied at the cursor's stamp; a and c were edited in the same second (second-precision stamps).
    const seen = new Set([seenKey({ id: 'b', stamp: '2024-05-01T12:00:00Z' })]);
    const page: StampedRecord[] = [
      { id: 'a', stamp: '2024-05-01T11:59:30Z' },
      { id: 'b', stamp: '2024-05-01T12:00:00.000Z' },
      { id: 'c', stamp: '2024-05-01T12:00:00Z' },
      { id: 'c', stamp: '2024-05-01T12:00:00Z' },
    ];
    expect(dedupe(page, seen).map((r) => r.id)).to.deep.equal(['a', 'c']);
    // b edited again later: a new stamp is a new change.
    expect(dedupe([{ id: 'b', stamp: '2024-05-01T12:00:01Z' }], seen)).to.have.length(1);
    // Two edits of b within one stamp: a finer revision tells them apart.
    expect(dedupe([{ id: 'b', stamp: '2024-05-01T12:00:00Z', revision: '7' }], seen)).to.have.length(1);
  });

  it('advances to the greatest (stamp, id), never back, skipping unparseable stamps', () => {
    expect(
      advance(cursor, [
        { id: 'c', stamp: '2024-05-01T12:00:00Z' },
        { id: 'a', stamp: '2024-05-01T12:00:00Z' },
      ]),
    ).to.deep.equal({
      stamp: '2024-05-01T12:00:00.000Z',
      lastId: 'c',
    });
    expect(advance(cursor, [{ id: 'z', stamp: '2024-05-01T11:00:00Z' }])).to.deep.equal(cursor);
    expect(advance(null, [{ id: 'q', stamp: 'soon' }])).to.equal(null);
    expect(advance(null, [{ id: 'q', stamp: '2024-05-02T00:00:00+02:00' }])).to.deep.equal({ stamp: '2024-05-01T22:00:00.000Z', lastId: 'q' });
  });

  it('keeps the seen keys of the next overlap window only', () => {
    const records = [
      { id: 'old', stamp: '2024-05-01T11:00:00Z' },
      { id: 'new', stamp: '2024-05-01T11:59:30Z' },
    ];
    expect(seenWithin(records, cursor, 60_000)).to.deep.equal([seenKey(records[1]!)]);
  });
});
