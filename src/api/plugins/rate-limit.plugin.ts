/**
 * Rate limits per caller (CDN_API_RATE_LIMIT_PER_MINUTE, CDN_API_PURGE_RATE_LIMIT_PER_MINUTE):
 * every operation takes one unit of the caller's operations budget, and a mutation takes one
 * unit of its purge budget per purgeCache it runs (aliases included). Budgets live behind the
 * RateLimiter port, so on Redis every api process spends the same ones.
 *
 * The caller is the token (`principal.tokenId`), or the principal's kind for the bootstrap
 * admin token. When the limiter cannot answer (Redis down) operations are let through and a
 * warning is logged at most once a minute: an outage of the limiter must not stop the API.
 */
import { Kind, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode } from 'graphql';
import { CdnError } from '../../core/errors';
import type { RateLimiter } from '../../core/rate-limit.port';
import type { Logger } from '../../obs/logger.factory';
import type { Principal } from '../../core/roles';
import { rootFields } from './selection.walk';

export const PURGE_FIELD = 'purgeCache';
const LIMITER_WARNING_INTERVAL_MS = 60_000;

export interface RateLimits {
  perMinute: number;
  purgesPerMinute: number;
}

export class RateGuard {
  readonly #limiter: RateLimiter;
  readonly #limits: RateLimits;
  readonly #log: Logger;
  #lastWarningAt = 0;

  constructor(options: { limiter: RateLimiter; limits: RateLimits; logger: Logger }) {
    this.#limiter = options.limiter;
    this.#limits = options.limits;
    this.#log = options.logger;
  }

  /** Takes the operation's units, or throws CDN_ERR_RATE_LIMITED / CDN_ERR_RATE_OPERATION_TOO_LARGE. */
  async admit(principal: Principal | null, document: DocumentNode, operation: OperationDefinitionNode): Promise<void> {
    const caller = callerKey(principal);
    const purges = operation.operation === 'mutation' ? countRootField(document, operation, PURGE_FIELD) : 0;
    if (purges > this.#limits.purgesPerMinute) {
      throw new CdnError('CDN_ERR_RATE_OPERATION_TOO_LARGE', ['purges', purges, this.#limits.purgesPerMinute], {
        limit: 'CDN_API_PURGE_RATE_LIMIT_PER_MINUTE',
        perMinute: this.#limits.purgesPerMinute,
      });
    }
    await this.#take(`ops:${caller}`, 1, this.#limits.perMinute, 'operations', 'CDN_API_RATE_LIMIT_PER_MINUTE');
    if (purges > 0) await this.#take(`purges:${caller}`, purges, this.#limits.purgesPerMinute, 'purges', 'CDN_API_PURGE_RATE_LIMIT_PER_MINUTE');
  }

  async #take(key: string, cost: number, perMinute: number, what: string, setting: string): Promise<void> {
    let decision;
    try {
      decision = await this.#limiter.take(key, cost, { perMinute });
    } catch (err) {
      const now = Date.now();
      if (now - this.#lastWarningAt >= LIMITER_WARNING_INTERVAL_MS) {
        this.#lastWarningAt = now;
        this.#log.warn({ err }, 'rate limiter unavailable: operations are let through without rate limits');
      }
      return;
    }
    if (decision.allowed) return;
    const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    throw new CdnError('CDN_ERR_RATE_LIMITED', [what, perMinute, retryAfterSeconds], { limit: setting, perMinute, retryAfterSeconds });
  }
}

/** One budget per token; the bootstrap admin token (no token id) has its own. */
export function callerKey(principal: Principal | null): string {
  if (principal?.tokenId !== undefined) return `token:${principal.tokenId}`;
  return `kind:${principal?.kind ?? 'anonymous'}`;
}

/** How many times the operation runs root field `name` (each response key runs once). */
export function countRootField(document: DocumentNode, operation: OperationDefinitionNode, name: string): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const keys = new Set<string>();
  for (const field of rootFields(operation.selectionSet, (n) => fragments.get(n))) {
    if (field.name.value === name) keys.add(field.alias?.value ?? field.name.value);
  }
  return keys.size;
}
