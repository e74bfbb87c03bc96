import { expect } from 'chai';
import { ConfigError, loadConfig } from '../config/config.ts';
import { AddressPolicy, isAllowEntry } from './address-policy.ts';

/** The host a URL ends up with: the WHATWG parser is what turns 127.1 and 0x7f000001 into 127.0.0.1. */
const hostOf = (authority: string) => new URL(`http://${authority}/`).hostname;

describe('Outbound address policy', () => {
  const policy = new AddressPolicy();
  const refused = (address: string, reason: RegExp | string = /./) => {
    const verdict = policy.check(address);
    expect(verdict.allowed, `${address} should be refused`).to.equal(false);
    if (!verdict.allowed) expect(verdict.reason).to.match(typeof reason === 'string' ? new RegExp(reason) : reason);
  };
  const allowed = (address: string, by = policy) => expect(by.check(address).allowed, `${address} should be allowed`).to.equal(true);

  it('refuses loopback in every spelling a URL can carry', () => {
    for (const spelling of [
      '127.0.0.1',
      '127.1',
      '2130706433',
      '0x7f000001',
      '0177.0.0.1',
      '127.0.0.1.',
      '0x7f.1',
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
      '[::1]',
      '[0:0:0:0:0:0:0:1]',
    ]) {
      refused(hostOf(spelling), 'loopback');
    }
    refused('127.255.255.254', 'a loopback address');
  });

  it('refuses private, shared, link-local, unspecified, multicast, broadcast and reserved IPv4 ranges', () => {
    for (const address of ['10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1']) refused(address, 'a private address');
    refused('100.64.0.1', 'carrier-grade NAT');
    refused('169.254.1.1', 'link-local');
    for (const address of ['0.0.0.0', '0.1.2.3', hostOf('0')]) refused(address, 'unspecified');
    refused('224.0.0.1', 'multicast');
    refused('239.255.255.250', 'multicast');
    refused('255.255.255.255', 'broadcast');
    for (const address of ['192.0.2.1', '198.51.100.7', '203.0.113.9', '198.18.0.1', '240.0.0.1', '192.0.0.8']) refused(address, 'reserved');
  });

  it('refuses cloud metadata addresses, even inside an allow-listed range', () => {
    for (const address of ['169.254.169.254', 'fd00:ec2::254', '100.100.100.200', '192.0.0.192', '168.63.129.16', '169.254.170.2'])
      refused(address, 'cloud metadata');
    const open = new AddressPolicy(['169.254.0.0/16', '100.64.0.0/10', 'fd00::/8', '168.63.0.0/16']);
    for (const address of ['169.254.169.254', 'fd00:ec2::254', '100.100.100.200', '168.63.129.16', '::ffff:169.254.169.254']) {
      expect(open.check(address).allowed, address).to.equal(false);
    }
    allowed('169.254.1.1', open);
  });

  it('refuses IPv6 loopback, unspecified, link-local, unique local, site-local, multicast and special-purpose ranges', () => {
    refused('::1', 'loopback');
    refused('::', 'unspecified');
    refused('fe80::1', 'link-local');
    refused('fe80::1%eth0', 'link-local');
    refused('fc00::1', 'unique local');
    refused('fd12:3456::1', 'unique local');
    refused('fec0::1', 'site-local');
    refused('ff02::1', 'multicast');
    refused('2001:db8::1', 'documentation');
    refused('100::1', 'discard');
    refused('2001::1', 'Teredo');
    refused('64:ff9b:1::1', 'NAT64');
    refused('::7f00:1', 'IPv4-compatible');
    refused('::a00:1', 'IPv4-compatible');
    refused('4000::1', 'global unicast');
  });

  it('judges IPv6 forms that carry an IPv4 address by that address', () => {
    refused('::ffff:127.0.0.1', 'carries 127.0.0.1, a loopback address');
    refused('::ffff:7f00:1', 'carries 127.0.0.1');
    refused('::ffff:10.1.2.3', 'carries 10.1.2.3, a private address');
    refused('::ffff:169.254.169.254', 'carries 169.254.169.254, a cloud metadata address');
    refused('::ffff:0:127.0.0.1', 'carries 127.0.0.1'); // IPv4-translated (RFC 6145)
    refused('64:ff9b::7f00:1', 'carries 127.0.0.1'); // NAT64 (RFC 6052)
    refused('64:ff9b::a9fe:a9fe', 'carries 169.254.169.254, a cloud metadata address');
    refused('2002:7f00:1::1', 'carries 127.0.0.1'); // 6to4
    refused('2002:c0a8:101::1', 'carries 192.168.1.1, a private address');
    refused('::ffff:0.0.0.0', 'carries 0.0.0.0');
    // …and a public IPv4 address inside them is as fine as the address itself.
    allowed('::ffff:93.184.216.34');
    allowed('64:ff9b::5db8:d822');
    allowed('2002:5db8:d822::1');
  });

  it('allows globally routable unicast addresses', () => {
    for (const address of [
      '93.184.216.34',
      '8.8.8.8',
      '1.1.1.1',
      '172.32.0.1',
      '100.128.0.1',
      '169.253.255.255',
      '2606:4700:4700::1111',
      '2a00:1450:4001:82b::200e',
    ])
      allowed(address);
  });

  it('refuses what is not an IP address (names are resolved first, never judged as text)', () => {
    refused('localhost', 'not an IP address');
    refused('127.1', 'not an IP address');
    refused('', 'not an IP address');
  });

  it("honours the operator's allow-list: addresses and CIDR ranges, IPv4 and IPv6, mapped addresses included", () => {
    const open = new AddressPolicy(['127.0.0.1', '10.20.0.0/16', 'fd12:3456::/32', '::1']);
    allowed('127.0.0.1', open);
    allowed('::ffff:127.0.0.1', open);
    allowed('10.20.5.6', open);
    allowed('fd12:3456:1::9', open);
    allowed('::1', open);
    allowed('8.8.8.8', open);
    expect(open.check('127.0.0.2').allowed).to.equal(false);
    expect(open.check('10.21.0.1').allowed).to.equal(false);
    expect(open.check('fd12:3457::1').allowed).to.equal(false);
    expect(new AddressPolicy(['::ffff:10.0.0.0/104']).check('10.9.9.9').allowed, 'a mapped range means its IPv4 range').to.equal(true);
  });

  it('accepts only plain addresses and CIDR ranges in the allow-list, and the configuration says which entry is wrong', () => {
    for (const entry of ['10.0.0.0/8', '192.168.1.5', 'fd00::/8', '::1', '0.0.0.0/0']) expect(isAllowEntry(entry), entry).to.equal(true);
    for (const entry of ['10.1', '0x7f000001', '10.0.0.0/33', '10.0.0.0/', 'fd00::/129', 'example.com', '10.0.0.0/8/8', '10.0.0.0/+8'])
      expect(isAllowEntry(entry), entry).to.equal(false);

    expect(loadConfig({}, 'all').OUTBOUND_ALLOW_CIDRS).to.deep.equal([]);
    expect(loadConfig({ OUTBOUND_ALLOW_CIDRS: ' 10.0.0.0/8, 127.0.0.1 ,,fd00::/8' }, 'all').OUTBOUND_ALLOW_CIDRS).to.deep.equal([
      '10.0.0.0/8',
      '127.0.0.1',
      'fd00::/8',
    ]);
    expect(() => loadConfig({ OUTBOUND_ALLOW_CIDRS: '10.0.0.0/8,intranet' }, 'all'))
      .to.throw(ConfigError)
      .with.property('message')
      .that.matches(/OUTBOUND_ALLOW_CIDRS: .*\(not intranet\)/);
  });
});
