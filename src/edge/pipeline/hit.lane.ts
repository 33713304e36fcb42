/**
 * The hit lane: the most common request a cache sees — a plain GET for a fresh object held
 * in this process's memory tier — answered synchronously inside the request callback,
 * through the same functions the pipeline's steps use (resolve: requestHost's rules and the
 * customer index; lookup: the cache key, the purge judge, the freshness line; hit and
 * deliver: Age and the edge's own fields), so both give the same answer by construction.
 *
 * It exists for speed only: no transaction object, no promise per step, no header object
 * (the raw header list is read once), no allocation per hit beyond the response itself, the
 * memory tier's recency and the disk's LRU order noted at most once a second per object. It
 * takes a request only when nothing the pipeline would do differently applies: any doubt
 * (another method, a conditional or Range header, a body, CDN-Loop or a shield's hop field, a percent-encoded or
 * absolute target, a bad or second Host, a Vary marker, a purge verdict, a stale object, an
 * object not in memory, a plain-HTTP request the customer's HTTPS rules answer themselves)
 * returns false before anything is written, and the pipeline takes the request.
 * test/integration/edge.hit-lane.test.ts holds both paths to the same answers.
 *
 * h2 requests take the lane too: their `:authority` stands for Host (resolve's rule), and
 * over TLS the customer's Strict-Transport-Security is added as deliver adds it.
 *
 * On the plain port a kept-alive HTTP/1.1 answer is written as bytes the lane made once per
 * answer's fields (raw-answer.ts), when node:http would send exactly those; otherwise, and on
 * TLS and h2, through writeHead.
 *
 * Compression (content-coding.choice.ts, the same rules): a client whose Accept-Encoding comes
 * out as br or gzip gets the object's stored encoded copy when this process holds it in memory
 * (the answer's fields built once per copy); with no such copy in memory (not made yet, on
 * disk only, made from an older body) the pipeline takes the request and makes or reads it. An
 * origin-encoded object goes to the lane only for clients that accept its coding (the others
 * need it decoded). Accept-Encoding values are negotiated once per distinct value (bounded map).
 */
import type { ServerResponse } from 'node:http';
import { acceptsCoding, negotiateCoding } from '../../core/content-coding.rules';
import type { CustomerConfig } from '../../core/customer.types';
import { applyQueryPolicy, parseCookies, requestFacts, type CompiledRules, type Decision, type RequestFacts } from '../../core/delivery-rules.compile';
import { parseHostHeader, type HostParse } from '../../core/host.rules';
import { HOP_FIELD } from '../../core/shield-hop';
import type { ObjectMeta, StoredHeaders } from '../cache/cache-store.port';
import { cacheKey, encodedKey, splitTarget } from '../cache/cache-key';
import { ageAt, freshAt, freshnessLine, type FreshnessLine } from '../cache/freshness.rules';
import type { Held, MemoryTier } from '../cache/memory.tier';
import type { Transport } from '../metrics.catalog';
import { bodySourceOf, encodedHeaders, mayDecode, mayEncodeStored, varyWithAcceptEncoding, type CompressionSettings } from './compression.rules';
import { changesNoFields, ruledResponseHeaders } from './customer-rules';
import { addEdgeFields, writeHead } from './deliver.steps';
import { hstsOf, plainNeedsPipeline, serverNameOf } from './https.step';
import { writeRawAnswer } from './raw-answer';
import { sampled, type ClientRequest, type ClientResponse, type PipelineContext } from './transaction';

export interface HitLane {
  memory: MemoryTier;
  /** Notes the access for the disk tier's LRU order (batched, as the tiered store does). */
  touch(key: string): void;
  maxUrlBytes: number;
  /** Requests answered here (tests check the lane is taken). */
  served: number;
  /**
   * The connection fields of a kept-alive answer on the plain port (raw-answer.ts
   * keepAliveFields, from the server's keepAliveTimeout); undefined: answers go through writeHead.
   */
  connectionFields?: string;
}

/**
 * Request fields that make the pipeline's answer differ from a plain hit (conditionals,
 * ranges, a body, CDN-Loop: the pipeline refuses a loop; a shield's hop field: the shield
 * gate judges it), by length: the raw list is scanned once, and a name is lower-cased only
 * when its length matches one of them.
 */
const PIPELINE_FIELDS = new Map<number, readonly string[]>();
for (const name of ['range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'content-length', 'transfer-encoding', 'expect', 'cdn-loop', HOP_FIELD]) {
  PIPELINE_FIELDS.set(name.length, [...(PIPELINE_FIELDS.get(name.length) ?? []), name]);
}

/** How an object's answer depends on Accept-Encoding. */
const AS_STORED = 0;
/** The edge may compress it: identity, or a stored encoded copy. */
const ENCODABLE = 1;
/** Origin-encoded: as stored for clients accepting the coding, decoded (pipeline) for the others. */
const ORIGIN_CODED = 2;

/** An encoded copy's answer as the lane sends it, built once per copy held in memory. */
interface LaneCopy {
  held: Held;
  headers: StoredHeaders;
}

/**
 * What the lane keeps per stored object: its freshness line, the headers a hit sends (Age set
 * per hit), when it last noted the access, and how its coding is chosen (for the customer
 * version it was judged for: a change of `compressTypes` is a new customer object).
 */
interface LaneEntry {
  line: FreshnessLine;
  headers: StoredHeaders;
  touchedAt: number;
  customer: CustomerConfig;
  coding: typeof AS_STORED | typeof ENCODABLE | typeof ORIGIN_CODED;
  /** ORIGIN_CODED: the accept bit of its coding; ENCODABLE: its body's name for the copies. */
  acceptBit: number;
  from: string;
  /** ENCODABLE: where its copies are, and the last copy answers built. */
  brKey: string;
  gzipKey: string;
  br: LaneCopy | undefined;
  gzip: LaneCopy | undefined;
}

const entries = new WeakMap<ObjectMeta, LaneEntry>();
const TOUCH_EVERY_MS = 1000;

/**
 * Accept-Encoding values already negotiated (browsers send a handful of spellings), bounded:
 * the negotiated coding in the low bits (CODING_*), and which codings are acceptable above.
 */
const codings = new Map<string, number>();
const CODINGS_MAX = 1024;
const CODING_IDENTITY = 0;
const CODING_BR = 1;
const CODING_GZIP = 2;
const CODING_MASK = 3;
const ACCEPTS_GZIP = 4;
const ACCEPTS_BR = 8;
const ACCEPTS_DEFLATE = 16;
/** No Accept-Encoding field: identity, nothing accepted. */
const NO_FIELD = CODING_IDENTITY;

/** Host field values already parsed (the same few spellings arrive again and again); bounded. */
const hosts = new Map<string, HostParse>();
const HOSTS_MAX = 1024;

/**
 * What the lane knows of a request target for one customer version: its path and query, and
 * with path-only rules its decision and key, worked out once; with rules that read headers or
 * cookies, the key of each decision met so far (`keys`). A key undefined: the decision asks for
 * something only the pipeline does (access checks, a redirect, a bypass, header or cookie values
 * in the key).
 */
interface LaneTarget {
  path: string;
  query: string;
  /** Path-only rules: the decision (undefined: decided per request). */
  decision: Decision | undefined;
  key: string | undefined;
  keys: Map<Decision, string | undefined> | undefined;
  /** Rules that read headers: their decide for this path (the path-only rules judged once). */
  decide: ((facts: RequestFacts) => Decision) | undefined;
}

/**
 * Per customer version, request target -> LaneTarget (split, query shaped by the rules,
 * joined once). Bounded for the whole process: past KEYS_MAX entries it starts afresh.
 */
let keys = new Map<CustomerConfig, Map<string, LaneTarget>>();
let keysHeld = 0;
const KEYS_MAX = 16_384;

export function serveFromHitLane(req: ClientRequest, res: ClientResponse, ctx: PipelineContext, lane: HitLane, transport: Transport, laneStart = 0): boolean {
  if (req.method !== 'GET') return false;
  const target = req.url;
  if (target === undefined || target.charCodeAt(0) !== 0x2f /* / */ || target.length > lane.maxUrlBytes || target.includes('%')) return false;
  // resolve
  scannedAcceptEncoding = undefined;
  const hostField = plainHost(req.rawHeaders);
  if (hostField === undefined) return false;
  const host = parsedHost(hostField);
  if (!host.ok) return false;
  const customer = ctx.customers.byHost(host.host);
  if (customer === undefined) return false;
  // https
  if (transport === 'http' && customer.tls !== undefined && plainNeedsPipeline(customer, host.host, target, ctx)) return false;
  // Over TLS, a host other than the connection's server name is the https step's to judge (421 or not).
  if (transport !== 'http' && serverNameOf(req) !== host.host) return false;
  // rules: path-only rules are judged once per target; rules reading headers or cookies per
  // request, from the raw header list; a decision the lane cannot carry out is the pipeline's
  const rules = ctx.rules(customer);
  if ('failed' in rules) return false;
  const laneTarget = targetOf(customer, target, rules.compiled);
  let decision = laneTarget.decision;
  let key = laneTarget.key;
  if (decision === undefined) {
    decision = laneTarget.decide!(rawFacts(req.rawHeaders, laneTarget.path));
    key = keyFor(laneTarget, decision, customer);
  }
  if (key === undefined) return false;
  // lookup
  const held = lane.memory.peek(key);
  if (held === undefined) return false;
  const meta = held.meta;
  if (meta.vary !== undefined) return false;
  if (ctx.purges !== undefined && ctx.purges.judge(customer.id, meta) !== undefined) return false;
  let entry = entries.get(meta);
  if (entry === undefined || entry.customer !== customer) {
    entry = laneEntry(meta, customer, ctx);
    if (entry === undefined) return false;
    entries.set(meta, entry);
  }
  const now = ctx.clock.now();
  if (!freshAt(entry.line, now)) return false;
  // content coding: the answer is this object's identity, its stored copy, or the pipeline's to make
  let out = entry.headers;
  let body = held.body;
  let copyCoding: 'br' | 'gzip' | undefined;
  if (entry.coding !== AS_STORED) {
    const negotiated = scannedAcceptEncoding === undefined ? NO_FIELD : codingOf(scannedAcceptEncoding);
    if (entry.coding === ORIGIN_CODED) {
      if ((negotiated & entry.acceptBit) === 0) return false;
    } else if ((negotiated & CODING_MASK) !== CODING_IDENTITY) {
      copyCoding = (negotiated & CODING_MASK) === CODING_BR ? 'br' : 'gzip';
      const copy = laneCopy(entry, copyCoding, lane.memory);
      if (copy === undefined) return false;
      if (copy !== USELESS) {
        out = copy.headers;
        body = copy.held.body;
      } else copyCoding = undefined;
    }
  }
  // hit, deliver
  if (now - entry.touchedAt >= TOUCH_EVERY_MS) {
    entry.touchedAt = now;
    lane.memory.touch(key);
    lane.touch(key);
  }
  const hsts = transport === 'http' ? null : (customer.tls?.hsts ?? null);
  if (!changesNoFields(decision)) {
    // deliver applies the rules after HSTS: a rule about that field is the pipeline's.
    if (hsts !== null && touchesHsts(decision)) return false;
    out = ruledHeadersOf(out, decision);
  }
  const age = Math.max(0, Math.floor(ageAt(entry.line, now)));
  // Plain HTTP/1.1: the answer's bytes made once per fields object (raw-answer.ts), when node:http would send the same.
  const raw = transport === 'http' && lane.connectionFields !== undefined && writeRawAnswer(res as ServerResponse, meta.status, out, age, body, lane.connectionFields);
  if (!raw) {
    // Set just before writeHead reads it: nothing else runs in between.
    out.age = String(age);
    if (hsts !== null) out = { ...out, 'strict-transport-security': hstsOf(hsts) };
    writeHead(res, meta.status, out);
    res.end(body);
  }
  lane.served += 1;

  ctx.metrics.meter(customer.id).answered('HIT', meta.status, body.length, transport, laneTarget.path);
  const accessLog = ctx.accessLog;
  if (accessLog !== undefined && accessLog.wants(customer.id)) {
    // The lane answers within the request callback: its request time is the time up to here.
    accessLog.record(req, { customer: customer.id, host: host.host, path: laneTarget.path, status: meta.status, bytes: body.length, cache: 'HIT', originMs: undefined, startedAt: laneStart, transport, aborted: false });
  }
  if (copyCoding !== undefined) ctx.metrics.compression.sent(copyCoding, body.length, held.body.length);
  if (sampled(ctx)) {
    ctx.logger.info({ customer: customer.id, method: 'GET', transport, path: splitTarget(target).path, status: meta.status, cache: 'HIT', bytes: body.length, ms: 0 }, 'request');
  }
  return true;
}

/** What the lane keeps for a stored object (undefined: no freshness line, the pipeline decides). */
function laneEntry(meta: ObjectMeta, customer: CustomerConfig, ctx: PipelineContext): LaneEntry | undefined {
  const line = freshnessLine(meta, ctx.clock);
  if (line === undefined) return undefined;
  const settings: CompressionSettings | undefined = ctx.compression?.settings;
  const headers: StoredHeaders = { ...meta.headers, age: '0' };
  const entry: LaneEntry = { line, headers, touchedAt: 0, customer, coding: AS_STORED, acceptBit: 0, from: '', brKey: '', gzipKey: '', br: undefined, gzip: undefined };
  if (settings !== undefined && settings.enabled) {
    const decodable = mayDecode(meta.status, meta.headers, settings);
    if (decodable !== undefined) {
      entry.coding = ORIGIN_CODED;
      entry.acceptBit = decodable === 'gzip' ? ACCEPTS_GZIP : decodable === 'br' ? ACCEPTS_BR : ACCEPTS_DEFLATE;
    } else if (mayEncodeStored(meta, customer, settings)) {
      entry.coding = ENCODABLE;
      entry.from = bodySourceOf(meta);
      entry.brKey = encodedKey(meta.key, 'br');
      entry.gzipKey = encodedKey(meta.key, 'gzip');
    }
    if (entry.coding !== AS_STORED) headers.vary = varyWithAcceptEncoding(headers.vary);
  }
  addEdgeFields(headers, 'HIT');
  return entry;
}

const USELESS = 'useless';

/**
 * The `coding` copy of an ENCODABLE entry's body, as held in this process's memory (its
 * answer built on first use); USELESS when the coding gains nothing for this body (the
 * identity is sent); undefined when memory holds no copy of this body.
 */
function laneCopy(entry: LaneEntry, coding: 'br' | 'gzip', memory: MemoryTier): LaneCopy | typeof USELESS | undefined {
  const held = memory.peek(coding === 'br' ? entry.brKey : entry.gzipKey);
  if (held === undefined) return undefined;
  const encoded = held.meta.encoded;
  if (encoded === undefined || encoded.from !== entry.from || encoded.coding !== coding) return undefined;
  if (encoded.useless === true) return USELESS;
  const known = coding === 'br' ? entry.br : entry.gzip;
  if (known !== undefined && known.held === held) return known;
  // entry.headers: the identity's answer (Vary, X-Cache, Via added): the copy's differs in coding, length and ETag.
  const copy: LaneCopy = { held, headers: encodedHeaders(entry.headers, coding, held.body.length) };
  if (coding === 'br') entry.br = copy;
  else entry.gzip = copy;
  return copy;
}

/** The negotiated coding and accepted codings of an Accept-Encoding value (negotiated once per value). */
function codingOf(field: string): number {
  let bits = codings.get(field);
  if (bits === undefined) {
    const chosen = negotiateCoding(field);
    bits = chosen === 'br' ? CODING_BR : chosen === 'gzip' ? CODING_GZIP : CODING_IDENTITY;
    if (acceptsCoding(field, 'gzip')) bits |= ACCEPTS_GZIP;
    if (acceptsCoding(field, 'br')) bits |= ACCEPTS_BR;
    if (acceptsCoding(field, 'deflate')) bits |= ACCEPTS_DEFLATE;
    if (codings.size >= CODINGS_MAX) codings.clear();
    codings.set(field, bits);
  }
  return bits;
}

/** The Accept-Encoding value plainHost saw in the request it scanned last (one field; several: joined). */
let scannedAcceptEncoding: string | undefined;

/**
 * The Host field when it is the only one (RFC 9110 §7.2; resolve's requestHost refuses two),
 * or on h2 the `:authority` when there is no Host field (HTTP/1 never has a field of that
 * name: `:` is not a token character), and no field asks for the pipeline; undefined otherwise.
 */
function plainHost(raw: readonly string[]): string | undefined {
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && isHost(name)) {
      if (host !== undefined) return undefined;
      host = raw[i + 1]!;
      continue;
    }
    if (name.length === 10 && name.charCodeAt(0) === 0x3a /* : */ && name === ':authority') {
      // Host and :authority together: resolve compares them.
      if (host !== undefined) return undefined;
      host = raw[i + 1]!;
      continue;
    }
    if (name.length === 15 && isAcceptEncoding(name)) {
      const value = raw[i + 1]!;
      scannedAcceptEncoding = scannedAcceptEncoding === undefined ? value : `${scannedAcceptEncoding}, ${value}`;
      continue;
    }
    const candidates = PIPELINE_FIELDS.get(name.length);
    if (candidates !== undefined && candidates.includes(name.toLowerCase())) return undefined;
  }
  return host;
}

const ACCEPT_ENCODING = 'accept-encoding';

/** `name` (15 characters) is "accept-encoding" in any case, without lower-casing a copy. */
function isAcceptEncoding(name: string): boolean {
  for (let i = 0; i < 15; i += 1) {
    if ((name.charCodeAt(i) | 0x20) !== ACCEPT_ENCODING.charCodeAt(i)) return false;
  }
  return true;
}

/** `name` is "host" in any case, without lower-casing a copy. */
function isHost(name: string): boolean {
  return (name.charCodeAt(0) | 0x20) === 0x68 && (name.charCodeAt(1) | 0x20) === 0x6f && (name.charCodeAt(2) | 0x20) === 0x73 && (name.charCodeAt(3) | 0x20) === 0x74;
}

function parsedHost(field: string): HostParse {
  let parsed = hosts.get(field);
  if (parsed === undefined) {
    parsed = parseHostHeader(field);
    if (hosts.size >= HOSTS_MAX) hosts.clear();
    hosts.set(field, parsed);
  }
  return parsed;
}

/** The lane's view of a target: lookup's key (the rules' query policy) and the decision, once per customer version and target. */
function targetOf(customer: CustomerConfig, target: string, rules: CompiledRules): LaneTarget {
  let byTarget = keys.get(customer);
  if (byTarget === undefined) {
    byTarget = new Map();
    keys.set(customer, byTarget);
  }
  let known = byTarget.get(target);
  if (known === undefined) {
    const { path, query } = splitTarget(target);
    known = { path, query, decision: undefined, key: undefined, keys: undefined, decide: undefined };
    if (rules.pathOnly) {
      // Path-only rules: the method, headers and cookies are never looked at.
      const decision = rules.decide(requestFacts({ method: 'GET', path, headers: NO_HEADERS }));
      known.decision = decision;
      known.key = laneKey(customer, path, query, decision);
    } else {
      known.keys = new Map();
      known.decide = rules.forPath(path);
    }
    if (keysHeld >= KEYS_MAX) {
      keys = new Map([[customer, byTarget]]);
      byTarget.clear();
      keysHeld = 0;
    }
    byTarget.set(target, known);
    keysHeld += 1;
  }
  return known;
}

const NO_HEADERS = Object.freeze({});
/** Decisions kept per target for rules that read headers (a target meets a few combinations). */
const DECISIONS_PER_TARGET_MAX = 16;

/** lookup's key for a decision the lane can carry out, else undefined. */
function laneKey(customer: CustomerConfig, path: string, query: string, decision: Decision): string | undefined {
  const servable = decision.access === undefined && decision.redirect === undefined && !decision.bypass && decision.keyHeaders.length === 0 && decision.keyCookies.length === 0;
  return servable ? cacheKey(customer.id, path, applyQueryPolicy(query, decision.query)) : undefined;
}

function keyFor(target: LaneTarget, decision: Decision, customer: CustomerConfig): string | undefined {
  const keys = target.keys!;
  if (keys.has(decision)) return keys.get(decision);
  const key = laneKey(customer, target.path, target.query, decision);
  if (keys.size >= DECISIONS_PER_TARGET_MAX) keys.clear();
  keys.set(decision, key);
  return key;
}

/** Fields of which node:http keeps the first and drops repeats (IncomingMessage#headers): the lane reads them the same way. */
const FIRST_ONLY = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

/**
 * RequestFacts over the raw header list (no header object is built): a GET of `path`, a field
 * found by a case-insensitive scan (repeated fields read as node:http reads them), cookies
 * parsed on the first one asked for. One object for the whole process, filled per request:
 * the lane runs synchronously, so no two requests ever share it at once, and a hit allocates
 * nothing for its facts.
 */
class RawFacts implements RequestFacts {
  readonly method = 'GET';
  path = '';
  #raw: readonly string[] = [];
  #cookies: ReadonlyMap<string, string> | undefined;

  reset(raw: readonly string[], path: string): this {
    this.#raw = raw;
    this.path = path;
    this.#cookies = undefined;
    return this;
  }

  header(name: string): string | undefined {
    const raw = this.#raw;
    let value: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const field = raw[i]!;
      if (field.length !== name.length || field.toLowerCase() !== name) continue;
      if (value === undefined) value = raw[i + 1]!;
      else if (FIRST_ONLY.has(name)) break;
      else value = `${value}${name === 'cookie' ? '; ' : ', '}${raw[i + 1]!}`;
    }
    return value;
  }

  cookie(name: string): string | undefined {
    if (this.#cookies === undefined) {
      const field = this.header('cookie');
      this.#cookies = field === undefined ? NO_COOKIES : parseCookies(field);
    }
    return this.#cookies.get(name);
  }
}

const NO_COOKIES: ReadonlyMap<string, string> = new Map();
const laneFacts = new RawFacts();

function rawFacts(raw: readonly string[], path: string): RequestFacts {
  return laneFacts.reset(raw, path);
}

/** Answer fields with the rules applied, made once per fields object and decision (the lane's fields objects live as long as their entries). */
const ruled = new WeakMap<StoredHeaders, { decision: Decision; headers: StoredHeaders }>();

function ruledHeadersOf(headers: StoredHeaders, decision: Decision): StoredHeaders {
  const known = ruled.get(headers);
  if (known !== undefined && known.decision === decision) return known.headers;
  const made = ruledResponseHeaders(headers, decision);
  ruled.set(headers, { decision, headers: made === headers ? { ...made } : made });
  return ruled.get(headers)!.headers;
}

function touchesHsts(decision: Decision): boolean {
  return decision.responseHeaders.some((op) => op.name === 'strict-transport-security');
}
