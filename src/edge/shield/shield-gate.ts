/**
 * The shield's side of the hop (core/shield-hop.ts): which requests come from an edge of this
 * fleet, and whether the shield's cache may answer them.
 *
 * - `admit`: a request with an Edgeplane-Hop field must carry a valid one (this fleet's key,
 *   this very request, within the window), or it is refused (403) before anything else is
 *   done with it; a valid one lets the request carry one CDN-Loop entry of this CDN (the
 *   edge's hop; client-limits.ts refuses a second) and makes its claims the request's client
 *   address and scheme.
 * - `caughtUp(seq)`: the asking edge had applied changes up to `seq`. The shield's cache may
 *   answer only once this shield has applied them too (else it could hand back an object the
 *   edge has purged); it waits up to CDN_EDGE_SHIELD_SEQ_WAIT_MS for its own feed, and past
 *   that the request is answered from the origin (pipeline/cache.steps.ts).
 */
import { HOP_FIELD, hopKey, verifyHop, type HopClaims, type HopVerdict } from '../../core/shield-hop';
import type { IncomingHttpHeaders } from 'node:http';

/** What the gate reads of a request (node:http's and node:http2's requests alike). */
interface HopCarrier {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
}

/** How often a shield behind an edge looks at its own applied seq while it waits. */
const SEQ_POLL_MS = 10;

export interface ShieldGateOptions {
  secretKey: string;
  /** The change seq this process has applied (its feed's). */
  appliedSeq(): number;
  seqWaitMs: number;
  now(): number;
}

export class ShieldGate {
  readonly #key: Buffer;
  readonly #o: ShieldGateOptions;

  constructor(options: ShieldGateOptions) {
    this.#o = options;
    this.#key = hopKey(options.secretKey);
  }

  /** Whether the request carries a hop field at all (only those are judged). */
  static carriesHop(req: HopCarrier): boolean {
    return req.headers[HOP_FIELD] !== undefined;
  }

  admit(req: HopCarrier): HopVerdict {
    const host = req.headers.host ?? (req.headers as Record<string, string | string[] | undefined>)[':authority'];
    if (typeof host !== 'string') return { ok: false, reason: 'a hop must carry exactly one Host' };
    return verifyHop(this.#key, req.headers[HOP_FIELD], { method: req.method ?? '', host, target: req.url ?? '' }, this.#o.now());
  }

  /** True once this process has applied `claims.seq`, waiting for it at most seqWaitMs. */
  async caughtUp(claims: HopClaims): Promise<boolean> {
    if (this.#o.appliedSeq() >= claims.seq) return true;
    const deadline = performance.now() + this.#o.seqWaitMs;
    while (performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, SEQ_POLL_MS));
      if (this.#o.appliedSeq() >= claims.seq) return true;
    }
    return false;
  }
}
