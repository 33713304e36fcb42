/**
 * The state of one client request as it moves through the pipeline (Varnish's `req`,
 * `bereq`, `beresp` rolled into one object), and the long-lived things every step uses.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../../core/clock.port';
import type { CustomerConfig } from '../../core/customer.types';
import type { TenantSource } from '../../core/tenant.port';
import type { Logger } from '../../obs/logger.factory';
import type { CacheStore, StoredHeaders, StoredObject } from '../cache/cache-store.port';
import type { CacheResult, EdgeMetrics } from '../edge.metrics';
import type { OriginPools } from '../origin/origin-pools';
import type { OriginTargets } from '../origin/origin-target';

export interface PipelineContext {
  tenants: TenantSource & { isReady(): boolean };
  store: CacheStore;
  pools: OriginPools;
  targets: OriginTargets;
  clock: Clock;
  metrics: EdgeMetrics;
  logger: Logger;
  maxObjectBytes: number;
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
  key = '';
  /** GET/HEAD: looked up and possibly stored; anything else passes. */
  cacheable = false;
  cache: CacheResult = 'NONE';
  stored: StoredObject | undefined;
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
