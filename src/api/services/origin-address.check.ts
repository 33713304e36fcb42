/**
 * Refuses origins that are, or whose host resolves to, anything but a public unicast address
 * (SSRF; the table is core/address.rules.ts: every IANA special-purpose block, multicast,
 * and IPv6 outside 2000::/3 or embedding an IPv4 address). Checked at save time here, and
 * again by the edge when it connects (docs/ARCHITECTURE.md, "Origins"), since DNS can change after saving.
 * Operators allow such origins with CDN_ALLOW_PRIVATE_ORIGINS.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { describeForbiddenBlock, forbiddenOriginBlock } from '../../core/address.rules';
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
  // WHATWG URL has already normalised every IPv4 spelling (2130706433, 0x7f.1, 0177.0.0.1)
  // to dotted decimal and compressed IPv6 (::127.0.0.1 -> ::7f00:1).
  const host = new URL(originUrl).hostname.replace(/^\[(.*)\]$/, '$1');
  const literal = isIP(host) !== 0;
  let addresses: string[];
  try {
    addresses = literal ? [host] : await withTimeout((options.resolve ?? resolveAllAddresses)(host));
  } catch {
    return [];
  }
  for (const address of addresses) {
    const block = forbiddenOriginBlock(address);
    if (block === undefined) continue;
    // The admin typed this origin: naming the address and its block tells them what to fix.
    const what = literal ? `the address ${address}` : `host "${host}" resolves to ${address}, which`;
    return [
      {
        field,
        message:
          `${what} is not a public unicast address (${describeForbiddenBlock(block)}); such origins are refused ` +
          'unless the operator sets CDN_ALLOW_PRIVATE_ORIGINS=true',
      },
    ];
  }
  return [];
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('lookup timed out')), LOOKUP_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
