/**
 * Quota spells on the EdgeFleet contract (src/core/fleet.port.ts: the `quotasReached` of a
 * heartbeat, issue 16), one suite run against every implementation: the in-process MemoryFleet,
 * and the RedisFleet on a real Redis and on a three-master Redis Cluster. A heartbeat carries
 * them as sent; one without them (an older edge) has none; a malformed or too long list is
 * refused (edgeStatusProblem).
 */
import { after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { QUOTAS_REACHED_MAX, type EdgeStatus } from '../../src/core/fleet.port';
import { fixtureTest } from '../support/contract';
import { memoryFleetHarness, redisFleetHarness, type FleetFixture, type FleetHarness, type FleetOptions } from '../support/fleet.fixtures';
import { clusterTestTarget, serverTestTarget, stopSharedCluster } from '../support/redis-ha';

after(() => stopSharedCluster());

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
  describe(`EdgeFleet quota spells: ${harness.name}`, () => {
    const test = fixtureTest<FleetFixture, FleetOptions>((options) => harness.open(options));

    test('a heartbeat carries the quota spells, and a bad or too long list is refused', async (fx) => {
      const quotasReached = [{ customerId: 'customer-1', since: '2026-11-01T00:00:00.500Z', quotaBytes: 1_048_576, evictedBytes: 409_600 }];
      await fx.fleet.heartbeat(statusOf({ quotasReached }), 10_000);
      await fx.fleet.heartbeat(statusOf({ edgeId: 'edge-b' }), 10_000);
      const live = await fx.peer().liveEdges();
      assert.deepEqual(live.map((e) => [e.edgeId, e.quotasReached]), [['edge-a', quotasReached], ['edge-b', undefined]]);
      const spell = quotasReached[0]!;
      await assert.rejects(fx.fleet.heartbeat(statusOf({ quotasReached: [{ ...spell, customerId: '' }] }), 10_000), /invalid edge status: "quotasReached"\[0\]: "customerId" must be a non-empty string/);
      await assert.rejects(fx.fleet.heartbeat(statusOf({ quotasReached: [{ ...spell, since: 'yesterday' }] }), 10_000), /"quotasReached"\[0\]: "since" must be an ISO time/);
      await assert.rejects(fx.fleet.heartbeat(statusOf({ quotasReached: [{ ...spell, evictedBytes: -1 }] }), 10_000), /"quotasReached"\[0\]: "evictedBytes" must be a whole number/);
      const tooMany = Array.from({ length: QUOTAS_REACHED_MAX + 1 }, (_, i) => ({ ...spell, customerId: `c${i}` }));
      await assert.rejects(fx.fleet.heartbeat(statusOf({ quotasReached: tooMany }), 10_000), /at most 1000 spells, got 1001/);
    });
  });
}

contract(memoryFleetHarness);
contract(redisFleetHarness('RedisFleet', serverTestTarget));
contract(redisFleetHarness('RedisFleet on Redis Cluster', clusterTestTarget));
