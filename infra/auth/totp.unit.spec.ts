import { expect } from 'chai';
import { totpCode as rfc6238 } from '../../test/support/totp.ts';
import { TotpAuthenticator } from './totp.ts';

describe('TOTP (RFC 6238)', () => {
  const totp = new TotpAuthenticator('NexusFlow');
  // RFC 6238 appendix B's SHA-1 secret, "12345678901234567890", in base32.
  const rfcSecret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

  it('matches the RFC test vectors (their last six digits)', () => {
    expect(rfc6238(rfcSecret, 59_000, 8)).to.equal('94287082');
    expect(rfc6238(rfcSecret, 1_111_111_109_000, 8)).to.equal('07081804');
    for (const [time, code] of [
      [59, '287082'],
      [1111111109, '081804'],
      [1234567890, '005924'],
      [2000000000, '279037'],
    ] as const) {
      expect(totp.verify(rfcSecret, code, new Date(time * 1000)), `at ${time}`).to.equal(Math.floor(time / 30));
    }
  });

  it('accepts the neighbouring step (clock drift) and nothing further', () => {
    const secret = totp.newSecret();
    const now = new Date('2026-12-01T12:00:10Z');
    const at = (offsetSeconds: number) => rfc6238(secret, now.getTime() + offsetSeconds * 1000);
    const step = Math.floor(now.getTime() / 30_000);
    expect(totp.verify(secret, at(0), now)).to.equal(step);
    expect(totp.verify(secret, at(-30), now)).to.equal(step - 1);
    expect(totp.verify(secret, at(30), now)).to.equal(step + 1);
    expect(totp.verify(secret, at(-90), now)).to.equal(null);
    expect(totp.verify(secret, 'abcdef', now)).to.equal(null);
  });

  it('describes the secret for authenticator apps as an otpauth URI', () => {
    const secret = totp.newSecret();
    expect(secret).to.match(/^[A-Z2-7]{32}$/);
    const uri = new URL(totp.uri(secret, 'grace@acme.test'));
    expect(uri.protocol).to.equal('otpauth:');
    expect(uri.host).to.equal('totp');
    expect(uri.searchParams.get('secret')).to.equal(secret);
    expect(uri.searchParams.get('issuer')).to.equal('NexusFlow');
  });
});
