/**
 * Where a customer's origin requests go, worked out once per customer version (not per
 * request): one target per origin (`customer.origins`, or the single origin of `originUrl`
 * and `basicAuth` for a configuration from before several were possible), each with its
 * pool key, the Host header and TLS server name it is asked with, its path prefix and the
 * ready-made Authorization header (the Basic Auth password opened with the SecretBox).
 */
import { isIP } from 'node:net';
import type { CustomerConfig, OriginBasicAuth } from '../../core/customer.types';
import { PRIMARY_ORIGIN_NAME, type HealthCheckConfig, type OriginConfig } from '../../core/origin.types';
import type { SecretBox } from '../../core/secret-box';

export interface OriginTarget {
  /** The origin's name within the customer (metrics, health, logs). */
  name: string;
  priority: number;
  weight: number;
  /** One undici Pool per key: the origin's `protocol//host:port`, and for https the TLS server name too. */
  poolKey: string;
  /** `protocol//host:port`: what the pool connects to. */
  origin: string;
  /** The TLS server name (SNI, and the name the certificate must match) of an https origin; undefined: none (http, or an IP address). */
  servername: string | undefined;
  /** Sent as Host (RFC 9110 §7.2): the origin's own authority, or the configured override. */
  hostHeader: string;
  hostname: string;
  /** Path of the origin URL without its trailing slash ('' for none); prefixes every request path. */
  pathPrefix: string;
  /** `Basic …` from the origin's credentials; undefined when none; null when they cannot be opened. */
  authorization: string | undefined | null;
  /** Set when the origin host is an IP literal: checked without DNS. */
  literalAddress: string | undefined;
  /** Active health checks; null: passive ones only. */
  healthCheck: HealthCheckConfig | null;
  /**
   * Everything that decides how this origin answers (URL, Host, TLS name, credentials, check):
   * health is kept across customer versions while it stays the same.
   */
  identity: string;
}

/** A customer's origins, in preference order (priority, then name). */
export interface CustomerOrigins {
  customerId: string;
  all: readonly OriginTarget[];
  /** Those whose Basic Auth could be opened: the only ones ever asked. */
  usable: readonly OriginTarget[];
}

export class OriginTargets {
  readonly #box: SecretBox;
  readonly #cache = new WeakMap<CustomerConfig, CustomerOrigins>();

  constructor(box: SecretBox) {
    this.#box = box;
  }

  /** Keyed by the (frozen) customer object, so a new version is parsed once. */
  of(customer: CustomerConfig): CustomerOrigins {
    let origins = this.#cache.get(customer);
    if (origins === undefined) {
      const all = originsOf(customer)
        .map((o) => this.#parse(o))
        .sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      origins = Object.freeze({ customerId: customer.id, all, usable: all.filter((t) => t.authorization !== null) });
      this.#cache.set(customer, origins);
    }
    return origins;
  }

  #parse(o: OriginConfig): OriginTarget {
    const url = new URL(o.url);
    const https = url.protocol === 'https:';
    const port = url.port !== '' ? url.port : https ? '443' : '80';
    const hostname = unbracket(url.hostname);
    const hostHeader = o.hostHeader ?? url.host;
    const origin = `${url.protocol}//${url.hostname}:${port}`;
    // RFC 6066 §3: SNI carries a host name, never an address.
    const sniName = o.tlsServerName ?? hostOf(hostHeader);
    const servername = https && isIP(sniName) === 0 ? sniName : undefined;
    return {
      name: o.name,
      priority: o.priority,
      weight: o.weight,
      poolKey: https ? `${origin}#${servername ?? ''}` : origin,
      origin,
      servername,
      hostHeader,
      hostname,
      pathPrefix: url.pathname.replace(/\/+$/, ''),
      authorization: this.#authorization(o.basicAuth),
      literalAddress: isIP(hostname) !== 0 ? hostname : undefined,
      healthCheck: o.healthCheck,
      identity: JSON.stringify([o.url, hostHeader, servername, o.basicAuth?.username, o.basicAuth?.passwordCiphertext, o.healthCheck]),
    };
  }

  #authorization(basicAuth: OriginBasicAuth | null): string | undefined | null {
    if (basicAuth === null) return undefined;
    const password = this.#box.open(basicAuth.passwordCiphertext);
    return password === null ? null : `Basic ${Buffer.from(`${basicAuth.username}:${password}`).toString('base64')}`;
  }
}

/** The customer's origins; absent or empty `origins`: the one of `originUrl` and `basicAuth`. */
export function originsOf(customer: CustomerConfig): readonly OriginConfig[] {
  if (customer.origins !== undefined && customer.origins.length > 0) return customer.origins;
  return [
    {
      name: PRIMARY_ORIGIN_NAME,
      url: customer.originUrl,
      basicAuth: customer.basicAuth,
      priority: 1,
      weight: 1,
      hostHeader: null,
      tlsServerName: null,
      healthCheck: null,
    },
  ];
}

function unbracket(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1');
}

/** The host of a Host header value (`name`, `name:port`, `[v6]:port`). */
function hostOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return unbracket(hostHeader.slice(0, hostHeader.indexOf(']') + 1));
  const colon = hostHeader.indexOf(':');
  return colon < 0 ? hostHeader : hostHeader.slice(0, colon);
}
