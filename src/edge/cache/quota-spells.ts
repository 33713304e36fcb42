/**
 * Quota spells (issue 16, `quota.reached`): when a customer's disk quota is being enforced on
 * this edge process, as its heartbeat says (core/fleet.port.ts `quotasReached`).
 *
 * The disk tier evicts a customer's oldest objects whenever a put takes it over its quota,
 * which, for a customer whose working set is larger than its quota, is every few puts. One
 * eviction is not news; a customer starting to live at its quota is. So evictions are grouped
 * into spells: a spell begins at the first quota eviction after none for QUIET_MS (an hour), or
 * since the process started, and is current while evictions keep happening (the last one
 * within CURRENT_MS, ten minutes). Evictions that resume after a pause shorter than QUIET_MS
 * continue the same spell (same `since`), so a customer hovering at its quota is one spell,
 * and one webhook event, not one per burst.
 *
 * Per process (each cluster worker evicts for its own puts), in memory: one entry per
 * customer that evicted within the last hour, dropped after that or when the customer goes.
 */

import type { QuotaReached } from '../../core/fleet.port';

export const QUIET_MS = 60 * 60 * 1000;
export const CURRENT_MS = 10 * 60 * 1000;

interface Spell {
  since: number;
  last: number;
  quotaBytes: number;
  evictedBytes: number;
}

export class QuotaSpells {
  readonly #now: () => number;
  readonly #spells = new Map<string, Spell>();

  /** `now`: milliseconds since the epoch (the edge's Clock). */
  constructor(now: () => number) {
    this.#now = now;
  }

  /** One object evicted for the customer's quota (`quotaBytes`: its quota now). */
  evicted(customerId: string, bytes: number, quotaBytes: number): void {
    const now = this.#now();
    const spell = this.#spells.get(customerId);
    if (spell === undefined || now - spell.last > QUIET_MS) {
      this.#spells.set(customerId, { since: now, last: now, quotaBytes, evictedBytes: bytes });
      return;
    }
    spell.last = Math.max(spell.last, now);
    spell.quotaBytes = quotaBytes;
    spell.evictedBytes += bytes;
  }

  /** The current spells, oldest first (then by customer); forgets spells over for an hour. */
  current(): QuotaReached[] {
    const now = this.#now();
    const out: Array<QuotaReached & { at: number }> = [];
    for (const [customerId, s] of this.#spells) {
      if (now - s.last > QUIET_MS) this.#spells.delete(customerId);
      else if (now - s.last <= CURRENT_MS) out.push({ at: s.since, customerId, since: new Date(s.since).toISOString(), quotaBytes: s.quotaBytes, evictedBytes: s.evictedBytes });
    }
    out.sort((a, b) => a.at - b.at || (a.customerId < b.customerId ? -1 : a.customerId > b.customerId ? 1 : 0));
    return out.map(({ customerId, since, quotaBytes, evictedBytes }) => ({ customerId, since, quotaBytes, evictedBytes }));
  }

  /** The customer was deleted: its spell ends with it. */
  forget(customerId: string): void {
    this.#spells.delete(customerId);
  }
}
