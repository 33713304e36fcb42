/**
 * The fleet reporter's origin health (src/edge/sync/fleet-reporter.ts): each breaker
 * transition goes on the fleet's origin-health stream with the process's edgeId, and each
 * heartbeat lists the origins held down as the edge says at that beat. With real breakers:
 * test/integration/api.origin-health-edge.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import type { OriginHealthEvent } from '../../src/core/fleet.port';
import type { EdgeCustomerFeed } from '../../src/edge/customer-feed.port';
import { FleetReporter } from '../../src/edge/sync/fleet-reporter';
import type { Logger } from '../../src/obs/logger.factory';

const silent = { child: () => silent, info() {}, warn() {}, debug() {}, error() {} } as unknown as Logger;

test('transitions reach the origin-health stream, and the heartbeat lists the origins down', async () => {
  const fleet = new MemoryFleet();
  let emit: (change: Omit<OriginHealthEvent, 'edgeId'>) => void = () => {};
  const held = [{ customerId: 'c1', origin: 'backup', since: '2026-11-01T00:00:02.000Z', reason: 'timeout' }];
  const reporter = new FleetReporter({
    fleet,
    feed: { appliedSeq: () => 0 } as unknown as EdgeCustomerFeed,
    edgeId: 'edge-a#1',
    host: 'h',
    version: '1',
    intervalMs: 60_000,
    isReady: () => true,
    cacheSize: () => ({ objects: 0, bytes: 0 }),
    logger: silent,
    originsDown: () => held,
    onOriginHealth(listener) {
      emit = listener;
      return () => (emit = () => {});
    },
  });
  reporter.start();
  try {
    emit({ customerId: 'c1', origin: 'primary', state: 'down', reason: 'connection refused', at: '2026-11-01T00:00:01.000Z' });
    emit({ customerId: 'c1', origin: 'backup', state: 'down', reason: 'timeout', at: '2026-11-01T00:00:02.000Z' });
    emit({ customerId: 'c1', origin: 'primary', state: 'up', reason: 'check passed', at: '2026-11-01T00:00:03.000Z' });
    await sleep(20);
    const { events } = await fleet.readOriginHealth('0', { blockMs: 0 });
    assert.deepEqual(events.map((e) => [e.edgeId, e.origin, e.state, e.reason]), [
      ['edge-a#1', 'primary', 'down', 'connection refused'],
      ['edge-a#1', 'backup', 'down', 'timeout'],
      ['edge-a#1', 'primary', 'up', 'check passed'],
    ]);
    await reporter.beat();
    const [edge] = await fleet.liveEdges();
    assert.deepEqual(edge?.originsDown, [{ customerId: 'c1', origin: 'backup', since: '2026-11-01T00:00:02.000Z', reason: 'timeout' }]);
  } finally {
    await reporter.stop();
    await fleet.close();
  }
});
