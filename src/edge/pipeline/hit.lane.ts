/**
 * The hit lane: the most common request a cache sees — a plain GET for a fresh object held
 * in this process's memory tier — answered synchronously inside the request callback, with
 * the same answer the pipeline gives (resolve → lookup → hit → deliver: the stored status
 * and headers, Age, X-Cache: HIT, Via, the body in one write; the same metrics and log line).
 *
 * It exists for speed only: no transaction object, no promise per step, no header copy per
 * step. It takes a request only when nothing the pipeline would do differently applies: any
 * doubt (another method, a conditional or Range header, a body, a percent-encoded or
 * absolute target, a second Host, a Vary marker, a purge verdict, a stale object, an object
 * not in memory) returns false before anything is written, and the pipeline takes the request.
 * test/integration/edge.hit-lane.test.ts holds both paths to the same answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseHostHeader } from '../../core/host.rules';
import type { ObjectMeta, StoredHeaders } from '../cache/cache-store.port';
import { cacheKey, normalizeQuery, splitTarget } from '../cache/cache-key';
import { policyOf } from '../cache/freshness.rules';
import type { MemoryTier } from '../cache/memory.tier';
import { VIA } from '../origin/origin-headers';
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

/**
 * What the lane keeps per stored object (a new meta object, after a 304 refresh say, gets a
 * new entry): the headers a hit sends, and its freshness as a line. http-cache-semantics'
 * age() is the stored age plus the time since the response, and maxAge() depends on the
 * response alone, so fresh-or-stale and Age are exact without asking the policy each time.
 */
interface LaneEntry {
  headers: Record<string, string | string[]>;
  /** Seconds (policy.maxAge()). */
  maxAge: number;
  /** policy.age() in seconds at `at` (ms, the edge's clock). */
  age: number;
  at: number;
  /** When the disk tier's LRU order last heard of a hit (at most once a second). */
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
  if (!singleHost(req.rawHeaders)) return false;
  const host = parseHostHeader(headers.host);
  if (!host.ok) return false;
  const customer = ctx.tenants.byHost(host.host);
  if (customer === undefined) return false;
  const { path, query } = splitTarget(target);
  const key = cacheKey(customer.id, path, normalizeQuery(query, customer.queryString));
  const stored = lane.memory.hit(key);
  if (stored === undefined) return false;
  const meta = stored.meta;
  const body = stored.body;
  if (body === undefined || meta.vary !== undefined) return false;
  if (ctx.purges !== undefined && ctx.purges.judge(customer.id, meta) !== undefined) return false;
  const now = ctx.clock.now();
  let entry = entries.get(meta);
  if (entry === undefined) {
    const policy = policyOf(meta, ctx.clock);
    if (policy === undefined) return false;
    entry = { headers: withHitFields(meta.headers), maxAge: policy.maxAge(), age: policy.age(), at: now, touchedAt: 0 };
    entries.set(meta, entry);
  }
  // RFC 9111 §4.2: fresh while current_age < freshness_lifetime (the library's !stale()).
  const age = entry.age + (now - entry.at) / 1000;
  if (age >= entry.maxAge) return false;

  if (now - entry.touchedAt >= TOUCH_EVERY_MS) {
    entry.touchedAt = now;
    lane.touch(key);
  }
  const out = entry.headers;
  // Set just before writeHead reads it: nothing else runs in between.
  out.age = String(Math.max(0, Math.floor(age)));
  res.writeHead(meta.status, out);
  res.end(body);
  lane.served += 1;

  ctx.metrics.meter(customer.id).answered('HIT', meta.status, body.length);
  if (sampled(ctx)) {
    ctx.logger.info({ customer: customer.id, method: 'GET', path, status: meta.status, cache: 'HIT', bytes: body.length, ms: 0 }, 'request');
  }
  return true;
}

/** RFC 9110 §7.2: exactly one Host field (the pipeline answers 400 to two). */
function singleHost(raw: string[]): boolean {
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts += 1;
  }
  return hosts === 1;
}

/** The stored headers plus what deliverStep adds to a hit: X-Cache and this edge in Via (RFC 9110 §7.6.3). */
function withHitFields(stored: StoredHeaders): Record<string, string | string[]> {
  const via = stored.via;
  return {
    ...stored,
    'x-cache': 'HIT',
    via: via === undefined ? VIA : `${Array.isArray(via) ? via.join(', ') : via}, ${VIA}`,
    age: '0',
  };
}
