/**
 * The hit lane: the most common request a cache sees — a plain GET for a fresh object held
 * in this process's memory tier — answered synchronously inside the request callback,
 * through the same functions the pipeline's steps use (resolve: requestHost and the
 * customer index; lookup: the cache key, the purge judge, the freshness line; hit and
 * deliver: Age and the edge's own fields), so both give the same answer by construction.
 *
 * It exists for speed only: no transaction object, no promise per step, no header copy per
 * hit. It takes a request only when nothing the pipeline would do differently applies: any
 * doubt (another method, a conditional or Range header, a body, a percent-encoded or
 * absolute target, a bad or second Host, a Vary marker, a purge verdict, a stale object, an
 * object not in memory) returns false before anything is written, and the pipeline takes the
 * request. test/integration/edge.hit-lane.test.ts holds both paths to the same answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestHost } from '../../core/host.rules';
import type { ObjectMeta, StoredHeaders } from '../cache/cache-store.port';
import { cacheKey, normalizeQuery, splitTarget } from '../cache/cache-key';
import { ageAt, freshAt, freshnessLine } from '../cache/freshness.rules';
import type { MemoryTier } from '../cache/memory.tier';
import { addEdgeFields } from './deliver.steps';
import { sampled, type PipelineContext } from './transaction';

export interface HitLane {
  memory: MemoryTier;
  /** Notes the access for the disk tier's LRU order (batched, as the tiered store does). */
  touch(key: string): void;
  maxUrlBytes: number;
  /** Requests answered here (tests check the lane is taken). */
  served: number;
}

/** Request headers that make the pipeline's answer differ from a plain hit. */
const PIPELINE_HEADERS = ['range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'content-length', 'transfer-encoding', 'expect'];

/** What the lane keeps per stored object: the headers a hit sends (Age set per hit), and when the disk LRU last heard of it. */
interface LaneEntry {
  headers: StoredHeaders;
  touchedAt: number;
}

const entries = new WeakMap<ObjectMeta, LaneEntry>();
const TOUCH_EVERY_MS = 1000;

export function serveFromHitLane(req: IncomingMessage, res: ServerResponse, ctx: PipelineContext, lane: HitLane): boolean {
  if (req.method !== 'GET') return false;
  const target = req.url;
  if (target === undefined || target.charCodeAt(0) !== 0x2f /* / */ || target.length > lane.maxUrlBytes || target.includes('%')) return false;
  const headers = req.headers;
  for (const name of PIPELINE_HEADERS) if (headers[name] !== undefined) return false;
  // resolve
  const host = requestHost(req.rawHeaders, headers.host);
  if (!host.ok) return false;
  const customer = ctx.customers.byHost(host.host);
  if (customer === undefined) return false;
  // lookup
  const { path, query } = splitTarget(target);
  const key = cacheKey(customer.id, path, normalizeQuery(query, customer.queryString));
  const stored = lane.memory.hit(key);
  if (stored === undefined) return false;
  const meta = stored.meta;
  const body = stored.body;
  if (body === undefined || meta.vary !== undefined) return false;
  if (ctx.purges !== undefined && ctx.purges.judge(customer.id, meta) !== undefined) return false;
  const line = freshnessLine(meta, ctx.clock);
  if (line === undefined) return false;
  const now = ctx.clock.now();
  if (!freshAt(line, now)) return false;
  // hit, deliver
  let entry = entries.get(meta);
  if (entry === undefined) {
    entry = { headers: addEdgeFields({ ...meta.headers, age: '0' }, 'HIT'), touchedAt: 0 };
    entries.set(meta, entry);
  }
  if (now - entry.touchedAt >= TOUCH_EVERY_MS) {
    entry.touchedAt = now;
    lane.touch(key);
  }
  const out = entry.headers;
  // Set just before writeHead reads it: nothing else runs in between.
  out.age = String(Math.max(0, Math.floor(ageAt(line, now))));
  res.writeHead(meta.status, out);
  res.end(body);
  lane.served += 1;

  ctx.metrics.meter(customer.id).answered('HIT', meta.status, body.length);
  if (sampled(ctx)) {
    ctx.logger.info({ customer: customer.id, method: 'GET', path, status: meta.status, cache: 'HIT', bytes: body.length, ms: 0 }, 'request');
  }
  return true;
}
