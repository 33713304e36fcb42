/**
 * The bans one edge process holds in memory, per customer: what lookups check. A
 * customer with no bans has no entry, so its hit path costs one Map miss.
 *
 * A ban is held from the moment this process applies it (or loads it at start) until
 * the lurker has retired it in the index, a grace period has passed and this process has
 * dropped the objects it covers from its own memory tier (purge.lurker.ts).
 */
import { CustomerBans, type Ban } from './ban.rules';

export class BanTable {
  readonly #customers = new Map<string, CustomerBans>();
  /** purgeId -> when the index says it was retired (learned by polling). */
  readonly #retiredAt = new Map<string, number>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The customer's bans, undefined when it has none (the common case). */
  of(customerId: string): CustomerBans | undefined {
    return this.#customers.get(customerId);
  }

  /** Holds a ban (no-op when held already). */
  hold(ban: Ban): void {
    let bans = this.#customers.get(ban.customerId);
    if (bans === undefined) {
      bans = new CustomerBans();
      this.#customers.set(ban.customerId, bans);
    }
    if (bans.add(ban)) this.#size += 1;
  }

  *held(): Generator<Ban> {
    for (const bans of this.#customers.values()) yield* bans.bans();
  }

  retiredAt(purgeId: string): number | undefined {
    return this.#retiredAt.get(purgeId);
  }

  noteRetired(purgeId: string, at: number): void {
    this.#retiredAt.set(purgeId, at);
  }

  /** Stops holding these bans. */
  release(bans: readonly Ban[]): void {
    const byCustomer = new Map<string, string[]>();
    for (const ban of bans) {
      const ids = byCustomer.get(ban.customerId) ?? [];
      ids.push(ban.purgeId);
      byCustomer.set(ban.customerId, ids);
      this.#retiredAt.delete(ban.purgeId);
    }
    for (const [customerId, ids] of byCustomer) {
      const held = this.#customers.get(customerId);
      if (held === undefined) continue;
      const before = held.size;
      held.delete(ids);
      this.#size -= before - held.size;
      if (held.size === 0) this.#customers.delete(customerId);
    }
  }
}
