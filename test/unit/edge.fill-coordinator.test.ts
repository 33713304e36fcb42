/** The primary's fill table (edge/cluster/fill-coordinator.ts) with stand-in workers that record what they are sent. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { FillCoordinator } from '../../src/edge/cluster/fill-coordinator';

function worker(): Worker & { sent: unknown[] } {
  const sent: unknown[] = [];
  return { sent, isConnected: () => true, send: (m: unknown) => sent.push(m) } as unknown as Worker & { sent: unknown[] };
}

const acquire = (id: number, key: string) => ({ type: 'cdn-edge:fill-acquire', id, key });

test('the first worker to ask leads; the others follow and hear the outcome once it is released', () => {
  const fills = new FillCoordinator();
  const [a, b, c] = [worker(), worker(), worker()];
  assert.equal(fills.onMessage(a, acquire(1, 'k')), true);
  fills.onMessage(b, acquire(7, 'k'));
  fills.onMessage(c, acquire(9, 'k'));
  assert.deepEqual(a.sent, [{ type: 'cdn-edge:fill-grant', id: 1, lead: true }]);
  assert.deepEqual(b.sent, [{ type: 'cdn-edge:fill-grant', id: 7, lead: false }]);
  // Only the leader's release counts.
  fills.onMessage(b, { type: 'cdn-edge:fill-release', key: 'k', outcome: { kind: 'stored' } });
  assert.equal(fills.size, 1);
  fills.onMessage(a, { type: 'cdn-edge:fill-release', key: 'k', outcome: { kind: 'stored' } });
  assert.equal(fills.size, 0);
  assert.deepEqual(b.sent.at(-1), { type: 'cdn-edge:fill-done', key: 'k', outcome: { kind: 'stored' } });
  assert.deepEqual(c.sent.at(-1), { type: 'cdn-edge:fill-done', key: 'k', outcome: { kind: 'stored' } });
  assert.equal(a.sent.length, 1, 'the leader is not told its own outcome');
  // The next fill of the key starts afresh.
  fills.onMessage(c, acquire(10, 'k'));
  assert.deepEqual(c.sent.at(-1), { type: 'cdn-edge:fill-grant', id: 10, lead: true });
});

test('a leader that dies ends its fills in a retry for the followers; a follower that dies is forgotten', () => {
  const fills = new FillCoordinator();
  const [a, b, c] = [worker(), worker(), worker()];
  fills.onMessage(a, acquire(1, 'x'));
  fills.onMessage(b, acquire(2, 'x'));
  fills.onMessage(b, acquire(3, 'y'));
  fills.onMessage(c, acquire(4, 'y'));
  fills.workerGone(c);
  fills.workerGone(a);
  assert.deepEqual(b.sent.at(-1), { type: 'cdn-edge:fill-done', key: 'x', outcome: { kind: 'retry' } });
  fills.onMessage(b, { type: 'cdn-edge:fill-release', key: 'y', outcome: { kind: 'failed', synthetic: { status: 502, body: { error: 'origin_unreachable' } } } });
  assert.equal(c.sent.length, 1, 'a gone worker is sent nothing more');
  assert.equal(fills.size, 0);
});

test('messages that are not fill messages are left to others', () => {
  const fills = new FillCoordinator();
  assert.equal(fills.onMessage(worker(), { type: 'cdn-edge:status', ready: true, appliedSeq: 1 }), false);
  assert.equal(fills.onMessage(worker(), { type: 'cdn-edge:fill-release', key: 'k', outcome: { kind: 'bogus' } }), false);
});
