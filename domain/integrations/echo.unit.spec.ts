import { expect } from 'chai';
import { emptyLedger, fingerprint, isEcho, isInboundEcho, isOutboundEcho, recordWrite, rememberWrite } from './echo.ts';

describe('Echo suppression', () => {
  it('fingerprints normalized values: empty is empty, white space and number formatting do not count, case does', () => {
    expect(fingerprint(null)).to.equal(fingerprint(''));
    expect(fingerprint(' Ada ')).to.equal(fingerprint('Ada'));
    expect(fingerprint(42)).to.equal(fingerprint('42'));
    expect(fingerprint('2024-05-01T12:00:00Z')).to.equal(fingerprint('2024-05-01T14:00:00.000+02:00'));
    expect(fingerprint('ada')).not.to.equal(fingerprint('Ada'));
    expect(fingerprint(true)).not.to.equal(fingerprint('true'));
    expect(fingerprint('007')).not.to.equal(fingerprint(7));
  });

  it('given we wrote a value, when the provider reports the same value back, then it is an echo', () => {
    const written = rememberWrite('CTO', '2024-05-01T12:00:00Z');
    expect(isEcho(written, 'CTO ', '2024-05-01T12:00:00Z')).to.equal(true);
    // Another field of the record changed later: same value, newer record stamp, still our value.
    expect(isEcho(written, 'CTO', '2024-05-01T13:00:00Z')).to.equal(true);
  });

  it('given we wrote a value, when the provider reformatted it without any later edit, then the same stamp makes it an echo', () => {
    const written = rememberWrite('+44 20 7946 0000', 'rev-9');
    expect(isEcho(written, '+442079460000', 'rev-9')).to.equal(true);
    expect(isEcho(written, '+442079460000', 'rev-10')).to.equal(false);
  });

  it('is not an echo when someone changed the value, or when nothing was written', () => {
    expect(isEcho(rememberWrite('CTO', 's1'), 'CEO', 's2')).to.equal(false);
    expect(isEcho(undefined, 'CTO', 's1')).to.equal(false);
    expect(isEcho(rememberWrite('CTO', null), 'CEO', null)).to.equal(false);
  });

  it('keeps both directions apart in a ledger', () => {
    let ledger = recordWrite(emptyLedger(), 'out', 'title', 'CTO', 's1');
    ledger = recordWrite(ledger, 'in', 'company', 'Acme', '17');
    expect(isInboundEcho(ledger, 'title', 'CTO', 's2')).to.equal(true);
    expect(isOutboundEcho(ledger, 'title', 'CTO', '18')).to.equal(false);
    expect(isOutboundEcho(ledger, 'company', 'Acme', '18')).to.equal(true);
    expect(isInboundEcho(ledger, 'company', 'Acme', 's2')).to.equal(false);
    expect(isInboundEcho(ledger, 'constructor', null, null)).to.equal(false);
  });
});
