/**
 * Which IP addresses an origin may never be (SSRF): loopback, private, link-local
 * (169.254.169.254 included), unique-local, CGNAT, unspecified and IPv4-mapped IPv6.
 * One rule for the api's save-time check and the edge's connect-time check.
 */
import { BlockList, isIP } from 'node:net';

const forbidden = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv6');
}

/** True for addresses inside our own networks, and for anything that is not an IP address. */
export function isForbiddenOriginAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 4) return forbidden.check(address, 'ipv4');
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) reaches IPv4 hosts by another spelling: refused outright.
  // Not a BlockList rule, because BlockList matches ::ffff:0:0/96 against every IPv4 address too.
  if (/^::ffff:/i.test(address) || /^0:0:0:0:0:ffff:/i.test(address)) return true;
  return forbidden.check(address, 'ipv6');
}
