/**
 * One keep-alive undici Pool per origin (`protocol//host:port`), with a connection cap so
 * a slow origin cannot take every socket, and connect/headers/body timeouts. Unless
 * private origins are allowed, every connection resolves through the SSRF guard, and an
 * IP-literal origin is checked before any connection is made.
 */
import { Pool, type Dispatcher } from 'undici';
import { isForbiddenOriginAddress } from '../../core/address.rules';
import { ForbiddenAddressError, guardedLookup } from './address-guard';
import type { OriginTarget } from './origin-target';

export interface OriginPoolsOptions {
  timeoutMs: number;
  allowPrivateOrigins: boolean;
  /** Concurrent connections per origin. */
  connections?: number;
}

export interface OriginRequest {
  method: string;
  /** Request path and query as sent to the origin (prefix included). */
  path: string;
  headers: Record<string, string | string[]>;
  body?: Dispatcher.DispatchOptions['body'];
  signal?: AbortSignal;
}

export const ORIGIN_CONNECTIONS_DEFAULT = 64;

export class OriginPools {
  readonly #options: Required<OriginPoolsOptions>;
  readonly #pools = new Map<string, Pool>();
  #closed = false;

  constructor(options: OriginPoolsOptions) {
    this.#options = { connections: ORIGIN_CONNECTIONS_DEFAULT, ...options };
  }

  get size(): number {
    return this.#pools.size;
  }

  request(target: OriginTarget, req: OriginRequest): Promise<Dispatcher.ResponseData> {
    if (!this.#options.allowPrivateOrigins && target.literalAddress !== undefined && isForbiddenOriginAddress(target.literalAddress)) {
      return Promise.reject(new ForbiddenAddressError(target.hostname, target.literalAddress));
    }
    return this.#pool(target.poolKey).request({
      method: req.method as Dispatcher.HttpMethod,
      path: req.path,
      headers: req.headers,
      body: req.body ?? null,
      signal: req.signal,
    });
  }

  /** Closes the pools no customer uses any more (in-flight requests finish first). */
  prune(inUse: ReadonlySet<string>): void {
    for (const [key, pool] of this.#pools) {
      if (inUse.has(key)) continue;
      this.#pools.delete(key);
      void pool.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
  }

  #pool(key: string): Pool {
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      if (this.#closed) throw new Error('origin pools are closed');
      const { timeoutMs, connections, allowPrivateOrigins } = this.#options;
      pool = new Pool(key, {
        connections,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        keepAliveTimeout: 4_000,
        connect: {
          timeout: Math.min(timeoutMs, 10_000),
          ...(allowPrivateOrigins ? {} : { lookup: guardedLookup }),
        },
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }
}
