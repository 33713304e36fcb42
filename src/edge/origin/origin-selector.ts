/**
 * Which of a customer's origins a request goes to, and what bounds its origin requests: the
 * health of each origin (origin-health.ts), the customer's slots (customer-slots.ts), its
 * retry budget (retry-budget.ts) and its origin policy with the edge's defaults.
 *
 * Selection: among the origins this request has not tried yet, those that may get it; of
 * them, the lowest priority number; within it, weighted random. An origin may get a
 * request when it is up, or when its breaker is half-open (down, cooled down, no trial in
 * flight) and either
 * - no untried origin is up (every origin is down: a trial is the only way to an answer,
 *   and only one request per origin per cool-down makes it), or
 * - the request may be retried elsewhere and the origin has no active check (nothing else
 *   would ever bring it back; a failed trial costs that request a retry, not an error).
 * A request that cannot be retried never serves as a trial while another origin is up.
 */
import type { CustomerConfig } from '../../core/customer.types';
import type { CustomerSlots } from './customer-slots';
import type { OriginBreaker, OriginHealth } from './origin-health';
import type { CustomerOrigins, OriginTarget } from './origin-target';
import type { RetryBudgets } from './retry-budget';

/** The edge's defaults for what a customer's originPolicy leaves null (src/edge/config.ts). */
export interface OriginDefaults {
  maxConnections: number;
  queueTimeoutMs: number;
  retryBudgetPercent: number;
  staleIfDownSeconds: number;
  /** Retries always allowed per customer per retry window (unless its budget is 0 %). */
  minRetries: number;
}

export type ResolvedOriginPolicy = Omit<OriginDefaults, 'minRetries'>;

export interface OriginPick {
  target: OriginTarget;
  breaker: OriginBreaker;
  /** Sent to a half-open origin: its outcome opens or closes the breaker. */
  trial: boolean;
}

export interface OriginSelectorOptions {
  health: OriginHealth;
  slots: CustomerSlots;
  budgets: RetryBudgets;
  defaults: OriginDefaults;
  /** Weighted choice; a test injects a seeded one. */
  random?: () => number;
}

export class OriginSelector {
  readonly health: OriginHealth;
  readonly slots: CustomerSlots;
  readonly budgets: RetryBudgets;
  readonly defaults: OriginDefaults;
  readonly #random: () => number;

  constructor(options: OriginSelectorOptions) {
    this.health = options.health;
    this.slots = options.slots;
    this.budgets = options.budgets;
    this.defaults = options.defaults;
    this.#random = options.random ?? Math.random;
  }

  /** The customer's origin policy, each null field the edge's default. */
  policy(customer: CustomerConfig): ResolvedOriginPolicy {
    const p = customer.originPolicy;
    const d = this.defaults;
    return {
      maxConnections: p?.maxConnections ?? d.maxConnections,
      queueTimeoutMs: p?.queueTimeoutMs ?? d.queueTimeoutMs,
      retryBudgetPercent: p?.retryBudgetPercent ?? d.retryBudgetPercent,
      staleIfDownSeconds: p?.staleIfDownSeconds ?? d.staleIfDownSeconds,
    };
  }

  /** The origin for this attempt, its trial begun when it is one; undefined: none may be asked now. */
  pick(origins: CustomerOrigins, tried: ReadonlySet<string>, retryable: boolean): OriginPick | undefined {
    const pick = this.#choose(origins, tried, retryable, true);
    if (pick?.trial) this.health.beginTrial(pick.breaker);
    return pick;
  }

  /** Whether an untried origin could take a retry now (nothing is begun). */
  hasCandidate(origins: CustomerOrigins, tried: ReadonlySet<string>, retryable: boolean): boolean {
    return this.#choose(origins, tried, retryable, false) !== undefined;
  }

  /** Every origin of the customer is down, by this process's view. */
  allDown(origins: CustomerOrigins): boolean {
    for (const breaker of this.health.breakers(origins).values()) if (breaker.up) return false;
    return true;
  }

  /** Seconds until a down origin may be tried again (for Retry-After), at least 1. */
  retryAfterSeconds(origins: CustomerOrigins): number {
    const now = this.health.now();
    let soonest = Infinity;
    for (const breaker of this.health.breakers(origins).values()) soonest = Math.min(soonest, breaker.trialAt - now);
    return Number.isFinite(soonest) ? Math.max(1, Math.ceil(soonest / 1000)) : 1;
  }

  #choose(origins: CustomerOrigins, tried: ReadonlySet<string>, retryable: boolean, draw: boolean): OriginPick | undefined {
    const breakers = this.health.breakers(origins);
    const now = this.health.now();
    let anyUp = false;
    for (const target of origins.usable) if (!tried.has(target.name) && breakers.get(target.name)!.up) anyUp = true;
    let priority = Infinity;
    const group: OriginPick[] = [];
    let total = 0;
    // origins.usable is sorted by priority: the first group with a candidate is the one.
    for (const target of origins.usable) {
      if (target.priority > priority) break;
      if (tried.has(target.name)) continue;
      const breaker = breakers.get(target.name)!;
      let trial = false;
      if (!breaker.up) {
        if (!breaker.trialAllowed(now)) continue;
        if (anyUp && !(retryable && target.healthCheck === null)) continue;
        trial = true;
      }
      priority = target.priority;
      group.push({ target, breaker, trial });
      total += target.weight;
    }
    if (group.length <= 1 || !draw) return group[0];
    let r = this.#random() * total;
    for (const pick of group) {
      r -= pick.target.weight;
      if (r < 0) return pick;
    }
    return group[group.length - 1];
  }
}
