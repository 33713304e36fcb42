/**
 * Origin health on the EdgeFleet contract (src/core/fleet.port.ts: reportOriginHealth,
 * readOriginHealth, and the `originsDown` of a heartbeat), one suite run against every
 * implementation: the in-process MemoryFleet, and the RedisFleet on a real Redis and on a
 * three-master Redis Cluster. Transitions travel as warm reports do (ordered, read with a
 * cursor from the oldest kept, never mixed with the other streams); then what only the Redis
 * one can meet: entries written behind its back.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ORIGINS_DOWN_MAX, type EdgeStatus, type OriginHealthEvent } from '../../src/core/fleet.port';
import { fixtureTest, timed } from '../support/contract';
import { memoryFleetHarness, redisFleetHarness, withRawRedisFleet, type FleetFixture, type FleetHarness, type FleetOptions } from '../support/fleet.fixtures';
import { clusterTestTarget, serverTestTarget, stopSharedCluster } from '../support/redis-ha';

after(() => stopSharedCluster());

function eventOf(i: number, overrides: Partial<OriginHealthEvent> = {}): OriginHealthEvent {
  return {
    edgeId: 'edge-a',
    customerId: 'customer-1',
    origin: `origin-${i}`,
    state: i % 2 === 0 ? 'up' : 'down',
    reason: i % 2 === 0 ? 'check passed' : 'connection refused',
    at: new Date(Date.UTC(2026, 10, 1, 0, 0, 0, i)).toISOString(),
    ...overrides,
  };
}

function statusOf(overrides: Partial<EdgeStatus> = {}): EdgeStatus {
  return {
    edgeId: 'edge-a',
    host: 'host-a',
    pid: 1,
    version: '1.0.0',
    appliedSeq: 0,
    ready: true,
    startedAt: '2026-11-01T00:00:00.000Z',
    heartbeatAt: '2026-11-01T00:00:01.000Z',
    cacheObjects: 0,
    cacheBytes: 0,
    ...overrides,
  };
}

function contract(harness: FleetHarness): void {
  describe(`EdgeFleet origin health: ${harness.name}`, () => {
    const test = fixtureTest<FleetFixture, FleetOptions>((options) => harness.open(options));

    test('transitions come back in order, exactly as sent, a page at a time, from another handle too', async (fx) => {
      const sent = [1, 2, 3, 4, 5].map((i) => eventOf(i));
      await fx.fleet.reportOriginHealth(sent.slice(0, 2));
      await fx.fleet.reportOriginHealth(sent.slice(2));
      const reader = fx.peer();
      const first = await reader.readOriginHealth('0', { blockMs: 0, count: 3 });
      assert.deepEqual(first.events, sent.slice(0, 3));
      const second = await reader.readOriginHealth(first.cursor, { blockMs: 0, count: 3 });
      assert.deepEqual(second.events, sent.slice(3));
      assert.deepEqual(await reader.readOriginHealth(second.cursor, { blockMs: 0 }), { cursor: second.cursor, events: [] });
    });

    test('a blocked read wakes for a transition sent meanwhile; "$" reads only new ones', async (fx) => {
      await fx.fleet.reportOriginHealth([eventOf(1)]);
      const tail = await fx.fleet.readOriginHealth('$', { blockMs: 0 });
      assert.deepEqual(tail.events, []);
      const pending = timed(fx.peer().readOriginHealth(tail.cursor, { blockMs: 5000 }));
      await sleep(100);
      await fx.fleet.reportOriginHealth([eventOf(2)]);
      const { value, ms } = await pending;
      assert.deepEqual(value.events, [eventOf(2)]);
      assert.ok(ms < 4000, `woke after ${ms.toFixed(0)} ms`);
    });

    test('origin health, warm reports and purge acks are separate streams', async ({ fleet }) => {
      await fleet.reportOriginHealth([eventOf(1)]);
      await fleet.ack([{ purgeId: 'purge-1', seq: 1, edgeId: 'edge-a', appliedAt: '2026-11-01T00:00:00.000Z', objectsRemoved: 0 }]);
      assert.deepEqual((await fleet.readOriginHealth('0', { blockMs: 0 })).events, [eventOf(1)]);
      assert.deepEqual((await fleet.readWarmReports('0', { blockMs: 0 })).reports, []);
      assert.deepEqual((await fleet.readAcks('0', { blockMs: 0 })).acks.map((a) => a.purgeId), ['purge-1']);
    });

    test('a bad transition is refused whole, naming the field, and nothing of its batch is kept', async ({ fleet }) => {
      await assert.rejects(fleet.reportOriginHealth([eventOf(1), eventOf(2, { state: 'sick' as OriginHealthEvent['state'] })]), /invalid origin health event: "state" must be one of up, down, got "sick"/);
      await assert.rejects(fleet.reportOriginHealth([eventOf(3, { origin: '' })]), /"origin" must be a non-empty string/);
      assert.deepEqual((await fleet.readOriginHealth('0', { blockMs: 0 })).events, []);
      await assert.rejects(fleet.readOriginHealth('yesterday', { blockMs: 0 }), /cursor must be/);
    });

    test('the oldest transitions are dropped beyond the bound; a cursor behind it continues from the oldest kept', async ({ fleet }) => {
      for (let i = 0; i < 30; i++) await fleet.reportOriginHealth(Array.from({ length: 10 }, (_, j) => eventOf(i * 10 + j + 1)));
      const read = await fleet.readOriginHealth('0', { blockMs: 0, count: 1000 });
      const kept = read.events.map((e) => Number(e.origin.slice('origin-'.length)));
      assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => 301 - kept.length + i));
      assert.ok(kept.length >= 10 && kept.length < 300, `kept ${kept.length} of 300 with a bound of 10`);
      if (harness.exactTrim) assert.equal(kept.length, 10);
    }, { max: 10 });

    test('a heartbeat carries the origins down, and a bad or too long list is refused', async (fx) => {
      const originsDown = [{ customerId: 'customer-1', origin: 'primary', since: '2026-11-01T00:00:00.500Z', reason: 'timeout' }];
      await fx.fleet.heartbeat(statusOf({ originsDown }), 10_000);
      await fx.fleet.heartbeat(statusOf({ edgeId: 'edge-b' }), 10_000);
      const live = await fx.peer().liveEdges();
      assert.deepEqual(live.map((e) => [e.edgeId, e.originsDown]), [['edge-a', originsDown], ['edge-b', undefined]]);
      await assert.rejects(fx.fleet.heartbeat(statusOf({ originsDown: [{ ...originsDown[0]!, origin: '' }] }), 10_000), /invalid edge status: "originsDown"\[0\]: "origin" must be a non-empty string/);
      const tooMany = Array.from({ length: ORIGINS_DOWN_MAX + 1 }, (_, i) => ({ ...originsDown[0]!, origin: `o${i}` }));
      await assert.rejects(fx.fleet.heartbeat(statusOf({ originsDown: tooMany }), 10_000), /at most 1000 origins, got 1001/);
    });

    test('a closed channel answers a blocked read with nothing, and refuses later calls', async (fx) => {
      const pending = fx.fleet.readOriginHealth('$', { blockMs: 5000 });
      await sleep(50);
      const { value, ms } = await timed((async () => {
        await fx.fleet.close();
        return pending;
      })());
      assert.deepEqual(value.events, []);
      assert.ok(ms < 2000, `closing took ${ms.toFixed(0)} ms`);
      await assert.rejects(fx.fleet.reportOriginHealth([eventOf(1)]), /closed/);
    });
  });
}

contract(memoryFleetHarness);
contract(redisFleetHarness('RedisFleet', serverTestTarget));
contract(redisFleetHarness('RedisFleet on Redis Cluster', clusterTestTarget));

describe('RedisFleet: origin health entries written behind its back', () => {
  it('are skipped and logged, and the cursor moves past them', () =>
    withRawRedisFleet(async ({ fleet, raw, prefix, warnings }) => {
      const stream = `${prefix}origin-health`;
      await fleet.reportOriginHealth([eventOf(1)]);
      const notJson = await raw.xadd(stream, '*', 'o', '{not json');
      const noField = await raw.xadd(stream, '*', 'w', JSON.stringify(eventOf(2)));
      await fleet.reportOriginHealth([eventOf(3)]);
      const read = await fleet.readOriginHealth('0', { blockMs: 0 });
      assert.deepEqual(read.events, [eventOf(1), eventOf(3)]);
      assert.deepEqual(
        warnings.map((w) => [w.fields.entryId, w.fields.problem, w.message]),
        [
          [notJson, 'not JSON', 'fleet: skipping a malformed origin health event'],
          [noField, 'no "o" field', 'fleet: skipping a malformed origin health event'],
        ],
      );
    }));
});
