/**
 * Space-Saving (core/top-k.ts) against exact counts on skewed workloads: the bounds it
 * promises hold for every key it keeps, every heavy hitter is kept, and merged summaries
 * (several edges, several minutes) keep their stated bounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeTop, SpaceSaving, type TopEntry } from '../../src/core/top-k';
import { zipfStream } from '../support/zipf';


function exact(stream: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const k of stream) counts.set(k, (counts.get(k) ?? 0) + 1);
  return counts;
}

function checkBounds(entries: ReadonlyArray<TopEntry & { missing?: number }>, truth: Map<string, number>): void {
  for (const e of entries) {
    const t = truth.get(e.key) ?? 0;
    const upper = e.count + (e.missing ?? 0);
    assert.ok(e.count - e.error <= t && t <= upper, `${e.key}: ${e.count - e.error} <= ${t} <= ${upper}`);
  }
}

test('every kept key is within its bounds, and every key above N/capacity is kept', () => {
  const stream = zipfStream(100_000, 5_000, 1.1, 7);
  const truth = exact(stream);
  const sketch = new SpaceSaving(100);
  for (const k of stream) sketch.offer(k);
  assert.equal(sketch.total, stream.length);
  assert.equal(sketch.size, 100);
  const top = sketch.top();
  checkBounds(top, truth);
  const kept = new Set(top.map((e) => e.key));
  for (const [key, count] of truth) if (count > stream.length / 100) assert.ok(kept.has(key), `${key} (${count}) is a heavy hitter`);
});

test('on a skewed workload the top 10 are the true top 10, in order, with small errors', () => {
  const stream = zipfStream(200_000, 20_000, 1.2, 42);
  const truth = [...exact(stream)].sort((a, b) => b[1] - a[1]);
  const sketch = new SpaceSaving(200);
  for (const k of stream) sketch.offer(k);
  const top10 = sketch.top(10);
  assert.deepEqual(
    top10.map((e) => e.key),
    truth.slice(0, 10).map(([k]) => k),
  );
  for (const e of top10) assert.ok(e.error / e.count < 0.05, `${e.key}: error ${e.error} of ${e.count}`);
});

test('weighted offers and clear', () => {
  const sketch = new SpaceSaving(2);
  sketch.offer('/a', 5);
  sketch.offer('/b', 3);
  sketch.offer('/c', 1);
  // /c took /b's place: counted 3 + 1 with 3 inherited.
  assert.deepEqual(sketch.top(), [
    { key: '/a', count: 5, error: 0 },
    { key: '/c', count: 4, error: 3 },
  ]);
  sketch.offer('/a', 0);
  assert.equal(sketch.total, 9);
  sketch.clear();
  assert.deepEqual([sketch.size, sketch.total, sketch.top()], [0, 0, []]);
  assert.throws(() => new SpaceSaving(0), /positive integer/);
});

test('merged summaries of several edges keep their bounds and find the global top', () => {
  // Three edges see the same skew on different streams, plus one key hot on one edge only.
  const streams = [zipfStream(50_000, 5_000, 1.1, 1), zipfStream(50_000, 5_000, 1.1, 2), [...zipfStream(40_000, 5_000, 1.1, 3), ...Array(10_000).fill('/only-here.png')]];
  const truth = exact(streams.flat());
  const summaries = streams.map((stream) => {
    const sketch = new SpaceSaving(100);
    for (const k of stream) sketch.offer(k);
    const entries = sketch.top();
    return { entries, floor: sketch.size === sketch.capacity ? entries[entries.length - 1]!.count : 0 };
  });
  const merged = mergeTop(summaries, 20);
  checkBounds(merged, truth);
  const trueTop5 = [...truth].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k]) => k);
  assert.deepEqual(merged.slice(0, 5).map((e) => e.key), trueTop5);
  assert.ok(merged.some((e) => e.key === '/only-here.png'));
});
