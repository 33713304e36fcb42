/**
 * The warm reports of the EdgeFleet contract (src/core/fleet.port.ts: reportWarms,
 * readWarmReports), one suite run against every implementation: the in-process MemoryFleet,
 * and the RedisFleet on a real Redis and on a three-master Redis Cluster. Reports travel as
 * purge acks do (ordered, read with a cursor from the oldest kept, never mixed with the
 * acks); then what only the Redis one can meet: entries written behind its back.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WarmReport } from '../../src/core/fleet.port';
import { fixtureTest, timed } from '../support/contract';
import { memoryFleetHarness, redisFleetHarness, withRawRedisFleet, type FleetFixture, type FleetHarness, type FleetOptions } from '../support/fleet.fixtures';
import { clusterTestTarget, serverTestTarget, stopSharedCluster } from '../support/redis-ha';

after(() => stopSharedCluster());

function reportOf(i: number, overrides: Partial<WarmReport> = {}): WarmReport {
  return {
    warmId: `warm-${i}`,
    edgeId: 'edge-a',
    process: 'edge-a#1',
    processStartedAt: '2026-11-01T00:00:00.000Z',
    state: 'warming',
    total: 10,
    done: i % 10,
    failed: 0,
    at: new Date(Date.UTC(2026, 10, 1, 0, 0, 0, i)).toISOString(),
    ...overrides,
  };
}

function contract(harness: FleetHarness): void {
  describe(`EdgeFleet warm reports: ${harness.name}`, () => {
    const test = fixtureTest<FleetFixture, FleetOptions>((options) => harness.open(options));

    test('an empty channel answers no reports after blockMs', async ({ fleet }) => {
      const { value, ms } = await timed(fleet.readWarmReports('0', { blockMs: 150 }));
      assert.deepEqual(value.reports, []);
      assert.ok(ms >= 120, `answered after ${ms.toFixed(0)} ms, before blockMs`);
    });

    test('reports come back in order, exactly as sent, a page at a time, from another handle too', async (fx) => {
      const sent = [1, 2, 3, 4, 5].map((i) => reportOf(i, { state: i === 5 ? 'done' : 'warming' }));
      await fx.fleet.reportWarms(sent.slice(0, 2));
      await fx.fleet.reportWarms(sent.slice(2));
      const reader = fx.peer();
      const first = await reader.readWarmReports('0', { blockMs: 0, count: 3 });
      assert.deepEqual(first.reports, sent.slice(0, 3));
      const second = await reader.readWarmReports(first.cursor, { blockMs: 0, count: 3 });
      assert.deepEqual(second.reports, sent.slice(3));
      const none = await reader.readWarmReports(second.cursor, { blockMs: 0 });
      assert.deepEqual(none, { cursor: second.cursor, reports: [] });
    });

    test('a blocked read wakes for a report sent meanwhile; "$" reads only new ones', async (fx) => {
      await fx.fleet.reportWarms([reportOf(1)]);
      const tail = await fx.fleet.readWarmReports('$', { blockMs: 0 });
      assert.deepEqual(tail.reports, []);
      const pending = timed(fx.peer().readWarmReports(tail.cursor, { blockMs: 5000 }));
      await sleep(100);
      await fx.fleet.reportWarms([reportOf(2)]);
      const { value, ms } = await pending;
      assert.deepEqual(value.reports, [reportOf(2)]);
      assert.ok(ms < 4000, `woke after ${ms.toFixed(0)} ms`);
    });

    test('warm reports and purge acks are separate streams', async ({ fleet }) => {
      await fleet.reportWarms([reportOf(1)]);
      await fleet.ack([{ purgeId: 'purge-1', seq: 1, edgeId: 'edge-a', appliedAt: '2026-11-01T00:00:00.000Z', objectsRemoved: 0 }]);
      assert.deepEqual((await fleet.readWarmReports('0', { blockMs: 0 })).reports, [reportOf(1)]);
      assert.deepEqual((await fleet.readAcks('0', { blockMs: 0 })).acks.map((a) => a.purgeId), ['purge-1']);
    });

    test('a bad report is refused whole, naming the field, and nothing of its batch is kept', async ({ fleet }) => {
      await assert.rejects(fleet.reportWarms([reportOf(1), reportOf(2, { state: 'lost' as WarmReport['state'] })]), /invalid warm report: "state" must be one of warming, done, stopped, got "lost"/);
      await assert.rejects(fleet.reportWarms([reportOf(3, { done: -1 })]), /"done" must be a whole number of at least 0/);
      await assert.rejects(fleet.reportWarms([reportOf(4, { process: '' })]), /"process" must be a non-empty string/);
      assert.deepEqual((await fleet.readWarmReports('0', { blockMs: 0 })).reports, []);
      await assert.rejects(fleet.readWarmReports('yesterday', { blockMs: 0 }), /cursor must be/);
    });

    test('the oldest reports are dropped beyond the bound; a cursor behind it continues from the oldest kept', async ({ fleet }) => {
      for (let i = 0; i < 30; i++) await fleet.reportWarms(Array.from({ length: 10 }, (_, j) => reportOf(i * 10 + j + 1)));
      const read = await fleet.readWarmReports('0', { blockMs: 0, count: 1000 });
      const kept = read.reports.map((r) => Number(r.warmId.slice('warm-'.length)));
      // A suffix without holes, ending at the last report; Redis trims roughly (MAXLEN ~), never below the bound.
      assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => 301 - kept.length + i));
      assert.ok(kept.length >= 10 && kept.length < 300, `kept ${kept.length} of 300 with a bound of 10`);
      if (harness.exactTrim) assert.equal(kept.length, 10);
    }, { max: 10 });

    test('a closed channel answers a blocked read with nothing, and refuses later calls', async (fx) => {
      const pending = fx.fleet.readWarmReports('$', { blockMs: 5000 });
      await sleep(50);
      const { value, ms } = await timed((async () => {
        await fx.fleet.close();
        return pending;
      })());
      assert.deepEqual(value.reports, []);
      assert.ok(ms < 2000, `closing took ${ms.toFixed(0)} ms`);
      await assert.rejects(fx.fleet.reportWarms([reportOf(1)]), /closed/);
    });
  });
}

contract(memoryFleetHarness);
contract(redisFleetHarness('RedisFleet', serverTestTarget));
contract(redisFleetHarness('RedisFleet on Redis Cluster', clusterTestTarget));

describe('RedisFleet: warm report entries written behind its back', () => {
  it('are skipped and logged, and the cursor moves past them', () =>
    withRawRedisFleet(async ({ fleet, raw, prefix, warnings }) => {
      const stream = `${prefix}warm-reports`;
      await fleet.reportWarms([reportOf(1)]);
      const notJson = await raw.xadd(stream, '*', 'w', '{not json');
      const wrongShape = await raw.xadd(stream, '*', 'w', JSON.stringify({ ...reportOf(2), total: 'ten' }));
      const noField = await raw.xadd(stream, '*', 'a', JSON.stringify(reportOf(3)));
      await fleet.reportWarms([reportOf(4)]);
      const read = await fleet.readWarmReports('0', { blockMs: 0 });
      assert.deepEqual(read.reports, [reportOf(1), reportOf(4)]);
      assert.deepEqual(
        warnings.map((w) => [w.fields.entryId, w.fields.problem, w.message]),
        [
          [notJson, 'not JSON', 'fleet: skipping a malformed warm report'],
          [wrongShape, '"total" must be a whole number of at least 0, got "ten"', 'fleet: skipping a malformed warm report'],
          [noField, 'no "w" field', 'fleet: skipping a malformed warm report'],
        ],
      );
    }));
});
