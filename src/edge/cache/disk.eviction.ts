/**
 * Which objects to evict, least recently used first, from the index's LRU order:
 * a customer's own oldest objects for its quota, and for the global cap the oldest across
 * customers (a merge of each customer's oldest). One batch per call; the caller removes
 * it in one write transaction and asks again while still over the limit.
 */
import type { MetadataIndex, Victim } from './metadata.index';

export interface EvictionVictim extends Victim {
  customerId: string;
}

const BATCH = 64;

export function quotaVictims(index: MetadataIndex, customerId: string, quota: number): EvictionVictim[] {
  let excess = index.account(customerId).bytes - quota;
  const victims: EvictionVictim[] = [];
  for (const v of index.oldest(customerId, BATCH)) {
    if (excess <= 0) break;
    victims.push({ customerId, ...v });
    excess -= v.size;
  }
  return victims;
}

export function capacityVictims(index: MetadataIndex, maxBytes: number): EvictionVictim[] {
  let excess = index.total().bytes - maxBytes;
  if (excess <= 0) return [];
  const candidates: EvictionVictim[] = [];
  for (const { customerId, account } of index.accounts()) {
    if (account.objects > 0) for (const v of index.oldest(customerId, BATCH)) candidates.push({ customerId, ...v });
  }
  candidates.sort((a, b) => a.atime - b.atime);
  const victims: EvictionVictim[] = [];
  for (const c of candidates) {
    if (excess <= 0 || victims.length >= BATCH) break;
    victims.push(c);
    excess -= c.size;
  }
  return victims;
}
