/**
 * An edge's way to its origin shields (docs/EDGE.md, "Origin shield"): the cache fill of a
 * miss (pipeline/fetch.flight.ts) goes to the shield the key hashes to (shield-directory.ts)
 * instead of the origin, signed as a hop of this fleet (core/shield-hop.ts) with the change
 * seq this edge has applied, so the shield never answers from a cache older than a purge this
 * edge already applied.
 *
 * The shield's answer is taken as the origin's (its status, fields and body; the fields the
 * shield adds for clients, X-Cache, are dropped). A shield that cannot be reached, times out
 * before answering, or refuses the hop (its `Edgeplane-Hop-Refused` field: another
 * CDN_SECRET_KEY, clocks apart) is left out for a while and this request asks the origin
 * itself: a shield is an optimisation, never a single point of failure.
 */
import { Pool, type Dispatcher } from 'undici';
import { hopKey, isHopEdgeId, signHop, type HopProto } from '../../core/shield-hop';
import type { Logger } from '../../obs/logger.factory';
import type { ShieldDirectory, ShieldNode } from './shield-directory';

/** The field a shield's refusal of a hop carries (the edge falls back to the origin on it). */
export const HOP_REFUSED_FIELD = 'edgeplane-hop-refused';

/** Fields a shield adds for its clients, never part of the object an edge stores. */
const SHIELD_FIELDS = ['x-cache', HOP_REFUSED_FIELD];

export const SHIELD_CONNECTIONS = 128;

export interface ShieldAsk {
  /** The cache key (which shield). */
  key: string;
  /** The customer's domain: the shield finds the customer by it. */
  domain: string;
  /** Path and normalised query, as this edge would ask the origin (before any origin path prefix). */
  path: string;
  /** The fields sent (origin-headers.ts shieldRequestHeaders), given the hop field. */
  headers(hop: string): Record<string, string | string[]>;
  clientIp: string;
  proto: HopProto;
  signal: AbortSignal;
}

export type ShieldAnswer =
  | { ok: true; res: Dispatcher.ResponseData; ms: number }
  /** `aborted`: the client left (ask no one); otherwise ask the origin. */
  | { ok: false; aborted: boolean; ms: number };

export interface ShieldRouteOptions {
  directory: ShieldDirectory;
  secretKey: string;
  /** This process's fleet id (the hop's `edge`). */
  edgeId: string;
  appliedSeq(): number;
  /** The origin timeout: a shield answers within it plus its own wait for the origin's slots. */
  timeoutMs: number;
  logger: Logger;
  now(): number;
}

export class ShieldRoute {
  readonly #o: ShieldRouteOptions;
  readonly #key: Buffer;
  readonly #pools = new Map<string, Pool>();
  readonly #log: Logger;
  #closed = false;

  constructor(options: ShieldRouteOptions) {
    this.#o = options;
    this.#key = hopKey(options.secretKey);
    this.#log = options.logger.child({ component: 'shield-route' });
    if (!isHopEdgeId(options.edgeId)) {
      this.#closed = true;
      this.#log.error({ edgeId: options.edgeId }, 'CDN_EDGE_ID cannot travel in a shield hop (printable, no spaces or ";", at most 200 characters): this edge sends its misses to the origins, never to a shield');
    }
  }

  /** The shield for this key; undefined: none is live (or all failed lately): ask the origin. */
  pick(key: string): ShieldNode | undefined {
    return this.#closed ? undefined : this.#o.directory.pick(key);
  }

  async ask(node: ShieldNode, ask: ShieldAsk): Promise<ShieldAnswer> {
    const started = performance.now();
    const hop = signHop(this.#key, { edge: this.#o.edgeId, seq: this.#o.appliedSeq(), client: ask.clientIp, proto: ask.proto }, { method: 'GET', host: ask.domain, target: ask.path }, this.#o.now());
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#pool(node).request({ method: 'GET', path: ask.path, headers: ask.headers(hop), signal: ask.signal });
    } catch (err) {
      const ms = performance.now() - started;
      if (ask.signal.aborted) return { ok: false, aborted: true, ms };
      this.#o.directory.failed(node, (err as { code?: string }).code ?? String(err));
      return { ok: false, aborted: false, ms };
    }
    const ms = performance.now() - started;
    const refused = res.headers[HOP_REFUSED_FIELD];
    if (refused !== undefined) {
      res.body.on('error', () => {});
      res.body.destroy();
      this.#log.error({ shield: node.url, status: res.statusCode, reason: refused }, 'the origin shield refused this edge\'s hop: is CDN_SECRET_KEY the same on every edge, and the clocks in sync? Asking the origin meanwhile');
      this.#o.directory.failed(node, `refused the hop: ${String(refused)}`);
      return { ok: false, aborted: false, ms };
    }
    for (const name of SHIELD_FIELDS) delete res.headers[name];
    return { ok: true, res, ms };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
  }

  #pool(node: ShieldNode): Pool {
    let pool = this.#pools.get(node.url);
    if (pool === undefined) {
      if (this.#closed) throw new Error('shield pools are closed');
      // A shield may wait for its origin (and its slots) as long as this edge would: plus a margin of its own.
      const timeout = this.#o.timeoutMs + 5_000;
      pool = new Pool(node.url, { connections: SHIELD_CONNECTIONS, headersTimeout: timeout, bodyTimeout: timeout, keepAliveTimeout: 4_000, connect: { timeout: Math.min(timeout, 5_000) } });
      this.#pools.set(node.url, pool);
    }
    return pool;
  }
}
