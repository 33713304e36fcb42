/**
 * Origin health as this edge process sees it: one circuit breaker per origin of every
 * customer, fed by the process's own origin requests (passive) and by active checks.
 *
 * - Up → down: `unhealthyThreshold` consecutive failures, requests and checks alike (a
 *   connection error, a timeout, a 5xx other than 501/505, a check answering outside its
 *   expected range). A success of either resets the count. Origins without a check of their
 *   own take the edge's threshold (CDN_EDGE_ORIGIN_UNHEALTHY_THRESHOLD): a request's failure
 *   may be one broken URL, not a broken origin, so the bar is higher than a check's.
 * - Down → up: `healthyThreshold` consecutive passing checks, or one successful trial
 *   request. The breaker is half-open once the cool-down (CDN_EDGE_ORIGIN_COOLDOWN_MS) has
 *   passed since it opened or since its last failed trial: one request may then go (which
 *   ones: origin-selector.ts), and while it runs no other does. That keeps a dead origin
 *   from being hammered by every miss, and brings back an origin nobody checks actively.
 * - Checks: GET of the check's path (under the origin URL's path, like every origin
 *   request) through the same pools and SSRF guard as requests, with the origin's Host, TLS
 *   server name and Basic Auth. The first one comes at a random point of the first interval,
 *   so edges started together (or one edge's cluster workers) do not check in step.
 *
 * State lives per process: in a cluster each worker keeps its own breakers and runs its own
 * checks (docs/EDGE.md, "Origins", says why). A customer's breakers are kept across its
 * versions for every origin whose URL, Host, TLS name, credentials and check stay the same;
 * a changed or removed origin's checks stop, and a deleted customer's all do.
 */
import type { Dispatcher } from 'undici';
import type { OriginState } from '../../core/origin.types';
import type { Logger } from '../../obs/logger.factory';
import type { OriginRequest } from './origin-pools';
import type { CustomerOrigins, OriginTarget } from './origin-target';

export interface OriginHealthOptions {
  /** Where checks are sent: the edge's origin pools. */
  pools: { request(target: OriginTarget, req: OriginRequest): Promise<Dispatcher.ResponseData> };
  logger: Logger;
  /** Consecutive failed requests that take down an origin without a health check. */
  unhealthyThreshold: number;
  /** How long a down origin gets no request before one trial may go. */
  cooldownMs: number;
  /** This CDN's CDN-Loop name, sent with checks as with requests. */
  cdnId: string;
  userAgent: string;
  /** Wall-clock milliseconds (timers run in real time whatever the edge's cache clock says). */
  now?: () => number;
  /** Spreads the first check of each origin over its interval. */
  random?: () => number;
}

/** One origin's health, as `EdgeHandle.originHealth(customerId)` reports it. */
export interface OriginHealthReport {
  origin: string;
  state: OriginState;
  /** When it entered this state (ISO 8601): the process's start for an origin never down. */
  since: string;
  /** Why it went down, or came back; null while it has never changed. */
  reason: string | null;
  /** Failures in a row (requests and checks). */
  consecutiveFailures: number;
  /** Whether it is checked actively. */
  checked: boolean;
  /** The last active check; null before the first (or without checks). */
  lastCheck: { at: string; ok: boolean; detail: string } | null;
}

export interface OriginHealthChange {
  customerId: string;
  origin: string;
  state: OriginState;
  reason: string;
  at: string;
}

/** The breaker of one origin of one customer. */
export class OriginBreaker {
  target: OriginTarget;
  state: OriginState = 'up';
  since: number;
  reason: string | null = null;
  failures = 0;
  /** Passing checks in a row while down. */
  passes = 0;
  /** Down: when a trial request may go. */
  trialAt = 0;
  /** A trial request is in flight. */
  trial = false;
  lastCheck: { at: number; ok: boolean; detail: string } | null = null;
  /** Set once the breaker is dropped (customer changed or deleted, edge closed): nothing more is scheduled. */
  stopped = false;
  timer: NodeJS.Timeout | undefined;
  checking: AbortController | undefined;

  constructor(target: OriginTarget, now: number) {
    this.target = target;
    this.since = now;
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** Half-open: down, cooled down, and no trial in flight. */
  trialAllowed(now: number): boolean {
    return this.state === 'down' && !this.trial && now >= this.trialAt;
  }
}

interface CustomerHealth {
  origins: CustomerOrigins;
  breakers: Map<string, OriginBreaker>;
}

export class OriginHealth {
  readonly #options: OriginHealthOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #customers = new Map<string, CustomerHealth>();
  readonly #listeners = new Set<(change: OriginHealthChange) => void>();
  #closed = false;

  constructor(options: OriginHealthOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  now(): number {
    return this.#now();
  }

  /**
   * Follows a customer's configuration (`targets.of(customer)`; the edge calls it for every
   * customer at start and on every change): breakers kept for unchanged origins, new (up) ones
   * with their checks started for new or changed origins, the others' checks stopped.
   */
  sync(origins: CustomerOrigins): ReadonlyMap<string, OriginBreaker> {
    const known = this.#customers.get(origins.customerId);
    if (known !== undefined && known.origins === origins) return known.breakers;
    const breakers = new Map<string, OriginBreaker>();
    for (const target of origins.usable) {
      const old = known?.breakers.get(target.name);
      if (old !== undefined && old.target.identity === target.identity) {
        old.target = target;
        breakers.set(target.name, old);
        continue;
      }
      const breaker = new OriginBreaker(target, this.#now());
      breakers.set(target.name, breaker);
      if (target.healthCheck !== null && !this.#closed) this.#schedule(origins.customerId, breaker, this.#random() * target.healthCheck.intervalSeconds * 1000);
    }
    if (known !== undefined) for (const [name, old] of known.breakers) if (breakers.get(name) !== old) stop(old);
    this.#customers.set(origins.customerId, { origins, breakers });
    return breakers;
  }

  /**
   * The breakers a request of this version of the customer uses. A request may hold another
   * version than the one followed (it began before a change, or its customer was deleted
   * meanwhile): it gets the followed breakers of the origins that did not change, and detached
   * ones for the rest, so it never brings back what a change removed, nor starts checks.
   */
  breakers(origins: CustomerOrigins): ReadonlyMap<string, OriginBreaker> {
    const known = this.#customers.get(origins.customerId);
    if (known !== undefined && known.origins === origins) return known.breakers;
    const now = this.#now();
    const view = new Map<string, OriginBreaker>();
    for (const target of origins.usable) {
      const followed = known?.breakers.get(target.name);
      if (followed !== undefined && followed.target.identity === target.identity) {
        view.set(target.name, followed);
      } else {
        const detached = new OriginBreaker(target, now);
        detached.stopped = true;
        view.set(target.name, detached);
      }
    }
    return view;
  }

  /** A deleted customer: its checks stop, its health is forgotten. */
  forget(customerId: string): void {
    const known = this.#customers.get(customerId);
    if (known === undefined) return;
    this.#customers.delete(customerId);
    for (const breaker of known.breakers.values()) stop(breaker);
  }

  /** The health of the customer's origins as this process sees it; undefined: a customer it does not know. */
  report(customerId: string): OriginHealthReport[] | undefined {
    const known = this.#customers.get(customerId);
    if (known === undefined) return undefined;
    return [...known.breakers.values()].map((b) => ({
      origin: b.target.name,
      state: b.state,
      since: new Date(b.since).toISOString(),
      reason: b.reason,
      consecutiveFailures: b.failures,
      checked: b.target.healthCheck !== null,
      lastCheck: b.lastCheck === null ? null : { at: new Date(b.lastCheck.at).toISOString(), ok: b.lastCheck.ok, detail: b.lastCheck.detail },
    }));
  }

  /** Every breaker, for the cdn_edge_origin_up gauge. */
  *states(): Iterable<{ customer: string; origin: string; up: boolean }> {
    for (const [customer, known] of this.#customers) for (const b of known.breakers.values()) yield { customer, origin: b.target.name, up: b.up };
  }

  /** Told of every transition (up → down, down → up). */
  subscribe(listener: (change: OriginHealthChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A request was sent to a half-open origin: no other goes until it settles. */
  beginTrial(breaker: OriginBreaker): void {
    breaker.trial = true;
  }

  /** A request to this origin got an answer that says it works. */
  requestPassed(customerId: string, breaker: OriginBreaker, wasTrial: boolean): void {
    if (breaker.up) {
      breaker.failures = 0;
      return;
    }
    if (!wasTrial) return;
    breaker.trial = false;
    this.#transition(customerId, breaker, 'up', 'a trial request succeeded');
  }

  /** A request to this origin failed (`why`: a timeout, a refused connection, a 5xx...). */
  requestFailed(customerId: string, breaker: OriginBreaker, why: string, wasTrial: boolean): void {
    if (!breaker.up) {
      if (!wasTrial) return;
      breaker.trial = false;
      breaker.trialAt = this.#now() + this.#options.cooldownMs;
      breaker.reason = `trial request failed: ${why}`;
      return;
    }
    breaker.failures += 1;
    if (breaker.failures >= this.#threshold(breaker)) this.#transition(customerId, breaker, 'down', `${breaker.failures} requests failed in a row, the last: ${why}`);
  }

  /** A request ended without saying anything about the origin (the client left, the SSRF guard refused it). */
  requestSettled(breaker: OriginBreaker, wasTrial: boolean): void {
    if (wasTrial) breaker.trial = false;
  }

  /** Stops every check (the edge closes). */
  close(): void {
    this.#closed = true;
    for (const known of this.#customers.values()) for (const breaker of known.breakers.values()) stop(breaker);
  }

  #threshold(breaker: OriginBreaker): number {
    return breaker.target.healthCheck?.unhealthyThreshold ?? this.#options.unhealthyThreshold;
  }

  #transition(customerId: string, breaker: OriginBreaker, state: OriginState, reason: string): void {
    // A breaker no longer followed (its origin changed or went): nothing to say about it.
    if (breaker.stopped) return;
    const now = this.#now();
    breaker.state = state;
    breaker.since = now;
    breaker.reason = reason;
    breaker.passes = 0;
    breaker.trial = false;
    if (state === 'up') {
      breaker.failures = 0;
      this.#options.logger.info({ customer: customerId, origin: breaker.target.name, reason }, 'origin up');
    } else {
      breaker.trialAt = now + this.#options.cooldownMs;
      this.#options.logger.warn({ customer: customerId, origin: breaker.target.name, reason }, 'origin down');
    }
    const change: OriginHealthChange = { customerId, origin: breaker.target.name, state, reason, at: new Date(now).toISOString() };
    for (const listener of this.#listeners) listener(change);
  }

  #schedule(customerId: string, breaker: OriginBreaker, delayMs: number): void {
    if (breaker.stopped || this.#closed) return;
    breaker.timer = setTimeout(() => void this.#check(customerId, breaker), delayMs);
    // Checks never keep a process alive on their own.
    breaker.timer.unref();
  }

  async #check(customerId: string, breaker: OriginBreaker): Promise<void> {
    const target = breaker.target;
    const check = target.healthCheck!;
    const abort = new AbortController();
    breaker.checking = abort;
    const timeout = setTimeout(() => abort.abort(), check.timeoutMs);
    let ok: boolean;
    let detail: string;
    try {
      const headers: Record<string, string> = { host: target.hostHeader, 'user-agent': this.#options.userAgent, 'cdn-loop': this.#options.cdnId };
      if (target.authorization) headers.authorization = target.authorization;
      const res = await this.#options.pools.request(target, { method: 'GET', path: target.pathPrefix + check.path, headers, body: null, signal: abort.signal });
      res.body.on('error', () => {});
      void res.body.dump().catch(() => {});
      ok = res.statusCode >= check.expectedStatusMin && res.statusCode <= check.expectedStatusMax;
      detail = `status ${res.statusCode}${ok ? '' : ` (expected ${check.expectedStatusMin}-${check.expectedStatusMax})`}`;
    } catch (err) {
      ok = false;
      detail = abort.signal.aborted ? `no answer within ${check.timeoutMs} ms` : String((err as { code?: unknown }).code ?? (err instanceof Error ? err.message : err));
    } finally {
      clearTimeout(timeout);
      breaker.checking = undefined;
    }
    // Dropped meanwhile (the customer changed, the edge closes): its verdict no longer counts.
    if (breaker.stopped) return;
    breaker.lastCheck = { at: this.#now(), ok, detail };
    if (ok) this.#checkPassed(customerId, breaker, detail);
    else this.#checkFailed(customerId, breaker, detail);
    this.#schedule(customerId, breaker, check.intervalSeconds * 1000);
  }

  #checkPassed(customerId: string, breaker: OriginBreaker, detail: string): void {
    if (breaker.up) {
      breaker.failures = 0;
      return;
    }
    breaker.passes += 1;
    const needed = breaker.target.healthCheck!.healthyThreshold;
    if (breaker.passes >= needed) this.#transition(customerId, breaker, 'up', `${needed} health checks passed in a row (${detail})`);
  }

  #checkFailed(customerId: string, breaker: OriginBreaker, detail: string): void {
    if (!breaker.up) {
      breaker.passes = 0;
      return;
    }
    breaker.failures += 1;
    if (breaker.failures >= this.#threshold(breaker)) this.#transition(customerId, breaker, 'down', `${breaker.failures} failures in a row, the last a health check: ${detail}`);
  }
}

function stop(breaker: OriginBreaker): void {
  breaker.stopped = true;
  clearTimeout(breaker.timer);
  breaker.checking?.abort();
}
