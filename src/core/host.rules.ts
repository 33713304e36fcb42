/**
 * How the edge reads the customer out of a request's Host header. Only `Host` counts:
 * `X-Forwarded-Host` is client-controlled and never trusted for routing.
 */
import { normalizeHostname } from './customer.rules';

export type HostParse = { ok: true; host: string } | { ok: false; reason: string };

/** Lower-cases, drops the port and one trailing dot. Rejects empty and malformed values. */
export function parseHostHeader(value: string | string[] | undefined): HostParse {
  if (value === undefined || value === '') return { ok: false, reason: 'the request has no Host header' };
  if (Array.isArray(value)) return { ok: false, reason: 'the request has more than one Host header' };
  let host = value.trim();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return { ok: false, reason: `"${value}" is not a valid host` };
    host = host.slice(0, end + 1);
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) {
      const port = host.slice(colon + 1);
      if (!/^[0-9]{0,5}$/.test(port)) return { ok: false, reason: `"${value}" has an invalid port` };
      host = host.slice(0, colon);
    }
  }
  if (host === '' || /[\s/\\@?#,]/.test(host)) return { ok: false, reason: `"${value}" is not a valid host` };
  return { ok: true, host: normalizeHostname(host) };
}

/**
 * The Host of a request as node:http parsed it: `rawHeaders` counts the fields (node joins or
 * drops a repeated Host, RFC 9110 §7.2 allows exactly one), `host` is the parsed value.
 */
export function requestHost(rawHeaders: readonly string[], host: string | string[] | undefined): HostParse {
  let fields = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') fields += 1;
  }
  return fields > 1 ? { ok: false, reason: 'the request has more than one Host header' } : parseHostHeader(host);
}
