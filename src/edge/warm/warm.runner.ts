/**
 * Warms this edge's cache (docs/EDGE.md, "Cache warming"): for each `warm.requested` the feed
 * hands over that is for this edge (every edge, or this one by CDN_EDGE_ID), asks for each URL
 * through the edge's own request path (loopback.fetcher.ts), and reports how far it got.
 *
 * - Bounded: at most `concurrency` warm requests in flight, all warms together (warm-slots.ts),
 *   and at most `ratePerSecond` started per second per origin (origin-pacer.ts). Client
 *   requests are never queued behind a warm: warm requests are a few more clients.
 * - Once per machine: the workers of a cluster all hear the event; only the process holding
 *   the edge's warmer lease (`claim`, the index's lease, as the purge lurker's) takes it up,
 *   and keeps the lease while it has work, so every warm of one machine runs in one process,
 *   under one budget.
 * - Not resumed: a process that stops mid-warm reports `stopped` (a shutdown) or nothing (a
 *   crash); the api shows that edge INCOMPLETE. A restarted process boots from the bus
 *   snapshot, which carries no warms. What was fetched stays cached.
 * - A 429 (the customer's rateLimit rule: the edge's own address is one client) is retried
 *   after its Retry-After, twice at most.
 */
import { redirectsToHttps } from '../../core/certificate.rules';
import type { CustomerConfig } from '../../core/customer.types';
import type { WarmReport } from '../../core/fleet.port';
import { machineOf, type WarmRequest, type WarmTarget } from '../../core/warm.types';
import type { Logger } from '../../obs/logger.factory';
import type { WarmOutcome } from '../metrics.catalog';
import type { WarmAnswer, WarmFetch } from './loopback.fetcher';
import { OriginPacer, sleep } from './origin-pacer';
import type { WarmReporter } from './warm.reporter';
import { WarmSlots } from './warm-slots';

/** The warmer lease lives this long unless renewed; renewed at a third of it while there is work. */
export const WARM_LEASE_MS = 30_000;
/** Warm ids remembered, so an event read twice (after a gap, by the bus) is warmed once. */
const SEEN_MAX = 1000;
const RETRIES_429 = 2;
const RETRY_AFTER_MAX_S = 10;

export interface WarmRunnerOptions {
  /** CDN_EDGE_ID: the edge a warm may name, and the one reports are about. */
  edgeId: string;
  /** This process's fleet id (`<CDN_EDGE_ID>#<n>` in a cluster) and start time, as its heartbeat says. */
  process: string;
  processStartedAt: string;
  concurrency: number;
  ratePerSecond: number;
  customers: { byId(id: string): CustomerConfig | undefined };
  fetch: WarmFetch;
  /** Whether URLs of customers redirected to HTTPS can be asked over the edge's own HTTPS port. */
  tls: boolean;
  /** Takes or renews the edge's warmer lease; false while another process of the edge holds it. */
  claim(ttlMs: number): Promise<boolean>;
  reporter: WarmReporter;
  /** One warm request ended (cdn_edge_warm_requests_total). */
  counted(customerId: string, outcome: WarmOutcome): void;
  /** No warm runs any more (the fetcher drops its HTTPS pools). */
  onIdle?(): void;
  logger: Logger;
  /** The edge's clock: which certificate is valid (HTTPS redirects), report times. */
  now?: () => number;
}

interface Job {
  warm: WarmRequest;
  done: number;
  failed: number;
}

export class WarmRunner {
  readonly #o: WarmRunnerOptions;
  readonly #log: Logger;
  readonly #machine: string;
  readonly #now: () => number;
  readonly #slots: WarmSlots;
  readonly #pacer: OriginPacer;
  readonly #stop = new AbortController();
  readonly #jobs = new Map<string, Job>();
  readonly #running = new Set<Promise<void>>();
  readonly #seen = new Set<string>();
  #leaseTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: WarmRunnerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'warm' });
    this.#machine = machineOf(options.edgeId);
    this.#now = options.now ?? Date.now;
    this.#slots = new WarmSlots(options.concurrency);
    // Real time, not the edge's clock (tests move that one by hand): a rate is per real second.
    this.#pacer = new OriginPacer(options.ratePerSecond);
  }

  /** A `warm.requested` the feed applied (it waits for nothing: the warm runs in the background). */
  requested(warm: WarmRequest): void {
    if (this.#closed) return;
    if (warm.edgeId !== null && warm.edgeId !== this.#machine) return;
    if (this.#seen.has(warm.id)) return;
    this.#seen.add(warm.id);
    if (this.#seen.size > SEEN_MAX) this.#seen.delete(this.#seen.values().next().value!);
    const run = this.#take(warm).catch((err: unknown) => this.#log.error({ warmId: warm.id, err: errorMessage(err) }, 'warm failed'));
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
  }

  /** Stops every warm: requests in flight are aborted, each unfinished warm is reported `stopped`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    clearInterval(this.#leaseTimer);
    await Promise.all([...this.#running]);
    await this.#o.reporter.stop();
  }

  async #take(warm: WarmRequest): Promise<void> {
    if (!(await this.#o.claim(WARM_LEASE_MS))) {
      this.#log.debug({ warmId: warm.id }, 'another process of this edge holds the warmer lease: it warms this one');
      return;
    }
    if (this.#closed) return;
    const job: Job = { warm, done: 0, failed: 0 };
    this.#jobs.set(warm.id, job);
    this.#holdLease();
    this.#log.info({ warmId: warm.id, customer: warm.customerId, urls: warm.targets.length }, 'warming');
    this.#report(job, 'warming', true);
    try {
      await this.#warm(job);
    } finally {
      this.#jobs.delete(warm.id);
      if (this.#jobs.size === 0) {
        clearInterval(this.#leaseTimer);
        this.#leaseTimer = undefined;
        this.#o.onIdle?.();
      }
    }
    const stopped = job.done + job.failed < warm.targets.length;
    this.#report(job, stopped ? 'stopped' : 'done', true);
    this.#log.info({ warmId: warm.id, customer: warm.customerId, done: job.done, failed: job.failed, stopped }, stopped ? 'warm stopped' : 'warm done');
  }

  async #warm(job: Job): Promise<void> {
    const signal = this.#stop.signal;
    const inFlight = new Set<Promise<void>>();
    for (const target of job.warm.targets) {
      const customer = this.#o.customers.byId(job.warm.customerId);
      // Deleted since (nothing of it is served any more), or the host is no longer one of its
      // domains: through the edge it would now be another customer's, whose origin and cache a
      // warm of this one must never touch.
      if (customer === undefined || !customer.domains.includes(target.host)) {
        this.#counted(job, 'failed');
        continue;
      }
      if (!(await this.#pacer.take(originOf(customer), signal))) break;
      if (!(await this.#slots.acquire(signal))) break;
      const one = this.#one(job, target, customer, signal).finally(() => this.#slots.release());
      inFlight.add(one);
      void one.finally(() => inFlight.delete(one));
    }
    await Promise.all([...inFlight]);
  }

  async #one(job: Job, target: WarmTarget, customer: CustomerConfig, signal: AbortSignal): Promise<void> {
    const secure = this.#o.tls && redirectsToHttps(customer.tls, target.host, this.#now());
    let answer: WarmAnswer = await this.#o.fetch(target, { secure, signal });
    for (let retry = 0; retry < RETRIES_429 && answer.status === 429 && !signal.aborted; retry++) {
      if (!(await sleep(Math.min(RETRY_AFTER_MAX_S, answer.retryAfterSeconds ?? 1) * 1000, signal))) break;
      answer = await this.#o.fetch(target, { secure, signal });
    }
    // A request cut by close() is not counted: the warm is reported stopped with what it finished.
    if (signal.aborted && answer.status === null) return;
    if (answer.status === null) this.#log.debug({ warmId: job.warm.id, path: target.path, err: answer.error }, 'warm request got no answer');
    this.#counted(job, outcomeOf(answer));
    this.#report(job, 'warming', false);
  }

  #counted(job: Job, outcome: WarmOutcome): void {
    if (outcome === 'failed') job.failed += 1;
    else job.done += 1;
    this.#o.counted(job.warm.customerId, outcome);
  }

  #report(job: Job, state: WarmReport['state'], now: boolean): void {
    this.#o.reporter.report(
      {
        warmId: job.warm.id,
        edgeId: this.#machine,
        process: this.#o.process,
        processStartedAt: this.#o.processStartedAt,
        state,
        total: job.warm.targets.length,
        done: job.done,
        failed: job.failed,
        at: new Date(this.#now()).toISOString(),
      },
      now,
    );
  }

  /** Renews the warmer lease while there is work, so this machine's next warms come here too. */
  #holdLease(): void {
    if (this.#leaseTimer !== undefined) return;
    this.#leaseTimer = setInterval(() => {
      this.#o.claim(WARM_LEASE_MS).then(
        (held) => {
          if (!held) this.#log.warn('lost the warmer lease (this process stalled?): another process of this edge may take the next warms');
        },
        (err: unknown) => this.#log.warn({ err: errorMessage(err) }, 'cannot renew the warmer lease'),
      );
    }, WARM_LEASE_MS / 3);
    this.#leaseTimer.unref();
  }
}

/** What a warm request came to, for the metric: a 4xx/5xx or no answer failed; else what the edge's X-Cache says. */
export function outcomeOf(answer: WarmAnswer): WarmOutcome {
  if (answer.status === null || answer.status >= 400) return 'failed';
  if (answer.cache === 'HIT' || answer.cache === 'STALE') return 'hit';
  if (answer.cache === 'BYPASS') return 'bypass';
  return 'miss';
}

/** The origin a warm paces itself by: scheme, host and port of the customer's origin. */
function originOf(customer: CustomerConfig): string {
  try {
    return new URL(customer.originUrl).origin;
  } catch {
    return customer.originUrl;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
