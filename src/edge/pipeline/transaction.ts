/**
 * The state of one client request as it moves through the pipeline (Varnish's `req`,
 * `bereq`, `beresp` rolled into one object), and the long-lived things every step uses.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type CachePolicy from 'http-cache-semantics';
import type { Dispatcher } from 'undici';
import type { Clock } from '../../core/clock.port';
import type { CustomerConfig } from '../../core/customer.types';
import type { TenantSource } from '../../core/tenant.port';
import type { Logger } from '../../obs/logger.factory';
import type { CacheStore, ObjectMeta, StoredHeaders, StoredObject } from '../cache/cache-store.port';
import type { CacheResult, EdgeMetrics } from '../edge.metrics';
import type { OriginPools } from '../origin/origin-pools';
import type { OriginTargets } from '../origin/origin-target';
import type { Flights } from './fetch.flight';
import type { FillLocks } from './fill-locks';
import type { ByteRange, Multipart } from './range.rules';

export interface PipelineContext {
  tenants: TenantSource & { isReady(): boolean };
  store: CacheStore;
  pools: OriginPools;
  targets: OriginTargets;
  clock: Clock;
  metrics: EdgeMetrics;
  logger: Logger;
  maxObjectBytes: number;
  /** Origin fetches in flight, by collapse key (request collapsing). */
  flights: Flights;
  /** The same across the processes of this edge (a cluster): one origin fetch per key per machine. */
  fills: FillLocks;
  /** Bans and soft purges lookups must honour (absent: a store without the purge engine). */
  purges?: PurgeJudge;
  /** CDN_EDGE_LOG_SAMPLE: the share of requests that get a log line (0..1). */
  logSample: number;
  /** CDN_EDGE_CDN_ID: this CDN's name in CDN-Loop. */
  cdnId: string;
}

/** Whether this request gets its `request` log line: info enabled, and picked by the sample rate. */
export function sampled(ctx: PipelineContext): boolean {
  return ctx.logger.isLevelEnabled('info') && (ctx.logSample >= 1 || Math.random() < ctx.logSample);
}

/** What lookups ask of the purge engine (edge/purge/purge.engine.ts). */
export interface PurgeJudge {
  /** 'hard': never serve; 'soft': stale, revalidate before reuse; undefined: not purged. */
  judge(customerId: string, meta: ObjectMeta): 'hard' | 'soft' | undefined;
  /** Removes a hard-banned object found by a lookup (memory now, index and file in the background). */
  discard(customerId: string, meta: ObjectMeta): void;
}

/** A response the edge makes up itself (errors), sent as JSON. */
export interface Synthetic {
  status: number;
  body: Record<string, unknown>;
}

export class EdgeTransaction {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly startedAt = performance.now();
  /** The normalised Host (empty until resolved). */
  host = '';
  path = '';
  query = '';
  customer: CustomerConfig | undefined;
  /** The URL's key (customer, path, normalised query). */
  key = '';
  /** Set when the URL varies (a Vary marker was found): the key of this request's variant. */
  variantKey: string | undefined;
  /** The header names of that Vary marker. */
  markerVary: readonly string[] | undefined;
  /** GET/HEAD: looked up and possibly stored; anything else passes. */
  cacheable = false;
  cache: CacheResult = 'NONE';
  /** The stored object found at lookup (fresh, or stale and kept for revalidation / stale-if-error). */
  stored: StoredObject | undefined;
  /** Its RFC 9111 policy. */
  policy: CachePolicy | undefined;
  /** Go to the origin without joining a collapsed fetch (the shared answer did not fit this request). */
  solo = false;
  /** Times this request looked up or joined a fetch again (bounded). */
  retries = 0;
  /** Body length when known (Range needs it). */
  size: number | undefined;
  /** Deliver reads the body of `stored` (hit, stale, revalidated). */
  fromStore = false;
  /** Set by planAnswer: the byte ranges to cut out of the full body (206). */
  ranges: readonly ByteRange[] | undefined;
  multipart: Multipart | undefined;
  origin: Dispatcher.ResponseData | undefined;
  originMs: number | undefined;
  /** Aborts the origin request when the client goes away first. */
  abort: AbortController | undefined;
  synthetic: Synthetic | undefined;
  /** What deliver sends. */
  status = 200;
  headers: StoredHeaders = {};
  body: Readable | undefined;
  bytes = 0;

  constructor(req: IncomingMessage, res: ServerResponse) {
    this.req = req;
    this.res = res;
  }

  get isHead(): boolean {
    return this.req.method === 'HEAD';
  }

  synth(status: number, body: Record<string, unknown>): 'synth' {
    this.synthetic = { status, body };
    return 'synth';
  }
}
