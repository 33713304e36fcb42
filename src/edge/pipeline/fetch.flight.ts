/**
 * One origin fetch for a cacheable request, detached from any one client (Varnish's busy
 * object and backend fetch). Every client that misses the same key while it runs waits
 * on it instead of asking the origin again (request collapsing): one origin request per
 * key however many clients wait.
 *
 * RFC 9111 §4: collapsed requests share only a response that may be stored and reused
 * (storable and fresh). Anything else (private, no-store, Set-Cookie, 5xx, Vary for other
 * values) goes to the leader alone; each follower then asks the origin itself.
 *
 * A shared body streams to every waiter as it arrives and into the store (a small one reaches
 * its waiters whole instead: whole(), fetch.step.ts WHOLE_BODY_MAX). Chunks are kept
 * for replay up to REPLAY_MAX_BYTES so late joiners get the whole body; past that a late
 * joiner waits for the store and reads the stored object. The slowest of the store and
 * the clients (each allowed CLIENT_BUFFER_BYTES of backlog) sets the pace. The last chunk
 * is held until this process can read the object from the store (a small body: as soon as
 * memory holds it, before its index entry's batch commits; otherwise once the put has
 * settled), so a client that saw the complete body and asks again at once finds it
 * there. The fetch is abandoned (nothing stored) when the last client waiting for it goes
 * away; a background refresh is never abandoned.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import type CachePolicy from 'http-cache-semantics';
import type { Dispatcher } from 'undici';
import type { CustomerConfig } from '../../core/customer.types';
import type { Decision } from '../../core/delivery-rules.compile';
import { cdnError, httpErrorBody, type CdnError } from '../../core/errors';
import { variantKey } from '../cache/cache-key';
import { INDEX_BODY_MAX } from '../cache/metadata.index';
import type { ObjectMeta, PutOutcome, StoredHeaders } from '../cache/cache-store.port';
import {
  createPolicy,
  freshSeconds,
  hasValidators,
  isFresh,
  isStorable,
  notModifiedMatches,
  tagsOf,
  updatedHeaders,
  validatorHeaders,
  type FreshnessInput,
  type StoredPolicy,
} from '../cache/freshness.rules';
import { newVaryEpoch, variantId, varyField, varyNames } from '../cache/vary.rules';
import { endToEndResponseHeaders, originRequestHeaders, shieldRequestHeaders, variantRequestHeaders } from '../origin/origin-headers';
import type { OriginTarget } from '../origin/origin-target';
import { newBodyId } from './compression.rules';
import { FILL_RETRY, FILL_STORED, FILL_UNSHARED, type FillOutcome } from './fill-locks';
import { originFailureKind } from './origin-failure.rules';
import type { FlightContext, Synthetic } from './flight.context';
import { askOrigin, customerSlot, discardBody, holdUntilRead, type OriginOutcome } from './origin.request';

export { discardBody } from './origin.request';

export const REPLAY_MAX_BYTES = 4 * 1024 * 1024;
/**
 * A body whose Content-Length is at most this goes to the store in one call once complete, as
 * the parts kept for replay, instead of through a stream of its own: the disk keeps bodies up
 * to this size in its index, written in one transaction anyway.
 */
const STORE_WHOLE_MAX = INDEX_BODY_MAX;
const CLIENT_BUFFER_BYTES = 1024 * 1024;

export interface FlightRequest {
  /** The URL's key. */
  key: string;
  /** Where waiters find this fetch (the variant key when the URL is known to vary). */
  collapseKey: string;
  customer: CustomerConfig;
  /** Path and normalised query at the origin (askOrigin adds the chosen origin's path prefix). */
  path: string;
  /** The names of the URL's Vary marker when the lookup found one. */
  markerVary?: readonly string[] | undefined;
  /** The leading client's request headers (Authorization, no-store and Vary values count). */
  requestHeaders: IncomingHttpHeaders;
  /** The customer's domain the client asked for (normalised): the origin's X-Forwarded-Host. */
  domain: string;
  clientIp: string | undefined;
  /** The leading client's scheme (the origin's X-Forwarded-Proto); default http. */
  proto?: 'http' | 'https';
  /** A stale stored object to revalidate (RFC 9111 §4.3), and where it is stored. */
  stale?: { meta: ObjectMeta; policy: CachePolicy; objectKey: string };
  /** Background refresh (stale-while-revalidate): never abandoned. */
  background?: boolean;
  /** The leading request's delivery-rule decision: TTLs when storing, fields added to the origin request. */
  decision?: Decision | undefined;
  /** The request fields the customer's rules read: passed on when the fill goes to a shield. */
  headersRead?: readonly string[] | undefined;
}

export type FlightResult =
  /** A storable response streaming from the origin (shareable: fresh, so followers may use it). */
  | { kind: 'stream'; status: number; headers: StoredHeaders; length: number | undefined; names: string[]; variant: string | undefined; shareable: boolean; policy: CachePolicy }
  /** The stale object was confirmed by a 304: its refreshed metadata. */
  | { kind: 'revalidated'; meta: ObjectMeta; policy: CachePolicy }
  /** A response for the leader only (flight.own). */
  | { kind: 'unshared' }
  /**
   * The origin failed: unreachable/timeout (synthetic), or a 5xx for the leader (flight.own).
   * `allDown` (only when true): every origin of the customer is down (the all-down stale window applies).
   */
  | { kind: 'failed'; synthetic?: Synthetic; allDown?: true }
  /** Another process of this edge fetched and stored it (fill-locks.ts): look it up. */
  | { kind: 'elsewhere' }
  /** Another process of this edge gave up on it: start again. */
  | { kind: 'retry' };

/** The in-flight fetches of one edge, by collapse key. */
export class Flights {
  readonly #flights = new Map<string, Flight>();
  readonly #joinable: ((flight: Flight) => boolean) | undefined;

  /** `joinable`: false for a fetch a later purge may cover (a new request then fetches anew). */
  constructor(options: { joinable?: (flight: Flight) => boolean } = {}) {
    this.#joinable = options.joinable;
  }

  get(collapseKey: string): Flight | undefined {
    const flight = this.#flights.get(collapseKey);
    return flight === undefined || this.#joinable === undefined || this.#joinable(flight) ? flight : undefined;
  }

  /** Starts a fetch; `register: false` for a client going to the origin on its own. */
  start(req: FlightRequest, ctx: FlightContext, register = true): Flight {
    const unregister = (): void => {
      if (register && this.#flights.get(req.collapseKey) === flight) this.#flights.delete(req.collapseKey);
    };
    const flight: Flight = new Flight(req, ctx, unregister, register);
    if (register) this.#flights.set(req.collapseKey, flight);
    flight.begin();
    return flight;
  }

  get size(): number {
    return this.#flights.size;
  }
}

/** One waiting client's hold on a flight; leaving twice counts once. */
export interface Ticket {
  leave(aborted: boolean): void;
}

export class Flight {
  readonly req: FlightRequest;
  /** Edge clock when the fetch began (purges applied since make it unjoinable). */
  readonly startedAt: number;
  result!: Promise<FlightResult>;
  /** The origin response for the leader when it is not shared (unshared, 5xx). */
  own: Dispatcher.ResponseData | undefined;
  /** Settles when the stored object (if any) is in place or given up. */
  stored: Promise<PutOutcome | 'none'> = Promise.resolve('none');
  /** Ms the last origin request took to its response headers (the leader's log line). */
  originMs: number | undefined;
  readonly #ctx: FlightContext;
  readonly #unregister: () => void;
  /** Registered for others to join: it then also coordinates with the edge's other processes. */
  readonly #shared: boolean;
  readonly #abort = new AbortController();
  #interest = 0;
  #state: 'waiting' | 'streaming' | 'ended' | 'failed' = 'waiting';
  #chunks: Buffer[] = [];
  #chunkBytes = 0;
  #replayable = true;
  #forwarded = 0;
  #held: Buffer | undefined;
  readonly #subs = new Set<PassThrough>();
  #storeIn: PassThrough | undefined;
  /** Set while a body stored whole (STORE_WHOLE_MAX) waits for its end: hands it to the store, or undefined when it failed. */
  #storeWhole: ((parts: readonly Buffer[] | undefined) => void) | undefined;
  /** Settles when this process can read the stored object (see PutOptions.readable), or the put has settled. */
  #readable: Promise<unknown> = Promise.resolve();
  #body: Readable | undefined;
  /** Clients waiting in whole(): told at the body's end (with it) or its failure (undefined). */
  #wholeWaiters: Array<(body: Buffer | undefined) => void> = [];
  #wholeBody: Buffer | undefined;

  constructor(req: FlightRequest, ctx: FlightContext, unregister: () => void, shared: boolean) {
    this.req = req;
    this.startedAt = ctx.clock.now();
    this.#ctx = ctx;
    this.#unregister = unregister;
    this.#shared = shared;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  begin(): void {
    this.result = this.#run().then(
      (result) => {
        if (result.kind !== 'stream') this.#unregister();
        return result;
      },
      (err: unknown) => {
        this.#unregister();
        this.#ctx.logger.error({ customer: this.req.customer.id, err: err instanceof Error ? err.message : String(err) }, 'origin fetch failed');
        return { kind: 'failed', synthetic: synthetic(cdnError('CDN_ERR_ORIGIN_ERROR', 'the fetch failed inside the edge')) } as FlightResult;
      },
    );
  }

  /** A client starts waiting on this fetch. */
  attach(): Ticket {
    this.#interest += 1;
    let left = false;
    return {
      leave: (aborted) => {
        if (left) return;
        left = true;
        this.#interest -= 1;
        if (aborted && this.#interest === 0 && !this.req.background && (this.#state === 'waiting' || this.#state === 'streaming')) this.#abandon();
      },
    };
  }

  /**
   * The shared body from its first byte, or undefined when it can no longer be replayed
   * (past REPLAY_MAX_BYTES, or failed): read the stored object after `stored` instead.
   */
  join(ticket: Ticket): Readable | undefined {
    if (this.#state === 'failed' || (!this.#replayable && this.#forwarded > 0)) return undefined;
    const sub = new PassThrough();
    for (let i = 0; i < this.#forwarded; i += 1) sub.write(this.#chunks[i]);
    sub.once('close', () => {
      this.#subs.delete(sub);
      ticket.leave(!sub.readableEnded);
      this.#resumeIfClear();
    });
    if (this.#state === 'ended') sub.end();
    else this.#subs.add(sub);
    return sub;
  }

  /**
   * The shared body in one buffer, when it has ended and this process can read the stored
   * object (as join()'s streams end then); undefined when the fetch failed or the body is past
   * replay. For small bodies (fetch.step.ts WHOLE_BODY_MAX): one write to the client, no stream.
   */
  whole(): Promise<Buffer | undefined> {
    if (this.#state === 'failed' || !this.#replayable) return Promise.resolve(undefined);
    if (this.#state === 'ended') return Promise.resolve(this.#joined());
    return new Promise((resolve) => this.#wholeWaiters.push(resolve));
  }

  /** The kept parts joined, once (every client of whole() gets the same buffer; join() still replays the parts). */
  #joined(): Buffer {
    this.#wholeBody ??= this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#chunkBytes);
    return this.#wholeBody;
  }

  /** Tells the clients waiting in whole(); the body is joined only when someone waits. */
  #settleWhole(body: () => Buffer | undefined): void {
    const waiters = this.#wholeWaiters;
    if (waiters.length === 0) return;
    this.#wholeWaiters = [];
    const whole = body();
    for (const waiter of waiters) waiter(whole);
  }

  async #run(): Promise<FlightResult> {
    const grant = this.#shared ? await this.#ctx.fills.acquire(this.req.collapseKey) : undefined;
    if (grant !== undefined && !grant.lead) return this.#follow(grant.done);
    let result: FlightResult;
    try {
      result = await this.#fetchFromOrigin();
    } catch (err) {
      grant?.release(FILL_RETRY);
      throw err;
    }
    if (grant !== undefined) void this.#fillOutcome(result).then((outcome) => grant.release(outcome));
    return result;
  }

  /** Another process of this edge leads this fill: wait for its outcome (or for every client here to leave). */
  async #follow(done: Promise<FillOutcome>): Promise<FlightResult> {
    const abandoned = new Promise<FillOutcome>((resolve) => this.#abort.signal.addEventListener('abort', () => resolve(FILL_RETRY), { once: true }));
    const outcome = await Promise.race([done, abandoned]);
    if (this.#abort.signal.aborted) return { kind: 'failed' };
    switch (outcome.kind) {
      case 'stored':
        return { kind: 'elsewhere' };
      case 'failed':
        return outcome.allDown === true ? { kind: 'failed', synthetic: outcome.synthetic, allDown: true } : { kind: 'failed', synthetic: outcome.synthetic };
      default:
        return { kind: outcome.kind };
    }
  }

  /** What the other processes waiting on this fill are told, once it has settled. */
  async #fillOutcome(result: FlightResult): Promise<FillOutcome> {
    if (result.kind === 'stream') {
      // Shareable, but not in the store (too large, over quota, cut short): let one of them fetch it again and share it there.
      return (await this.stored) === 'stored' ? FILL_STORED : FILL_RETRY;
    }
    if (result.kind === 'revalidated') return FILL_STORED;
    if (result.kind === 'failed' && !this.#abort.signal.aborted) {
      if (result.synthetic === undefined) return FILL_UNSHARED;
      return result.allDown === true ? { kind: 'failed', synthetic: result.synthetic, allDown: true } : { kind: 'failed', synthetic: result.synthetic };
    }
    if (result.kind === 'unshared') return FILL_UNSHARED;
    return FILL_RETRY;
  }

  async #fetchFromOrigin(): Promise<FlightResult> {
    const { stale } = this.req;
    const validators = stale !== undefined && hasValidators(stale.meta.headers) ? validatorHeaders(stale.policy) : undefined;
    const first = await this.#fetch(validators);
    if (first !== 'refetch') return first;
    // RFC 9111 §4.3.4: a 304 that selects no stored response cannot be used; ask again in full.
    const second = await this.#fetch(undefined);
    return second === 'refetch' ? { kind: 'failed', synthetic: synthetic(cdnError('CDN_ERR_ORIGIN_ERROR', 'the origin answered 304 to an unconditional request')) } : second;
  }

  /**
   * The fill from the origin shield the key hashes to (edge/shield), when one is live: its
   * answer stands for the origin's. Undefined: no shield, or it failed (ask the origin).
   * GET even for HEAD, as from the origin: the stored object must be whole.
   */
  async #askShield(validators: Record<string, string> | undefined): Promise<OriginOutcome | undefined> {
    const ctx = this.#ctx;
    const req = this.req;
    const clientIp = req.clientIp;
    if (ctx.shields === undefined || clientIp === undefined || isIP(clientIp) === 0) return undefined;
    const node = ctx.shields.pick(req.key);
    if (node === undefined) return undefined;
    // The customer's cap holds for fills through a shield too: one customer's flood of misses
    // cannot take every connection to the shield that other customers' fills need.
    const slot = await customerSlot(ctx, req.customer, this.#abort.signal);
    if ('ok' in slot) return slot;
    const answer = await ctx.shields.ask(node, {
      key: req.key,
      domain: req.domain,
      path: req.path,
      clientIp,
      proto: req.proto ?? 'http',
      signal: this.#abort.signal,
      headers: (hop) => shieldRequestHeaders(req.requestHeaders, { domain: req.domain, headersRead: req.headersRead ?? [], validators, cdnId: ctx.cdnId, hop }),
    });
    if (answer.ok) {
      holdUntilRead(answer.res.body, slot.release);
      ctx.metrics.shieldRequest('answered');
      return { ok: true, res: answer.res, ms: answer.ms };
    }
    slot.release();
    if (answer.aborted) return { ok: false, ms: answer.ms, synthetic: undefined, allDown: false };
    ctx.metrics.shieldRequest('fallback');
    return undefined;
  }

  async #fetch(validators: Record<string, string> | undefined): Promise<FlightResult | 'refetch'> {
    const ctx = this.#ctx;
    const { customer, requestHeaders } = this.req;
    const headers = (target: OriginTarget): Record<string, string | string[]> =>
      originRequestHeaders(requestHeaders, {
        target,
        domain: this.req.domain,
        clientIp: this.req.clientIp,
        proto: this.req.proto,
        cacheable: true,
        validators,
        cdnId: ctx.cdnId,
        originOps: this.req.decision?.originHeaders,
      });
    const requestTime = ctx.clock.now();
    const outcome = (await this.#askShield(validators)) ?? (await askOrigin(ctx, customer, { method: 'GET', path: this.req.path, headers, body: null, signal: this.#abort.signal, retryable: true }));
    this.originMs = outcome.ms;
    if (!outcome.ok) return { kind: 'failed', ...(outcome.synthetic === undefined ? {} : { synthetic: outcome.synthetic }), ...(outcome.allDown ? { allDown: true } : {}) };
    const res = outcome.res;
    const responseTime = ctx.clock.now();
    const status = res.statusCode;
    const stale = this.req.stale;

    if (status === 304 && validators !== undefined && stale !== undefined) {
      discardBody(res.body);
      if (!notModifiedMatches(stale.policy, res.headers)) return 'refetch';
      return this.#revalidated(stale, res.headers, requestTime, responseTime);
    }
    if (status === 304) {
      discardBody(res.body);
      return 'refetch';
    }
    // RFC 5861 §4: a 5xx is where stale-if-error may answer instead; never shared.
    if (status >= 500) {
      this.#own(res);
      return ctx.origins.allDown(ctx.targets.of(customer)) ? { kind: 'failed', allDown: true } : { kind: 'failed' };
    }
    const policy = createPolicy({ status, headers: res.headers, requestHeaders, ...ttlsOf(customer, this.req.decision), requestTime, responseTime }, ctx.clock);
    if (!isStorable(policy, status, res.headers)) {
      this.#own(res);
      return { kind: 'unshared' };
    }

    const stored = endToEndResponseHeaders(res.headers);
    // Age is worked out per response from the policy (RFC 9111 §5.1), never replayed.
    delete stored.age;
    const names = varyNames(res.headers, this.req.markerVary);
    const vary = varyField(res.headers, names);
    if (vary !== undefined) stored.vary = vary;
    let objectKey = this.req.key;
    let variant: string | undefined;
    let epoch: string | undefined;
    if (names.length > 0) {
      variant = variantId(names, variantRequestHeaders(requestHeaders, this.req));
      objectKey = variantKey(this.req.key, variant);
      epoch = await this.#varyEpoch(names, responseTime, freshSeconds(policy), requestTime);
    }
    const policyObject: StoredPolicy = epoch === undefined ? policy.toObject() : { ...policy.toObject(), epoch };
    // bodyId: this body's name for its encoded copies (encoded-variants.ts); a 304 keeps it.
    const meta: Omit<ObjectMeta, 'size' | 'key'> = { status, headers: stored, storedAt: responseTime, fetchedAt: requestTime, ttl: freshSeconds(policy), policy: policyObject as unknown as Record<string, unknown>, bodyId: newBodyId() };
    const tags = tagsOf(res.headers);
    if (tags !== undefined) meta.tags = tags;
    const length = declaredLength(res.headers['content-length']);
    this.#stream(res.body, objectKey, meta, length);
    return { kind: 'stream', status, headers: stored, length, names, variant, shareable: isFresh(policy), policy };
  }

  /** RFC 9111 §4.3.4: refresh the stored headers and freshness from the 304. */
  async #revalidated(stale: NonNullable<FlightRequest['stale']>, headers304: IncomingHttpHeaders, requestTime: number, responseTime: number): Promise<FlightResult> {
    const ctx = this.#ctx;
    const fresh304 = endToEndResponseHeaders(headers304);
    const headers = updatedHeaders(stale.meta.headers, fresh304);
    const previous = stale.meta.policy as unknown as StoredPolicy;
    const targeted = headers304['cdn-cache-control'] ?? (previous.resh['cdn-cache-control'] as string | undefined);
    const policyInput = { ...headers, age: headers304.age, date: headers304.date ?? headers.date, ...(targeted === undefined ? {} : { 'cdn-cache-control': targeted }) };
    const policy = createPolicy(
      { status: stale.meta.status, headers: policyInput, requestHeaders: this.req.requestHeaders, ...ttlsOf(this.req.customer, this.req.decision), refreshesStored: true, requestTime, responseTime },
      ctx.clock,
    );
    delete headers.age;
    const policyObject: StoredPolicy = previous.epoch === undefined ? policy.toObject() : { ...policy.toObject(), epoch: previous.epoch };
    // fetchedAt moves on: a purge applied before this revalidation began no longer covers it.
    const meta: ObjectMeta = { ...stale.meta, headers, storedAt: responseTime, fetchedAt: requestTime, ttl: freshSeconds(policy), policy: policyObject as unknown as Record<string, unknown> };
    const { key: _key, size: _size, ...update } = meta;
    const updated = await ctx.store.updateMeta(stale.objectKey, update).catch(() => false);
    if (!updated) ctx.logger.debug({ customer: this.req.customer.id }, 'revalidated object was gone from the store');
    return { kind: 'revalidated', meta, policy };
  }

  /**
   * The epoch shared by a Vary marker and its variants: kept while the marker names the
   * same headers, new (retiring the old variants) otherwise.
   */
  async #varyEpoch(names: string[], now: number, ttl: number, fetchedAt: number): Promise<string> {
    const store = this.#ctx.store;
    const marker = await store.get(this.req.key);
    let epoch: string | undefined;
    if (marker !== undefined) {
      const current = (marker.meta.policy as { epoch?: unknown } | undefined)?.epoch;
      // A marker a purge covers is replaced, so that the lurker removing it later retires no variant fetched since.
      const purged = this.#ctx.purges?.judge(this.req.customer.id, marker.meta) === 'hard';
      if (!purged && typeof current === 'string' && sameNames(marker.meta.vary, names)) epoch = current;
      await marker.release();
    }
    if (epoch !== undefined) return epoch;
    epoch = newVaryEpoch();
    const put = store.put(this.req.key, { status: 200, headers: {}, storedAt: now, fetchedAt, ttl, policy: { epoch }, vary: names }, []);
    this.stored = put;
    await put;
    return epoch;
  }

  #own(res: Dispatcher.ResponseData): void {
    if (this.#interest === 0 || this.req.background) {
      discardBody(res.body);
      return;
    }
    this.own = res;
  }

  #stream(body: Readable, objectKey: string, meta: Omit<ObjectMeta, 'size' | 'key'>, length: number | undefined): void {
    const store = this.#ctx.store;
    this.#state = 'streaming';
    this.#body = body;
    if (length !== undefined && length <= STORE_WHOLE_MAX && length <= this.#ctx.maxObjectBytes) {
      let readable!: () => void;
      const early = new Promise<void>((resolve) => (readable = resolve));
      this.stored = new Promise<PutOutcome>((resolve) => {
        this.#storeWhole = (parts) => {
          this.#storeWhole = undefined;
          resolve(parts === undefined ? 'aborted' : store.put(objectKey, meta, parts, { readable }));
        };
      }).then((outcome) => {
        if (outcome !== 'stored') this.#ctx.logger.debug({ customer: this.req.customer.id, outcome }, 'object not stored');
        return outcome;
      });
      this.#readable = Promise.race([early, this.stored]);
    } else if (length === undefined || length <= this.#ctx.maxObjectBytes) {
      const storeIn = new PassThrough();
      this.#storeIn = storeIn;
      storeIn.on('drain', () => this.#resumeIfClear());
      let readable!: () => void;
      const early = new Promise<void>((resolve) => (readable = resolve));
      this.stored = store.put(objectKey, meta, storeIn, { readable }).then((outcome) => {
        if (outcome !== 'stored') this.#ctx.logger.debug({ customer: this.req.customer.id, outcome }, 'object not stored');
        return outcome;
      });
      this.#readable = Promise.race([early, this.stored]);
    } else {
      this.stored = Promise.resolve('too_large');
      this.#readable = this.stored;
    }
    body.on('data', (chunk: Buffer) => {
      if (this.#replayable) {
        this.#chunks.push(chunk);
        this.#chunkBytes += chunk.length;
        if (this.#chunkBytes > REPLAY_MAX_BYTES) {
          this.#replayable = false;
          this.#chunks = [];
        }
      }
      if (this.#held !== undefined) this.#broadcast(this.#held);
      this.#held = chunk;
      const storeIn = this.#storeIn;
      if (storeIn !== undefined && !storeIn.destroyed) storeIn.write(chunk);
      if (this.#congested()) body.pause();
    });
    body.once('end', () => {
      this.#storeIn?.end();
      // Every part is still kept for replay (STORE_WHOLE_MAX is far below REPLAY_MAX_BYTES).
      this.#storeWhole?.(this.#replayable ? this.#chunks.slice() : undefined);
      void this.#readable.then(() => {
        if (this.#state !== 'streaming') return;
        this.#state = 'ended';
        // Whoever asks from now on finds the object in the store.
        if (this.#held !== undefined) this.#broadcast(this.#held);
        this.#held = undefined;
        this.#unregister();
        for (const sub of this.#subs) sub.end();
        this.#settleWhole(() => (this.#replayable ? this.#joined() : undefined));
        if (!this.#replayable) this.#chunks = [];
      });
    });
    body.on('error', (err) => this.#fail(err));
    body.once('close', () => {
      if (!body.readableEnded) this.#fail(Object.assign(new Error('the origin body ended early'), { code: 'EDGE_BODY_ABORTED' }));
    });
  }

  #broadcast(chunk: Buffer): void {
    this.#forwarded += 1;
    for (const sub of this.#subs) sub.write(chunk);
  }

  #congested(): boolean {
    if (this.#storeIn !== undefined && !this.#storeIn.destroyed && this.#storeIn.writableNeedDrain) return true;
    for (const sub of this.#subs) {
      if (sub.writableLength > CLIENT_BUFFER_BYTES) {
        sub.once('drain', () => this.#resumeIfClear());
        return true;
      }
    }
    return false;
  }

  #resumeIfClear(): void {
    const body = this.#body;
    if (body !== undefined && body.isPaused() && this.#state === 'streaming' && !this.#congested()) body.resume();
  }

  /** The origin body failed: every client's response is cut (never a truncated whole), nothing is stored. */
  #fail(err: Error): void {
    if (this.#state !== 'streaming') return;
    this.#state = 'failed';
    // Cut short by the origin (not abandoned by the clients): an origin error too.
    if (!this.#abort.signal.aborted) this.#ctx.metrics.meter(this.req.customer.id).originFailure(originFailureKind(err));
    this.#unregister();
    this.#chunks = [];
    this.#storeIn?.destroy(err);
    this.#storeWhole?.(undefined);
    for (const sub of this.#subs) sub.destroy(err);
    this.#settleWhole(() => undefined);
  }

  #abandon(): void {
    this.#abort.abort();
    this.#body?.destroy();
    if (this.own !== undefined) discardBody(this.own.body);
  }
}

function synthetic(err: CdnError): Synthetic {
  return { status: err.status, body: httpErrorBody(err) };
}

function declaredLength(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function sameNames(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((n, i) => n === b[i]);
}

/** The freshness inputs of the delivery rules' decision (the customer's cacheTtl without one). */
function ttlsOf(customer: CustomerConfig, decision: Decision | undefined): Pick<FreshnessInput, 'heuristicTtl' | 'ttlOverride' | 'staleWhileRevalidate'> {
  if (decision === undefined) return { heuristicTtl: customer.cacheTtl };
  const ttl = decision.edgeTtl;
  return {
    heuristicTtl: ttl.mode === 'default' ? ttl.seconds : customer.cacheTtl,
    ...(ttl.mode === 'override' ? { ttlOverride: ttl.seconds } : {}),
    ...(decision.staleWhileRevalidate !== undefined ? { staleWhileRevalidate: decision.staleWhileRevalidate } : {}),
  };
}
