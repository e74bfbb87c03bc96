import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Which IP addresses an outbound request chosen by a tenant may reach: only globally routable unicast
 * addresses, unless the operator's allow-list (OUTBOUND_ALLOW_CIDRS) names the address. Refused:
 * loopback, private (RFC 1918, 100.64/10 shared, fc00::/7), link-local, unspecified, multicast, broadcast,
 * reserved, documentation and benchmarking ranges, every other special-purpose range, and cloud metadata
 * addresses (those even when an allow-list range covers them).
 *
 * IPv6 addresses that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by the IPv4 address they carry. Other forms that only
 * exist to reach IPv4 (IPv4-compatible ::a.b.c.d, Teredo) are refused outright.
 */

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

export type AddressVerdict =
  | { allowed: true; address: string }
  /** `reason` reads after the address: "127.0.0.1 is a loopback address". */
  | { allowed: false; address: string; reason: string };

/**
 * Metadata services of cloud platforms: instance credentials live there. Refused whatever the allow-list
 * says (AWS, GCP, Azure, OpenStack, DigitalOcean: 169.254.169.254; AWS ECS: 169.254.170.2; AWS IPv6:
 * fd00:ec2::254; Alibaba: 100.100.100.200; Oracle: 192.0.0.192; Azure wire server: 168.63.129.16, a
 * public address).
 */
const METADATA_ADDRESSES: readonly Address[] = [
  '169.254.169.254',
  '169.254.170.2',
  '169.254.169.123',
  'fd00:ec2::254',
  'fd00:ec2::23',
  '100.100.100.200',
  '192.0.0.192',
  '168.63.129.16',
].map((address) => ipaddr.parse(address));

const IPV4_REASONS: Record<string, string> = {
  unspecified: 'an unspecified address (0.0.0.0/8)',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a shared (carrier-grade NAT) address',
  private: 'a private address',
  reserved: 'a reserved or documentation address',
  as112: 'a special-purpose (AS112) address',
  amt: 'a special-purpose (AMT) address',
};

const IPV6_REASONS: Record<string, string> = {
  unspecified: 'an unspecified address (::)',
  linkLocal: 'a link-local address',
  multicast: 'a multicast address',
  loopback: 'a loopback address',
  uniqueLocal: 'a private (unique local) address',
  deprecatedSiteLocal: 'a site-local address',
  discard: 'a discard-only address',
  rfc6052: 'a local-use NAT64 address',
  teredo: 'a Teredo tunnel address',
  benchmarking: 'a benchmarking address',
  reserved: 'a reserved or documentation address',
};

/** 2000::/3: the only IPv6 block allocated for global unicast. */
const GLOBAL_UNICAST_V6: Cidr = [ipaddr.IPv6.parse('2000::'), 3];
const NAT64: Cidr = [ipaddr.IPv6.parse('64:ff9b::'), 96];
const SIX_TO_FOUR: Cidr = [ipaddr.IPv6.parse('2002::'), 16];
const IPV4_TRANSLATED: Cidr = [ipaddr.IPv6.parse('::ffff:0:0:0'), 96];
const IPV4_COMPATIBLE: Cidr = [ipaddr.IPv6.parse('::'), 96];

export class AddressPolicy {
  private readonly allowed: readonly Cidr[];

  /** `allowList`: addresses and CIDR ranges (`10.0.0.0/8`, `fd12::/16`, `192.168.1.20`) the operator opens. */
  constructor(allowList: readonly string[] = []) {
    this.allowed = allowList.map(parseAllowEntry);
  }

  /** The verdict for one address as written by DNS, a socket or a URL's host (brackets allowed). */
  check(text: string): AddressVerdict {
    const written = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
    if (isIP(written) === 0 || !ipaddr.isValid(written)) return { allowed: false, address: written, reason: 'not an IP address' };
    const address = ipaddr.parse(written);
    const shown = address.toString();
    const embedded = address.kind() === 'ipv6' ? embeddedIPv4(address as ipaddr.IPv6) : null;
    const candidates = embedded ? [address, embedded] : [address];

    if (candidates.some((candidate) => METADATA_ADDRESSES.some((metadata) => sameAddress(candidate, metadata)))) {
      return { allowed: false, address: shown, reason: embedded ? `carries ${embedded}, a cloud metadata address` : 'a cloud metadata address' };
    }
    if (candidates.some((candidate) => this.allowed.some((range) => inRange(candidate, range)))) return { allowed: true, address: shown };

    if (embedded) {
      const problem = ipv4Problem(embedded);
      return problem ? { allowed: false, address: shown, reason: `carries ${embedded}, ${problem}` } : { allowed: true, address: shown };
    }
    const problem = address.kind() === 'ipv4' ? ipv4Problem(address as ipaddr.IPv4) : ipv6Problem(address as ipaddr.IPv6);
    return problem ? { allowed: false, address: shown, reason: problem } : { allowed: true, address: shown };
  }
}

/** Whether `entry` is an address or CIDR range the allow-list accepts (IPv4 only in dotted-quad form). */
export function isAllowEntry(entry: string): boolean {
  try {
    parseAllowEntry(entry);
    return true;
  } catch {
    return false;
  }
}

function parseAllowEntry(entry: string): Cidr {
  const [address, prefix, ...rest] = entry.trim().split('/');
  if (address === undefined || rest.length > 0) throw new Error(`not an address or CIDR range: ${entry}`);
  // Only the usual spellings: "10.1" or "0x0a000001" in an operator's setting is a typo, not a wish.
  const kind = isIP(address);
  if (kind === 0) throw new Error(`not an address or CIDR range: ${entry}`);
  const parsed = ipaddr.parse(address);
  const max = kind === 4 ? 32 : 128;
  const bits = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (!(bits >= 0 && bits <= max)) throw new Error(`not an address or CIDR range: ${entry}`);
  // ::ffff:10.0.0.0/104 means 10.0.0.0/8: addresses are compared after unwrapping.
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(parsed as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [parsed, bits];
}

/** The IPv4 address an IPv6 address stands for, when it is one of the forms that carry one. */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | null {
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  const [, p1, p2, , , , p6, p7] = address.parts as [number, number, number, number, number, number, number, number];
  if (address.match(IPV4_TRANSLATED) || address.match(NAT64)) return fromWords(p6, p7);
  if (address.match(SIX_TO_FOUR)) return fromWords(p1, p2);
  return null;
}

function fromWords(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function ipv4Problem(address: ipaddr.IPv4): string | null {
  const range: string = address.range();
  if (range === 'unicast') return null;
  return IPV4_REASONS[range] ?? `a special-purpose address (${range})`;
}

function ipv6Problem(address: ipaddr.IPv6): string | null {
  const range: string = address.range();
  if (range !== 'unicast') return IPV6_REASONS[range] ?? `a special-purpose address (${range})`;
  if (address.match(IPV4_COMPATIBLE)) return 'an IPv4-compatible address (deprecated)';
  if (!address.match(GLOBAL_UNICAST_V6)) return 'not a global unicast address (outside 2000::/3)';
  return null;
}

function sameAddress(a: Address, b: Address): boolean {
  return a.kind() === b.kind() && a.toNormalizedString() === b.toNormalizedString();
}

function inRange(address: Address, [network, bits]: Cidr): boolean {
  return address.kind() === network.kind() && address.match(network, bits);
}
