/**
 * How a warm asks for a URL: a GET to this edge's own public port, over loopback (or the
 * address the port is bound to), with the customer's domain as Host, as a browser would send
 * it (`Accept-Encoding: br, gzip`). The request takes the whole request path, exactly as a
 * client's miss does: the hit lane, the delivery rules, the fill locks shared by the workers
 * of the edge (request collapsing), the store with the compression copy for that coding, the
 * customer's origin through its pools. Nothing of the pipeline needs to know about warming.
 *
 * A customer whose plain HTTP is redirected to HTTPS is asked over the edge's own HTTPS port,
 * with its domain as the TLS server name: a plain request would only get the redirect. The
 * certificate is the customer's and is not checked here (the connection never leaves this
 * host). The body is read to its end and dropped: a client that leaves mid-body makes the edge
 * stop the fill and keep nothing.
 */
import { Pool } from 'undici';
import type { WarmTarget } from '../../core/warm.types';

export interface WarmAnswer {
  /** Null: no answer (connection refused or reset, timed out, aborted). */
  status: number | null;
  /** The answer's X-Cache (HIT, MISS, STALE, REVALIDATED, BYPASS); null without one. */
  cache: string | null;
  /** Seconds a 429 asks to wait (Retry-After); null otherwise. */
  retryAfterSeconds: number | null;
  /** Why there was no answer. */
  error?: string;
}

export type WarmFetch = (target: WarmTarget, options: { secure: boolean; signal: AbortSignal }) => Promise<WarmAnswer>;

export interface LoopbackFetcherOptions {
  /** `http://127.0.0.1:<port>`: this edge's public port. */
  plainUrl: string;
  /** `https://127.0.0.1:<port>`, or undefined without a TLS listener (then every URL goes over plain HTTP). */
  tlsUrl: string | undefined;
  /** Connections per pool: the warm concurrency, no more are ever needed. */
  connections: number;
  /** Longest wait for the head, then between body chunks (the edge's own origin timeout lies below it). */
  timeoutMs: number;
  userAgent: string;
}

export class LoopbackFetcher {
  readonly #o: LoopbackFetcherOptions;
  readonly #plain: Pool;
  /** One pool per TLS server name (SNI is per connection), made when first needed. */
  readonly #secure = new Map<string, Pool>();

  constructor(options: LoopbackFetcherOptions) {
    this.#o = options;
    this.#plain = new Pool(options.plainUrl, { connections: options.connections });
  }

  fetch: WarmFetch = async (target, { secure, signal }) => {
    const pool = secure && this.#o.tlsUrl !== undefined ? this.#tlsPool(target.host) : this.#plain;
    try {
      const { statusCode, headers, body } = await pool.request({
        method: 'GET',
        path: target.path,
        headers: { host: target.host, 'accept-encoding': 'br, gzip', accept: '*/*', 'user-agent': this.#o.userAgent },
        signal,
        headersTimeout: this.#o.timeoutMs,
        bodyTimeout: this.#o.timeoutMs,
      });
      // Read to the end (and drop): the fill stores the object only once its client has had all of it.
      for await (const _chunk of body) {
        // nothing kept
      }
      const retryAfter = statusCode === 429 ? Number(one(headers['retry-after'])) : Number.NaN;
      return { status: statusCode, cache: one(headers['x-cache']) ?? null, retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : null };
    } catch (err) {
      return { status: null, cache: null, retryAfterSeconds: null, error: err instanceof Error ? err.message : String(err) };
    }
  };

  /** Drops the HTTPS pools (one per name warmed): called when no warm runs, so they do not pile up. */
  idle(): void {
    for (const pool of this.#secure.values()) void pool.close().catch(() => {});
    this.#secure.clear();
  }

  async close(): Promise<void> {
    const pools = [this.#plain, ...this.#secure.values()];
    this.#secure.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }

  #tlsPool(host: string): Pool {
    let pool = this.#secure.get(host);
    if (pool === undefined) {
      pool = new Pool(this.#o.tlsUrl!, { connections: this.#o.connections, connect: { servername: host, rejectUnauthorized: false } });
      this.#secure.set(host, pool);
    }
    return pool;
  }
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
