/**
 * Refuses origins whose host resolves to an address inside our own network (SSRF):
 * loopback, private, link-local, unique-local, CGNAT, unspecified and IPv4-mapped IPv6.
 * Checked at save time here, and again by the edge when it connects (DESIGN.md), since
 * DNS can change after saving. Operators allow such origins with CDN_ALLOW_PRIVATE_ORIGINS.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { FieldProblem } from '../../core/errors';

/** Every address a host resolves to. Injected so tests need no DNS. */
export type ResolveAll = (host: string) => Promise<string[]>;

export const resolveAllAddresses: ResolveAll = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

const LOOKUP_TIMEOUT_MS = 5000;

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

export function isForbiddenOriginAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 4) return forbidden.check(address, 'ipv4');
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) reaches IPv4 hosts by another spelling: refused outright.
  // Not a BlockList rule, because BlockList matches ::ffff:0:0/96 against every IPv4 address too.
  if (/^::ffff:/i.test(address) || /^0:0:0:0:0:ffff:/i.test(address)) return true;
  return forbidden.check(address, 'ipv6');
}

/**
 * Problems with where `originUrl` points. A host that does not resolve (yet) is accepted:
 * the customer may be set up before its DNS, and the edge checks again on every connect.
 */
export async function checkOriginAddress(
  originUrl: string,
  options: { resolve?: ResolveAll; field?: string } = {},
): Promise<FieldProblem[]> {
  const field = options.field ?? 'originUrl';
  const host = new URL(originUrl).hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  try {
    addresses = isIP(host) !== 0 ? [host] : await withTimeout((options.resolve ?? resolveAllAddresses)(host));
  } catch {
    return [];
  }
  const bad = addresses.find(isForbiddenOriginAddress);
  if (bad === undefined) return [];
  return [
    {
      field,
      message:
        `host "${host}" resolves to ${bad}, a loopback, private or link-local address; such origins are refused ` +
        'unless the operator sets CDN_ALLOW_PRIVATE_ORIGINS=true',
    },
  ];
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('lookup timed out')), LOOKUP_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
