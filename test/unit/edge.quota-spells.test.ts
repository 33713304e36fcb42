/**
 * QuotaSpells (src/edge/cache/quota-spells.ts) on a settable clock: a spell begins at the first
 * quota eviction, adds up the bytes, is current for ten minutes after the last eviction,
 * continues (same since) when evictions resume within the hour, and starts anew after an hour
 * without one; customers apart; oldest first; a deleted customer's spell goes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CURRENT_MS, QUIET_MS, QuotaSpells } from '../../src/edge/cache/quota-spells';

test('quota spells begin, add up, stay current ten minutes, continue within the hour and start anew after it', () => {
  let now = Date.parse('2030-01-01T00:00:00.000Z');
  const spells = new QuotaSpells(() => now);
  assert.deepEqual(spells.current(), []);
  spells.evicted('b-co', 100, 1000);
  now += 1000;
  spells.evicted('a-co', 50, 2000);
  spells.evicted('b-co', 200, 1500);
  assert.deepEqual(spells.current(), [
    { customerId: 'b-co', since: '2030-01-01T00:00:00.000Z', quotaBytes: 1500, evictedBytes: 300 },
    { customerId: 'a-co', since: '2030-01-01T00:00:01.000Z', quotaBytes: 2000, evictedBytes: 50 },
  ]);
  now += CURRENT_MS;
  assert.deepEqual(spells.current().map((s) => s.customerId), ['b-co', 'a-co'], 'still current at ten minutes');
  now += 1;
  assert.deepEqual(spells.current(), [], 'over ten minutes: not current');
  now += 20 * 60_000;
  spells.evicted('b-co', 10, 1500);
  assert.deepEqual(spells.current(), [{ customerId: 'b-co', since: '2030-01-01T00:00:00.000Z', quotaBytes: 1500, evictedBytes: 310 }], 'the same spell continued');
  now += QUIET_MS + 1;
  spells.evicted('b-co', 7, 1500);
  assert.deepEqual(spells.current(), [{ customerId: 'b-co', since: new Date(now).toISOString(), quotaBytes: 1500, evictedBytes: 7 }], 'a new spell after an hour');
  spells.forget('b-co');
  assert.deepEqual(spells.current(), []);
});
