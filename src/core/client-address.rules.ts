/**
 * Client addresses and CIDR blocks as the delivery rules (allowCidrs, denyCidrs) and signed
 * URLs (ep_ip) see them. One spelling per address, so a block written for 203.0.113.0/24
 * holds a client that reaches a dual-stack socket as ::ffff:203.0.113.9, and a link signed
 * for 2001:DB8::1 verifies for the client 2001:db8::1.
 */
import { BlockList, isIP } from 'node:net';

export type AddressFamily = 'ipv4' | 'ipv6';

export interface Cidr {
  address: string;
  prefix: number;
  family: AddressFamily;
}

// RFC 4291 §2.5.5.2 as WHATWG URL writes it (the hex form, ::ffff:102:304).
const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * The address as one canonical string: IPv4-mapped IPv6 (`::ffff:1.2.3.4`, in any spelling)
 * becomes the IPv4 address, other IPv6 addresses their RFC 5952 form (lower-case, `::`).
 * Anything that is not an IP address comes back as it was (callers refuse it).
 */
export function normalizeClientAddress(address: string): string {
  if (!address.includes(':')) return address;
  // Node's dual-stack sockets report this spelling: the common case, without a URL parse.
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return address.slice(7);
  if (isIP(address) !== 6) return address;
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase(); // a zone id (fe80::1%eth0): no canonical form to give
  }
  const mapped = MAPPED_HEX.exec(canonical);
  if (mapped === null) return canonical;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** The family of a normalised address, or undefined when it is none. */
export function addressFamily(address: string): AddressFamily | undefined {
  const v = isIP(address);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/**
 * `203.0.113.0/24`, `2001:db8::/32`, or one address (a block of one). Returns a message
 * saying what is wrong instead of throwing, for the validator to name the field.
 * IPv4-mapped IPv6 blocks are refused: clients are compared in their IPv4 form.
 */
export function parseCidr(text: string): Cidr | { error: string } {
  const example = 'a block such as 203.0.113.0/24 or 2001:db8::/32, or one address';
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  const version = address.includes('%') ? 0 : isIP(address);
  if (version === 0) return { error: `"${text}" is not ${example}` };
  const family: AddressFamily = version === 4 ? 'ipv4' : 'ipv6';
  const bits = version === 4 ? 32 : 128;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
      return { error: `"${text}" has a bad prefix length: it must be a whole number from 0 to ${bits} for an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address` };
    }
    prefix = Number(prefixText);
  }
  if (family === 'ipv6') {
    const canonical = normalizeClientAddress(address);
    if (isIP(canonical) === 4) {
      return { error: `"${text}" is an IPv4-mapped IPv6 block; write the IPv4 block (such as ${canonical}/${Math.max(0, prefix - 96)}): clients are compared in their IPv4 form` };
    }
    return { address: canonical, prefix, family };
  }
  return { address, prefix, family };
}

/** One BlockList holding the blocks (each already accepted by parseCidr; a bad one throws). */
export function blockListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    if ('error' in cidr) throw new RangeError(cidr.error);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return list;
}
