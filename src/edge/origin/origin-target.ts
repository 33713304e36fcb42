/**
 * Where a customer's misses go, worked out once per customer version (not per request):
 * the pool key, the Host header the origin expects, the path prefix and the ready-made
 * Authorization header (the Basic Auth password opened with the SecretBox).
 */
import { isIP } from 'node:net';
import type { CustomerConfig } from '../../core/customer.types';
import type { SecretBox } from '../../core/secret-box';

export interface OriginTarget {
  /** `protocol//hostname:port`: one undici Pool per key. */
  poolKey: string;
  /** The origin's own authority, sent as Host (RFC 9110 §7.2). */
  hostHeader: string;
  hostname: string;
  /** Path of originUrl without its trailing slash ('' for none); prefixes every request path. */
  pathPrefix: string;
  /** `Basic …` from the customer's credentials; undefined when none; null when they cannot be opened. */
  authorization: string | undefined | null;
  /** Set when the origin host is an IP literal: checked without DNS. */
  literalAddress: string | undefined;
}

export class OriginTargets {
  readonly #box: SecretBox;
  readonly #cache = new WeakMap<CustomerConfig, OriginTarget>();

  constructor(box: SecretBox) {
    this.#box = box;
  }

  /** Keyed by the (frozen) customer object, so a new version is parsed once. */
  of(customer: CustomerConfig): OriginTarget {
    let target = this.#cache.get(customer);
    if (target === undefined) {
      target = this.#parse(customer);
      this.#cache.set(customer, target);
    }
    return target;
  }

  #parse(customer: CustomerConfig): OriginTarget {
    const url = new URL(customer.originUrl);
    const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
    const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    let authorization: string | undefined | null;
    if (customer.basicAuth !== null) {
      const password = this.#box.open(customer.basicAuth.passwordCiphertext);
      authorization = password === null ? null : `Basic ${Buffer.from(`${customer.basicAuth.username}:${password}`).toString('base64')}`;
    }
    return {
      poolKey: `${url.protocol}//${url.hostname}:${port}`,
      hostHeader: url.host,
      hostname,
      pathPrefix: url.pathname.replace(/\/+$/, ''),
      authorization,
      literalAddress: isIP(hostname) !== 0 ? hostname : undefined,
    };
  }
}
