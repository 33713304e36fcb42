/**
 * Refuses origins whose host resolves to an address inside our own network (SSRF):
 * loopback, private, link-local, unique-local, CGNAT, unspecified and IPv4-mapped IPv6.
 * Checked at save time here, and again by the edge when it connects (DESIGN.md), since
 * DNS can change after saving. Operators allow such origins with CDN_ALLOW_PRIVATE_ORIGINS.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { isForbiddenOriginAddress } from '../../core/address.rules';
import type { FieldProblem } from '../../core/errors';

/** Every address a host resolves to. Injected so tests need no DNS. */
export type ResolveAll = (host: string) => Promise<string[]>;

export const resolveAllAddresses: ResolveAll = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

const LOOKUP_TIMEOUT_MS = 5000;


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
