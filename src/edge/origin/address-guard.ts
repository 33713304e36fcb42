/**
 * SSRF guard for origin connections: refuses every address that is not public unicast
 * (core/address.rules.ts: the IANA special-purpose blocks, multicast, IPv6 outside 2000::/3
 * or embedding an IPv4 address), checked on the addresses actually resolved at connect time
 * (DNS can change after the api saved the origin), before any socket connects. The rule
 * itself is core's, shared with the api's save-time check. IP-literal origins never reach a
 * lookup; OriginPools checks them against the same rule before connecting.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { forbiddenOriginBlock, describeForbiddenBlock } from '../../core/address.rules';

/**
 * Raised from the connector's lookup (or for an IP-literal origin); the pipeline turns it into
 * CDN_ERR_ORIGIN_FORBIDDEN_ADDRESS, whose message to the client names neither host nor address.
 * It has no `code` on purpose: the pipeline's "origin request failed" warning logs
 * `err.code ?? String(err)`, so the operator's log gets this message, which names both.
 */
export class ForbiddenAddressError extends Error {
  override readonly name = 'ForbiddenAddressError';
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    const block = forbiddenOriginBlock(address);
    const why = block === undefined ? '' : ` (${describeForbiddenBlock(block)})`;
    super(host === address ? `origin address ${address} is forbidden${why}` : `origin host ${host} resolves to the forbidden address ${address}${why}`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
type LookupAll = (hostname: string, options: { all: true; verbatim: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * A `lookup` for net.connect that resolves every address and refuses the host if any
 * of them is forbidden (so a DNS answer mixing public and private addresses cannot
 * steer the connection inside). Honours `all` (Node 20's autoSelectFamily asks for it).
 * `resolve` is dns.lookup; tests hand in a resolver with the answers they need.
 */
export function createGuardedLookup(resolve: LookupAll = dnsLookup as LookupAll) {
  return function guardedLookup(hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void {
    resolve(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const bad = addresses.find((a) => forbiddenOriginBlock(a.address) !== undefined);
      if (bad !== undefined) return callback(new ForbiddenAddressError(hostname, bad.address) as NodeJS.ErrnoException, []);
      const family = options.family === 6 || options.family === 'IPv6' ? 6 : options.family === 4 || options.family === 'IPv4' ? 4 : 0;
      const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family);
      if (usable.length === 0) return callback(Object.assign(new Error(`no IPv${family} address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      if (options.all === true) return callback(null, usable);
      callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
}

export const guardedLookup = createGuardedLookup();
