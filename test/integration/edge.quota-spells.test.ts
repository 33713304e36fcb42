/**
 * Quota spells on a real edge (issue 16, quota.reached): a customer whose objects exceed its
 * disk quota (1 MiB, the least allowed) has its oldest objects evicted, and the edge's heartbeat
 * on its fleet lists the spell (`quotasReached`: since, quota, bytes evicted); a customer under
 * its quota is not listed; a spell with no eviction for ten minutes (the edge's clock) is no
 * longer listed, and evictions within the hour continue it (same since), after an hour start a
 * new one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import type { CustomerConfig } from '../../src/core/customer.types';
import type { QuotaReached } from '../../src/core/fleet.port';
import { startEdge } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { customer, edgeConfig, eventually, http, ManualClock, silentLogger, startScriptedOrigin, tempDir } from './edge.harness';

const MIB = 1_048_576;
const OBJECT_BYTES = 400 * 1024;

test('an edge evicting for a customer quota lists the spell in its heartbeats, and only while it lasts', async () => {
  const tmp = await tempDir();
  const body = Buffer.alloc(OBJECT_BYTES, 'q');
  const origin = await startScriptedOrigin((_req, res) => res.writeHead(200, { 'cache-control': 'max-age=86400', 'content-type': 'application/octet-stream' }).end(body));
  const over: CustomerConfig = { ...customer('over-co', origin.url, ['cdn.over.test']), cacheQuotaBytes: MIB };
  const under: CustomerConfig = { ...customer('under-co', origin.url, ['cdn.under.test']), cacheQuotaBytes: 100 * MIB };
  const fleet = new MemoryFleet();
  // The edge's clock starts at the wall clock's time (the origin's Date header says now), then moves on its own.
  const start = Date.now();
  const clock = new ManualClock(start);
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_HEARTBEAT_MS: '100' }), {
    customers: createStaticCustomerFeed([over, under]),
    logger: silentLogger,
    fleet,
    clock,
    edgeId: 'quota-edge',
  });
  const spells = async (): Promise<QuotaReached[] | undefined> => (await fleet.liveEdges()).find((e) => e.edgeId === 'quota-edge')?.quotasReached;
  const fill = async (host: string, paths: string[]): Promise<void> => {
    for (const p of paths) assert.equal((await http(edge.url, p, { host })).status, 200);
  };
  try {
    await eventually(async () => (await spells()) !== undefined, 5000, 'the first heartbeat');
    assert.deepEqual(await spells(), [], 'nothing evicted yet: no spell');
    // Four objects of 400 KiB each for both: over-co's 1 MiB holds two, under-co's 100 MiB all.
    await fill('cdn.under.test', ['/u1', '/u2', '/u3', '/u4']);
    await fill('cdn.over.test', ['/o1', '/o2', '/o3', '/o4']);
    await eventually(async () => ((await spells())?.[0]?.evictedBytes ?? 0) >= 2 * OBJECT_BYTES, 5000, 'the spell with two objects evicted');
    const [spell, ...others] = (await spells())!;
    assert.deepEqual(others, [], 'under-co, under its quota, is not listed');
    assert.deepEqual(spell, { customerId: 'over-co', since: new Date(start).toISOString(), quotaBytes: MIB, evictedBytes: 2 * OBJECT_BYTES });

    // More evictions five minutes later: the same spell, more bytes.
    clock.advance(5 * 60_000);
    await fill('cdn.over.test', ['/o5']);
    await eventually(async () => (await spells())?.[0]?.evictedBytes === 3 * OBJECT_BYTES, 5000, 'the third eviction counted');
    assert.equal((await spells())![0]!.since, new Date(start).toISOString(), 'the same spell');

    // Ten minutes without one: no longer listed.
    clock.advance(10 * 60_000 + 1);
    await eventually(async () => (await spells())?.length === 0, 5000, 'the spell no longer listed');

    // Evictions again within the hour of quiet continue it (one spell, one webhook event).
    clock.advance(20 * 60_000);
    await fill('cdn.over.test', ['/o6']);
    await eventually(async () => (await spells())?.[0]?.evictedBytes === 4 * OBJECT_BYTES, 5000, 'the spell continued');
    assert.equal((await spells())![0]!.since, new Date(start).toISOString());

    // After an hour without one, a new spell with a new since.
    clock.advance(60 * 60_000 + 1);
    await eventually(async () => (await spells())?.length === 0, 5000, 'the spell over');
    const later = clock.now();
    await fill('cdn.over.test', ['/o7']);
    await eventually(async () => (await spells())?.[0]?.since === new Date(later).toISOString(), 5000, 'a new spell');
    assert.deepEqual((await spells())!.map((s) => [s.customerId, s.evictedBytes]), [['over-co', OBJECT_BYTES]]);
  } finally {
    await edge.close();
    await fleet.close();
    await origin.close();
    await tmp.remove();
  }
});
