/**
 * Keep-alive undici Pools per origin (`protocol//host:port`), with a connection cap so
 * a slow origin cannot take every socket, and connect/headers/body timeouts. Unless
 * private origins are allowed, every connection resolves through the SSRF guard, and an
 * IP-literal origin is checked before any connection is made.
 *
 * Two pools per origin. A request whose body is still arriving from the client (a stream)
 * holds its origin connection for as long as the client takes to send it, and a client can
 * take as long as it likes within the edge's body timeout: 64 slow uploads once held every
 * connection of an origin, and that customer's cache misses waited behind them. So such
 * requests get a pool of their own, with its own smaller cap: uploads compete only with
 * uploads, and misses (and every request whose body the edge already holds whole, see
 * passFetch) never wait behind one.
 */
import { Pool, type Dispatcher } from 'undici';
import { isForbiddenOriginAddress } from '../../core/address.rules';
import { ForbiddenAddressError, guardedLookup } from './address-guard';
import type { OriginTarget } from './origin-target';

export interface OriginPoolsOptions {
  timeoutMs: number;
  allowPrivateOrigins: boolean;
  /** Concurrent connections per origin, for every request but streamed uploads. */
  connections?: number;
  /** Concurrent connections per origin for requests whose body streams from the client. */
  uploadConnections?: number;
  /** Certificate authorities trusted for https origins (PEM); undefined: Node's own list. */
  ca?: string[] | undefined;
}

export interface OriginRequest {
  method: string;
  /** Request path and query as sent to the origin (prefix included). */
  path: string;
  headers: Record<string, string | string[]>;
  /** A stream (a body still arriving from the client) goes through the origin's upload pool. */
  body?: Dispatcher.DispatchOptions['body'];
  signal?: AbortSignal;
}

export const ORIGIN_CONNECTIONS_DEFAULT = 64;
/** A quarter of the fill budget: enough for a site's uploads, and what slow ones can take is bounded apart from it. */
export const ORIGIN_UPLOAD_CONNECTIONS_DEFAULT = 16;

interface OriginPair {
  fills: Pool;
  /** Created on the first streamed upload to this origin. */
  uploads: Pool | undefined;
}

export class OriginPools {
  readonly #options: Required<Omit<OriginPoolsOptions, 'ca'>> & Pick<OriginPoolsOptions, 'ca'>;
  readonly #pools = new Map<string, OriginPair>();
  #closed = false;

  constructor(options: OriginPoolsOptions) {
    this.#options = { connections: ORIGIN_CONNECTIONS_DEFAULT, uploadConnections: ORIGIN_UPLOAD_CONNECTIONS_DEFAULT, ...options };
  }

  get size(): number {
    return this.#pools.size;
  }

  request(target: OriginTarget, req: OriginRequest): Promise<Dispatcher.ResponseData> {
    if (!this.#options.allowPrivateOrigins && target.literalAddress !== undefined && isForbiddenOriginAddress(target.literalAddress)) {
      return Promise.reject(new ForbiddenAddressError(target.hostname, target.literalAddress));
    }
    return this.#pool(target, streamsBody(req.body)).request({
      method: req.method as Dispatcher.HttpMethod,
      path: req.path,
      headers: req.headers,
      body: req.body ?? null,
      signal: req.signal,
      // undici takes a request's TLS server name from its Host header unless told (and closes
      // the connection when it changes): the origin's own, whatever Host it is asked with.
      servername: target.servername,
    } as Dispatcher.RequestOptions);
  }

  /** Closes the pools no customer uses any more (in-flight requests finish first). */
  prune(inUse: ReadonlySet<string>): void {
    for (const [key, pair] of this.#pools) {
      if (inUse.has(key)) continue;
      this.#pools.delete(key);
      for (const pool of poolsOf(pair)) void pool.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()].flatMap(poolsOf);
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
  }

  #pool(target: OriginTarget, upload: boolean): Pool {
    let pair = this.#pools.get(target.poolKey);
    if (pair === undefined) {
      if (this.#closed) throw new Error('origin pools are closed');
      pair = { fills: this.#create(target, this.#options.connections), uploads: undefined };
      this.#pools.set(target.poolKey, pair);
    }
    if (!upload) return pair.fills;
    pair.uploads ??= this.#create(target, this.#options.uploadConnections);
    return pair.uploads;
  }

  #create(target: OriginTarget, connections: number): Pool {
    const { timeoutMs, allowPrivateOrigins, ca } = this.#options;
    return new Pool(target.origin, {
      connections,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      keepAliveTimeout: 4_000,
      connect: {
        timeout: Math.min(timeoutMs, 10_000),
        ...(allowPrivateOrigins ? {} : { lookup: guardedLookup }),
        ...(target.servername === undefined ? {} : { servername: target.servername }),
        ...(ca === undefined ? {} : { ca }),
      },
    });
  }
}

function poolsOf(pair: OriginPair): Pool[] {
  return pair.uploads === undefined ? [pair.fills] : [pair.fills, pair.uploads];
}

/** A body the client is still sending: a Node stream or an async iterable (not a string or bytes held whole). */
export function streamsBody(body: OriginRequest['body']): boolean {
  if (body === null || body === undefined || typeof body === 'string' || body instanceof Uint8Array) return false;
  return typeof (body as { pipe?: unknown }).pipe === 'function' || Symbol.asyncIterator in (body as object);
}
