/**
 * Top paths and status codes per customer per minute on one edge process
 * (edge/stats/customer.meter.ts): counted with every answered request, bounded by
 * CDN_EDGE_TOP_URLS, shipped once in the first drain after the minute ends (quiet customers
 * included), never when off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EdgeMetrics } from '../../src/edge/edge.metrics';

const MINUTE = Date.UTC(2026, 11, 7, 5, 0, 0);

function metrics(topUrls: number): EdgeMetrics {
  return new EdgeMetrics({ appliedSeq: () => 0, customers: () => 2, topUrls });
}

test('a minute of paths and status codes ships once, in the first drain after it ends', () => {
  const m = metrics(3);
  // The recorder's minute is the one of its last drain.
  m.recorder.drain(MINUTE + 1_000);
  const a = m.meter('cust-a');
  for (let i = 0; i < 5; i += 1) a.answered('HIT', 200, 10, 'http', '/hot.js');
  a.answered('MISS', 404, 10, 'http', '/missing');
  a.answered('HIT', 200, 10, 'h2', '/warm.css');
  a.answered('HIT', 200, 10, 'h2', '/warm.css');
  m.meter('cust-b').answered('MISS', 503, 10, 'https', '/down');
  const same = m.recorder.drain(MINUTE + 2_000);
  assert.ok(same.every((d) => d.top === undefined), 'no top within the minute');
  assert.equal(m.recorder.pendingAt(MINUTE + 30_000), false);
  // Next minute: cust-b quiet, cust-a busy; both ship the minute that ended.
  assert.equal(m.recorder.pendingAt(MINUTE + 61_000), true);
  a.answered('HIT', 200, 10, 'http', '/next-minute.js');
  const next = m.recorder.drain(MINUTE + 61_000);
  const byCustomer = new Map(next.map((d) => [d.customerId, d]));
  assert.deepEqual(byCustomer.get('cust-a')!.top, {
    minute: '2026-12-07T05:00:00.000Z',
    // The request counted after the minute ended, before the drain, is this minute's: off by at most one interval.
    requests: 9,
    paths: [
      { key: '/hot.js', count: 5, error: 0 },
      // Ties by path: /next-minute.js took /missing's place (count 1 inherited as its error).
      { key: '/next-minute.js', count: 2, error: 1 },
      { key: '/warm.css', count: 2, error: 0 },
    ],
    floor: 2,
    statuses: [
      { status: 200, count: 8 },
      { status: 404, count: 1 },
    ],
  });
  assert.equal(byCustomer.get('cust-b')!.requests, 0);
  assert.deepEqual(byCustomer.get('cust-b')!.top, { minute: '2026-12-07T05:00:00.000Z', requests: 1, paths: [{ key: '/down', count: 1, error: 0 }], floor: 0, statuses: [{ status: 503, count: 1 }] });
  // Shipped once.
  assert.equal(m.recorder.pendingAt(MINUTE + 125_000), false);
});

test('long paths are counted under their first 512 characters; CDN_EDGE_TOP_URLS=0 counts none', () => {
  const m = metrics(8);
  m.recorder.drain(MINUTE);
  m.meter('c').answered('HIT', 200, 1, 'http', `/${'x'.repeat(5000)}`);
  const [delta] = m.recorder.drain(MINUTE + 60_000);
  assert.equal(delta!.top!.paths[0]!.key.length, 513);
  assert.ok(delta!.top!.paths[0]!.key.endsWith('…'));

  const off = metrics(0);
  off.recorder.drain(MINUTE);
  off.meter('c').answered('HIT', 200, 1, 'http', '/a');
  assert.deepEqual(off.recorder.drain(MINUTE + 60_000).map((d) => d.top), [undefined]);
});
