/**
 * Stand-ins for what an origin fetch needs of the edge, for tests of one pipeline module
 * (fetch.flight.ts, request.fsm.ts) without sockets to an origin: an origin whose every
 * answer the test writes by hand (status, headers, each body chunk, a cut, a refusal), a
 * store whose puts can be held before they settle, fill locks that lead or follow as told,
 * and a FlightContext over them. Everything else in the context is the real thing (the
 * memory tier, the metrics, the origin targets).
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../../src/core/clock.port';
import type { CustomerConfig } from '../../src/core/customer.types';
import { SecretBox } from '../../src/core/secret-box';
import type { CacheStore, ObjectMeta, PutOptions, PutOutcome, StoredObject } from '../../src/edge/cache/cache-store.port';
import { MemoryTier } from '../../src/edge/cache/memory.tier';
import { EdgeMetrics } from '../../src/edge/edge.metrics';
import { CustomerSlots } from '../../src/edge/origin/customer-slots';
import { OriginHealth } from '../../src/edge/origin/origin-health';
import type { OriginPools, OriginRequest } from '../../src/edge/origin/origin-pools';
import { OriginSelector, type OriginDefaults } from '../../src/edge/origin/origin-selector';
import { RetryBudgets } from '../../src/edge/origin/retry-budget';
import { OriginTargets, type OriginTarget } from '../../src/edge/origin/origin-target';
import { LOCAL_FILLS, type FillGrant, type FillLocks, type FillOutcome } from '../../src/edge/pipeline/fill-locks';
import type { FlightContext } from '../../src/edge/pipeline/flight.context';
import { createLogger } from '../../src/obs/logger.factory';

export function customer(id = 'c1', extra: Partial<CustomerConfig> = {}): CustomerConfig {
  return Object.freeze({
    id,
    name: id,
    originUrl: 'http://origin.test:8080/',
    domains: [`${id}.test`],
    cacheTtl: 60,
    basicAuth: null,
    version: 1,
    updatedAt: '2025-01-01T00:00:00.000Z',
    ...extra,
  });
}

export class ManualClock implements Clock {
  #now: number;
  constructor(start = 1_750_000_000_000) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

/** An origin body the test writes: chunks, the end, or a cut. */
export class OriginBody extends Readable {
  constructor() {
    super({ read() {} });
  }
  send(chunk: string | Buffer): this {
    this.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return this;
  }
  finish(): void {
    this.push(null);
  }
}

/** One request the edge made to the fake origin. */
export class OriginCall {
  readonly target: OriginTarget;
  readonly req: OriginRequest;
  readonly body = new OriginBody();
  #settle: { resolve(res: Dispatcher.ResponseData): void; reject(err: unknown): void } | undefined;
  #responded = false;
  readonly response: Promise<Dispatcher.ResponseData>;

  constructor(target: OriginTarget, req: OriginRequest) {
    this.target = target;
    this.req = req;
    this.response = new Promise((resolve, reject) => (this.#settle = { resolve, reject }));
    // As undici: an abort rejects a request still waiting for its headers and cuts the body of one that has them.
    req.signal?.addEventListener(
      'abort',
      () => {
        const err = Object.assign(new Error('This operation was aborted'), { name: 'AbortError', code: 'UND_ERR_ABORTED' });
        this.#settle?.reject(err);
        this.#settle = undefined;
        if (this.#responded && !this.body.destroyed) this.body.destroy(err);
      },
      { once: true },
    );
  }

  get aborted(): boolean {
    return this.req.signal?.aborted === true;
  }

  header(name: string): string | string[] | undefined {
    return this.req.headers[name];
  }

  /** Sends the response headers; the body follows through `this.body`. */
  respond(statusCode: number, headers: Record<string, string | string[]> = {}): OriginBody {
    this.#responded = true;
    this.#settle?.resolve({ statusCode, headers, body: this.body, trailers: {}, opaque: null, context: {} } as unknown as Dispatcher.ResponseData);
    this.#settle = undefined;
    return this.body;
  }

  /** The request fails before any response (ECONNREFUSED, a timeout…). */
  fail(err: Error): void {
    this.#settle?.reject(err);
    this.#settle = undefined;
  }
}

/** OriginPools as the pipeline calls it: each request waits for the test to answer it. */
export class ScriptedOrigin {
  readonly calls: OriginCall[] = [];
  readonly #waiting: Array<(call: OriginCall) => void> = [];

  request(target: OriginTarget, req: OriginRequest): Promise<Dispatcher.ResponseData> {
    const call = new OriginCall(target, req);
    this.calls.push(call);
    this.#waiting.shift()?.(call);
    return call.response;
  }

  /** The `n`th request (0-based), once it has been made; fails when it is not made within `ms`. */
  call(n: number, ms = 2000): Promise<OriginCall> {
    const made = (async () => {
      while (this.calls.length <= n) await new Promise<OriginCall>((resolve) => this.#waiting.push(resolve));
      return this.calls[n]!;
    })();
    return within(made, ms, `origin request #${n + 1}`);
  }

  asPools(): OriginPools {
    return this as unknown as OriginPools;
  }
}

/**
 * The memory tier, with puts that can be held after the body was taken (the object already
 * in place) until the test lets them settle, and every outcome recorded.
 */
export class GatedStore implements CacheStore {
  readonly memory: MemoryTier;
  readonly outcomes: PutOutcome[] = [];
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  #reached: Array<() => void> = [];
  #readableEarly = false;

  constructor(maxObjectBytes = 16 * 1024 * 1024) {
    this.memory = new MemoryTier({ maxBytes: 256 * 1024 * 1024, maxObjectBytes });
  }

  /**
   * From now on puts wait for `open()` before they settle; with `readable`, they first say
   * the object can be read (as the tiered store does while an index entry waits for its commit).
   */
  hold(options: { readable?: boolean } = {}): { reached: Promise<void>; open(): void } {
    this.#readableEarly = options.readable === true;
    this.#gate = new Promise((resolve) => (this.#open = resolve));
    const reached = new Promise<void>((resolve) => this.#reached.push(resolve));
    return {
      reached,
      open: () => {
        this.#gate = undefined;
        this.#open?.();
      },
    };
  }

  async put(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>, body: Readable, options?: PutOptions): Promise<PutOutcome> {
    const outcome = await this.memory.put(key, meta, body);
    if (this.#gate !== undefined) {
      if (this.#readableEarly && outcome === 'stored') options?.readable?.();
      for (const reached of this.#reached.splice(0)) reached();
      await this.#gate;
    }
    this.outcomes.push(outcome);
    return outcome;
  }

  get(key: string): Promise<StoredObject | undefined> {
    return this.memory.get(key);
  }
  updateMeta(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>): Promise<boolean> {
    return this.memory.updateMeta(key, meta);
  }
  delete(key: string): Promise<void> {
    return this.memory.delete(key);
  }
  deleteCustomer(customerId: string): Promise<void> {
    return this.memory.deleteCustomer(customerId);
  }
  idle(): Promise<void> {
    return this.memory.idle();
  }
}

/** Fill locks that make every flight a follower of `done`, or a leader recording its releases. */
export function followerFills(done: Promise<FillOutcome>): FillLocks & { keys: string[] } {
  const keys: string[] = [];
  return { keys, acquire: (key) => (keys.push(key), { lead: false, done }) };
}

export function leaderFills(): FillLocks & { keys: string[]; released: FillOutcome[] } {
  const keys: string[] = [];
  const released: FillOutcome[] = [];
  const grant: FillGrant = { lead: true, release: (outcome) => void released.push(outcome) };
  return { keys, released, acquire: (key) => (keys.push(key), grant) };
}

export interface FakeFlightContext extends FlightContext {
  origin: ScriptedOrigin;
  store: GatedStore;
  clock: ManualClock;
}

/** The edge's defaults (src/edge/config.ts) for the customers' origin policy. */
export const ORIGIN_DEFAULTS: OriginDefaults = { maxConnections: 32, queueTimeoutMs: 2000, retryBudgetPercent: 10, staleIfDownSeconds: 3600, minRetries: 3 };

/** The origin selector over `pools`, with real health, slots and retry budgets. */
export function originSelector(pools: Pick<OriginPools, 'request'>, defaults: Partial<OriginDefaults> = {}): OriginSelector {
  const logger = createLogger({ name: 'test', level: 'silent' });
  const health = new OriginHealth({ pools, logger, unhealthyThreshold: 5, cooldownMs: 10_000, cdnId: 'edgeplane-test', userAgent: 'test' });
  return new OriginSelector({ health, slots: new CustomerSlots(), budgets: new RetryBudgets(), defaults: { ...ORIGIN_DEFAULTS, ...defaults } });
}

export function flightContext(extra: Partial<FlightContext> & { store?: GatedStore } = {}): FakeFlightContext {
  const origin = new ScriptedOrigin();
  return {
    origin,
    store: extra.store ?? new GatedStore(),
    pools: origin.asPools(),
    origins: originSelector(origin.asPools()),
    targets: new OriginTargets(new SecretBox('flight-fakes-secret-key-of-32-chars!')),
    clock: new ManualClock(),
    metrics: new EdgeMetrics({ appliedSeq: () => 0, customers: () => 1 }),
    logger: createLogger({ name: 'test', level: 'silent' }),
    maxObjectBytes: 16 * 1024 * 1024,
    fills: LOCAL_FILLS,
    cdnId: 'edgeplane-test',
    ...extra,
  } as FakeFlightContext;
}

/** A counter of the customer's row in the metrics text (0 when absent). */
export async function customerCounter(ctx: FlightContext, name: string, labels: Record<string, string>): Promise<number> {
  const text = await ctx.metrics.registry.metrics();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const found = Object.fromEntries(body.split(',').map((pair) => {
      const [k, v] = pair.split('=');
      return [k, v!.replace(/^"|"$/g, '')];
    }));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(line.slice(line.indexOf('}') + 1).trim());
  }
  return 0;
}

/** Everything a stream gives until it ends; rejects when it is destroyed with an error. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Reads a stream as it comes, keeping what arrived so far visible to the test. */
export function reader(stream: Readable): { bytes(): Buffer; text(): string; ended: boolean; done: Promise<Buffer> } {
  const parts: Buffer[] = [];
  const state = {
    bytes: () => Buffer.concat(parts),
    text: () => Buffer.concat(parts).toString(),
    ended: false,
    done: undefined as unknown as Promise<Buffer>,
  };
  state.done = new Promise<Buffer>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.once('end', () => {
      state.ended = true;
      resolve(Buffer.concat(parts));
    });
    stream.once('error', reject);
  });
  state.done.catch(() => {});
  return state;
}

/** Lets streams and promises run: a few turns of the event loop. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** `promise`, or a failure naming `what` when it has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for: ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Polls `check` until it holds (or fails after `ms`). */
export async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
