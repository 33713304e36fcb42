/**
 * Which IP addresses an origin may be (SSRF): public unicast hosts only. One rule for the
 * api's save-time check and the edge's connect-time check.
 *
 * The tables are the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 as
 * amended by RFC 8190), every row of them, plus multicast and the deprecated blocks the
 * registries no longer list. Rows IANA marks globally reachable (the AS112, AMT, PCP and TURN
 * anycast blocks) are refused too: they are anycast services, never a customer's web server.
 *
 * IPv6 is an allow-list: only global unicast (2000::/3) less the table is accepted.
 *
 * IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible, IPv4-translated,
 * NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32) are refused
 * outright, whatever IPv4 address they carry, rather than by checking that address against
 * the IPv4 table: where they lead is decided by translators and relays near the edge (a NAT64
 * gateway turns 64:ff9b::7f00:1 into 127.0.0.1 on its side, Teredo hides its address under
 * an XOR), not by the address; and a host reachable that way has a native address to use.
 */
import { isIP } from 'node:net';

/** One row: the block, why no origin may be in it, and where that is defined. */
export interface SpecialPurposeBlock {
  block: string;
  reason: string;
  rfc: string;
}

/** IANA IPv4 Special-Purpose Address Registry in full, multicast and the reserved class E. First match names the reason. */
export const IPV4_SPECIAL_PURPOSE: readonly SpecialPurposeBlock[] = [
  { block: '0.0.0.0/8', reason: '"this network", never a destination', rfc: 'RFC 791 §3.2, RFC 1122 §3.2.1.3' },
  { block: '10.0.0.0/8', reason: 'private-use', rfc: 'RFC 1918' },
  { block: '100.64.0.0/10', reason: 'shared address space (carrier-grade NAT)', rfc: 'RFC 6598' },
  { block: '127.0.0.0/8', reason: 'loopback', rfc: 'RFC 1122 §3.2.1.3' },
  { block: '169.254.0.0/16', reason: 'link-local (cloud metadata services live here)', rfc: 'RFC 3927' },
  { block: '172.16.0.0/12', reason: 'private-use', rfc: 'RFC 1918' },
  { block: '192.0.0.0/29', reason: 'IPv4 service continuity prefix (DS-Lite)', rfc: 'RFC 7335' },
  { block: '192.0.0.8/32', reason: 'IPv4 dummy address', rfc: 'RFC 7600' },
  { block: '192.0.0.9/32', reason: 'Port Control Protocol anycast', rfc: 'RFC 7723' },
  { block: '192.0.0.10/32', reason: 'TURN anycast', rfc: 'RFC 8155' },
  { block: '192.0.0.170/31', reason: 'NAT64/DNS64 discovery', rfc: 'RFC 8880, RFC 7050 §2.2' },
  { block: '192.0.0.0/24', reason: 'IETF protocol assignments', rfc: 'RFC 6890 §2.1' },
  { block: '192.0.2.0/24', reason: 'documentation (TEST-NET-1)', rfc: 'RFC 5737' },
  { block: '192.31.196.0/24', reason: 'AS112-v4 anycast DNS', rfc: 'RFC 7535' },
  { block: '192.52.193.0/24', reason: 'AMT relay anycast', rfc: 'RFC 7450' },
  { block: '192.88.99.0/24', reason: '6to4 relay anycast (deprecated; 192.88.99.2 is the 6a44 relay)', rfc: 'RFC 7526, RFC 6751' },
  { block: '192.168.0.0/16', reason: 'private-use', rfc: 'RFC 1918' },
  { block: '192.175.48.0/24', reason: 'AS112 direct delegation anycast DNS', rfc: 'RFC 7534' },
  { block: '198.18.0.0/15', reason: 'benchmarking', rfc: 'RFC 2544' },
  { block: '198.51.100.0/24', reason: 'documentation (TEST-NET-2)', rfc: 'RFC 5737' },
  { block: '203.0.113.0/24', reason: 'documentation (TEST-NET-3)', rfc: 'RFC 5737' },
  { block: '224.0.0.0/4', reason: 'multicast', rfc: 'RFC 5771' },
  { block: '255.255.255.255/32', reason: 'limited broadcast', rfc: 'RFC 919 §7, RFC 8190' },
  { block: '240.0.0.0/4', reason: 'reserved (class E)', rfc: 'RFC 1112 §4' },
];

/**
 * IANA IPv6 Special-Purpose Address Registry in full, multicast and the deprecated blocks.
 * First match names the reason; an address in none of them must still be in 2000::/3.
 */
export const IPV6_SPECIAL_PURPOSE: readonly SpecialPurposeBlock[] = [
  { block: '::/128', reason: 'unspecified', rfc: 'RFC 4291 §2.5.2' },
  { block: '::1/128', reason: 'loopback', rfc: 'RFC 4291 §2.5.3' },
  { block: '::ffff:0:0/96', reason: 'IPv4-mapped (an IPv4 address by another spelling)', rfc: 'RFC 4291 §2.5.5.2' },
  { block: '::/96', reason: 'IPv4-compatible (deprecated; an IPv4 address by another spelling)', rfc: 'RFC 4291 §2.5.5.1' },
  { block: '::ffff:0:0:0/96', reason: 'IPv4-translated (SIIT; an IPv4 address by another spelling)', rfc: 'RFC 2765 §2.1' },
  { block: '64:ff9b::/96', reason: 'NAT64 well-known prefix (reaches the embedded IPv4 address)', rfc: 'RFC 6052' },
  { block: '64:ff9b:1::/48', reason: 'local-use IPv4/IPv6 translation', rfc: 'RFC 8215' },
  { block: '100::/64', reason: 'discard-only', rfc: 'RFC 6666' },
  { block: '100:0:0:1::/64', reason: 'dummy prefix', rfc: 'RFC 9780' },
  { block: '2001::/32', reason: 'Teredo (tunnels to an embedded IPv4 address)', rfc: 'RFC 4380, RFC 8190' },
  { block: '2001:1::1/128', reason: 'Port Control Protocol anycast', rfc: 'RFC 7723' },
  { block: '2001:1::2/128', reason: 'TURN anycast', rfc: 'RFC 8155' },
  { block: '2001:1::3/128', reason: 'DNS-SD service registration anycast', rfc: 'RFC 9665' },
  { block: '2001:2::/48', reason: 'benchmarking', rfc: 'RFC 5180' },
  { block: '2001:3::/32', reason: 'AMT', rfc: 'RFC 7450' },
  { block: '2001:4:112::/48', reason: 'AS112-v6 anycast DNS', rfc: 'RFC 7535' },
  { block: '2001:10::/28', reason: 'ORCHID (deprecated)', rfc: 'RFC 4843' },
  { block: '2001:20::/28', reason: 'ORCHIDv2 (cryptographic identifiers, not locators)', rfc: 'RFC 7343' },
  { block: '2001:30::/28', reason: 'drone remote ID entity tags (identifiers, not locators)', rfc: 'RFC 9374' },
  { block: '2001::/23', reason: 'IETF protocol assignments', rfc: 'RFC 2928' },
  { block: '2001:db8::/32', reason: 'documentation', rfc: 'RFC 3849' },
  { block: '2002::/16', reason: '6to4 (reaches the embedded IPv4 address)', rfc: 'RFC 3056' },
  { block: '2620:4f:8000::/48', reason: 'AS112 direct delegation anycast DNS', rfc: 'RFC 7534' },
  { block: '3fff::/20', reason: 'documentation', rfc: 'RFC 9637' },
  { block: '5f00::/16', reason: 'segment routing (SRv6) SIDs', rfc: 'RFC 9602' },
  { block: 'fc00::/7', reason: 'unique-local', rfc: 'RFC 4193' },
  { block: 'fe80::/10', reason: 'link-local', rfc: 'RFC 4291 §2.5.6' },
  { block: 'fec0::/10', reason: 'site-local (deprecated)', rfc: 'RFC 3879' },
  { block: 'ff00::/8', reason: 'multicast', rfc: 'RFC 4291 §2.7' },
];

const GLOBAL_UNICAST: SpecialPurposeBlock = { block: '2000::/3', reason: 'outside global unicast 2000::/3 (reserved or unassigned)', rfc: 'RFC 4291 §2.4' };
const NOT_AN_ADDRESS: SpecialPurposeBlock = { block: '', reason: 'not an IP address', rfc: '' };

interface CompiledBlock {
  row: SpecialPurposeBlock;
  bytes: Uint8Array;
  prefix: number;
}

const compile = (rows: readonly SpecialPurposeBlock[]): CompiledBlock[] =>
  rows.map((row) => {
    const [net, prefix] = row.block.split('/') as [string, string];
    return { row, bytes: addressBytes(net)!, prefix: Number(prefix) };
  });

const V4 = compile(IPV4_SPECIAL_PURPOSE);
const V6 = compile(IPV6_SPECIAL_PURPOSE);
const [V6_GLOBAL_UNICAST] = compile([GLOBAL_UNICAST]) as [CompiledBlock];

/**
 * The row that forbids `address` as an origin, or undefined for a public unicast address.
 * Takes what DNS answers and what a URL's hostname holds: any IPv4/IPv6 spelling Node
 * accepts, in brackets or not, with or without a zone id (`fe80::1%eth0`). Anything that
 * is not an IP address is forbidden (only addresses are checked, never names).
 */
export function forbiddenOriginBlock(address: string): SpecialPurposeBlock | undefined {
  const bytes = addressBytes(address);
  if (bytes === undefined) return NOT_AN_ADDRESS;
  if (bytes.length === 4) return V4.find((b) => inBlock(bytes, b))?.row;
  const special = V6.find((b) => inBlock(bytes, b));
  if (special !== undefined) return special.row;
  return inBlock(bytes, V6_GLOBAL_UNICAST) ? undefined : GLOBAL_UNICAST;
}

/** True for every address that is not public unicast, and for anything that is not an IP address. */
export function isForbiddenOriginAddress(address: string): boolean {
  return forbiddenOriginBlock(address) !== undefined;
}

/** `198.18.0.0/15: benchmarking, RFC 2544`, for messages to operators and admins. */
export function describeForbiddenBlock(row: SpecialPurposeBlock): string {
  return row.block === '' ? row.reason : `${row.block}: ${row.reason}, ${row.rfc}`;
}

/** 4 bytes for IPv4, 16 for IPv6; undefined when `text` is not an IP address. */
function addressBytes(text: string): Uint8Array | undefined {
  const bracketed = text.startsWith('[') && text.endsWith(']');
  let s = bracketed ? text.slice(1, -1) : text;
  // A zone id names the interface of a scoped address; the address itself is what is checked.
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  const family = isIP(s);
  // Brackets and zone ids belong to IPv6 only.
  if ((bracketed || zone !== -1) && family !== 6) return undefined;
  if (family === 4) return Uint8Array.from(s.split('.').map(Number));
  if (family !== 6) return undefined;
  // A trailing dotted IPv4 part (::ffff:1.2.3.4, ::1.2.3.4) is the last two groups.
  if (s.includes('.')) {
    const cut = s.lastIndexOf(':') + 1;
    const [a, b, c, d] = s.slice(cut).split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, cut)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const bytes = new Uint8Array(16);
  [...headGroups, ...zeros, ...tailGroups].forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 0xff;
  });
  return bytes;
}

function inBlock(bytes: Uint8Array, block: CompiledBlock): boolean {
  if (bytes.length !== block.bytes.length) return false;
  let bits = block.prefix;
  for (let i = 0; bits > 0; i += 1, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== (block.bytes[i]! & mask)) return false;
  }
  return true;
}
