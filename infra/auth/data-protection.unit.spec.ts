import { expect } from 'chai';
import { DataProtection } from './data-protection.ts';
import { composeApiKey, composeToken, newSecret, parseApiKey, parseToken, sha256 } from './secret-tokens.ts';

describe('Data protection and secret tokens', () => {
  const box = new DataProtection('a root secret of at least thirty-two characters');

  it('seals and opens, and refuses a tampered value, another purpose or another key', () => {
    const sealed = box.encrypt('JBSWY3DPEHPK3PXP', 'totp-secret');
    expect(sealed).not.to.include('JBSWY3DPEHPK3PXP');
    expect(box.decrypt(sealed, 'totp-secret')).to.equal('JBSWY3DPEHPK3PXP');
    const [v, iv, body, tag] = sealed.split('.');
    const flipped = Buffer.from(body!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => box.decrypt([v, iv, flipped.toString('base64url'), tag].join('.'), 'totp-secret')).to.throw();
    expect(() => box.decrypt(sealed, 'other-purpose')).to.throw();
    expect(() => new DataProtection('another root secret, also thirty-two characters').decrypt(sealed, 'totp-secret')).to.throw();
  });

  it('keys hashes per purpose and per server', () => {
    expect(box.mac('abcde12345', 'recovery-code')).to.equal(box.mac('abcde12345', 'recovery-code'));
    expect(box.mac('abcde12345', 'recovery-code')).not.to.equal(box.mac('abcde12345', 'other'));
    expect(new DataProtection('another root secret, also thirty-two characters').mac('abcde12345', 'recovery-code')).not.to.equal(
      box.mac('abcde12345', 'recovery-code'),
    );
  });

  it('parses the tokens it composes, hashing the secret, and nothing else', () => {
    const id = '6f1c2a4e-1111-4000-8000-000000000000';
    const secret = newSecret();
    expect(parseToken(composeToken([id], secret), 1)).to.deep.equal({ ids: [id], secretHash: sha256(secret) });
    expect(parseToken(composeToken([id, id], secret), 1)).to.equal(null);
    expect(parseToken(`${id}.short`, 1)).to.equal(null);
    expect(parseToken(`not-a-uuid.${secret}`, 1)).to.equal(null);
    const key = composeApiKey(id, secret);
    expect(key).to.match(/^nfk_[0-9a-f]{32}_/);
    expect(parseApiKey(key)).to.deep.equal({ keyId: id, secretHash: sha256(secret) });
    expect(parseApiKey(`${key}x`)).to.equal(null);
  });
});
