/**
 * SSRF guard for origin connections: refuses loopback, private, link-local, unique-local,
 * CGNAT, unspecified and IPv4-mapped IPv6 addresses, checked on the address actually
 * resolved at connect time (DNS can change after the api saved the origin). The rule
 * itself is core's, shared with the api's save-time check.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isForbiddenOriginAddress } from '../../core/address.rules';


/** Raised from the connector's lookup; the pipeline turns it into CDN_ERR_ORIGIN_FORBIDDEN_ADDRESS. */
export class ForbiddenAddressError extends Error {
  readonly code = 'EDGE_ORIGIN_FORBIDDEN_ADDRESS';
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`origin host ${host} resolves to the forbidden address ${address}`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net.connect that resolves every address and refuses the host if any
 * of them is forbidden (so a DNS answer mixing public and private addresses cannot
 * steer the connection inside). Honours `all` (Node 20's autoSelectFamily asks for it).
 */
export function guardedLookup(hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void {
  dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => isForbiddenOriginAddress(a.address));
    if (bad !== undefined) return callback(new ForbiddenAddressError(hostname, bad.address) as NodeJS.ErrnoException, []);
    const family = options.family === 6 || options.family === 'IPv6' ? 6 : options.family === 4 || options.family === 'IPv4' ? 4 : 0;
    const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family);
    if (usable.length === 0) return callback(Object.assign(new Error(`no IPv${family} address for ${hostname}`), { code: 'ENOTFOUND' }), []);
    if (options.all === true) return callback(null, usable);
    callback(null, usable[0]!.address, usable[0]!.family);
  });
}
