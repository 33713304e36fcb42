/**
 * The pieces of the edge's cache warming (src/edge/warm) on their own: the concurrency bound,
 * the rate per origin, the reporter (latest report per warm, retried while the channel fails,
 * one last try on stop) and how an answer becomes an outcome. The whole, over real sockets:
 * test/integration/edge.warm.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WarmReport } from '../../src/core/fleet.port';
import { createLogger } from '../../src/obs/logger.factory';
import { OriginPacer } from '../../src/edge/warm/origin-pacer';
import { WarmSlots } from '../../src/edge/warm/warm-slots';
import { WarmReporter } from '../../src/edge/warm/warm.reporter';
import { outcomeOf } from '../../src/edge/warm/warm.runner';

const logger = createLogger({ name: 'test', level: 'silent' });

test('slots: at most `size` held; waiters served in order; an aborted wait leaves the queue', async () => {
  const slots = new WarmSlots(2);
  const never = new AbortController().signal;
  assert.equal(await slots.acquire(never), true);
  assert.equal(await slots.acquire(never), true);
  const order: string[] = [];
  const quitting = new AbortController();
  const a = slots.acquire(never).then((ok) => order.push(`a ${ok}`));
  const gone = slots.acquire(quitting.signal).then((ok) => order.push(`gone ${ok}`));
  const b = slots.acquire(never).then((ok) => order.push(`b ${ok}`));
  quitting.abort();
  await gone;
  slots.release();
  await a;
  slots.release();
  await b;
  assert.deepEqual(order, ['gone false', 'a true', 'b true']);
});

test('pacer: one slot per interval per origin, origins apart, never a burst after idling', async () => {
  let now = 1_000_000;
  const pacer = new OriginPacer(20, () => now); // one per 50 ms
  const signal = new AbortController().signal;
  const started = Date.now();
  await pacer.take('http://a', signal);
  await pacer.take('http://b', signal);
  assert.ok(Date.now() - started < 30, 'the first slot of each origin is now');
  await pacer.take('http://a', signal);
  assert.ok(Date.now() - started >= 45, `the second slot of an origin waits its interval (${Date.now() - started} ms)`);
  now += 10_000; // idle for a while: no slots saved up
  const idle = Date.now();
  await pacer.take('http://a', signal);
  await pacer.take('http://a', signal);
  assert.ok(Date.now() - idle >= 45, 'after idling, the next two are still an interval apart');
  const stop = new AbortController();
  const waiting = pacer.take('http://a', stop.signal);
  stop.abort();
  assert.equal(await waiting, false);
});

function report(warmId: string, done: number, state: WarmReport['state'] = 'warming'): WarmReport {
  return { warmId, edgeId: 'e', process: 'e', processStartedAt: '2030-01-01T00:00:00.000Z', state, total: 10, done, failed: 0, at: '2030-01-01T00:00:01.000Z' };
}

test('reporter: the latest report per warm, batched; kept and retried while sending fails; one last try on stop', async () => {
  const sent: WarmReport[][] = [];
  let failing = false;
  const reporter = new WarmReporter({
    intervalMs: 20,
    logger,
    send: async (reports) => {
      if (failing) throw new Error('redis down');
      sent.push(reports);
    },
  });
  reporter.report(report('w1', 1));
  reporter.report(report('w1', 2));
  reporter.report(report('w2', 5));
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(sent, [[report('w1', 2), report('w2', 5)]], 'one batch, the latest of each warm');
  failing = true;
  reporter.report(report('w1', 3), true);
  await new Promise((r) => setTimeout(r, 30));
  reporter.report(report('w1', 10, 'done'));
  failing = false;
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(sent.at(-1), [report('w1', 10, 'done')], 'what failed is sent again, as its latest state');
  failing = true;
  reporter.report(report('w3', 0));
  await reporter.stop();
  assert.equal(sent.flat().some((r) => r.warmId === 'w3'), false);
});

test('outcome of a warm request: no answer or 4xx/5xx failed, else what X-Cache says', () => {
  const answer = (status: number | null, cache: string | null) => outcomeOf({ status, cache, retryAfterSeconds: null });
  assert.deepEqual(
    [answer(null, null), answer(404, 'MISS'), answer(503, null), answer(200, 'HIT'), answer(200, 'STALE'), answer(200, 'MISS'), answer(304, 'REVALIDATED'), answer(200, 'BYPASS'), answer(301, 'MISS')],
    ['failed', 'failed', 'failed', 'hit', 'hit', 'miss', 'miss', 'bypass', 'miss'],
  );
});
