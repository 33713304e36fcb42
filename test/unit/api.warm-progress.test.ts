/**
 * The rules of a warm's progress (src/api/services/warm-progress.ts), table by table: what
 * each stored row state means given the edge processes live now, the edge that went past a
 * warm without taking it up, a restarted warming process, and the fleet unreadable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EdgeStatus } from '../../src/core/fleet.port';
import type { WarmEdgeRecord } from '../../src/api/domain/warm.types';
import { warmProgress } from '../../src/api/services/warm-progress';

const REQUESTED = new Date('2030-01-01T00:00:00.000Z');
const STARTED = '2029-12-31T23:00:00.000Z';
const SEQ = 40;

function row(edgeId: string, state: WarmEdgeRecord['state'], extra: Partial<WarmEdgeRecord> = {}): WarmEdgeRecord {
  const reported = state !== 'pending';
  return { warmId: 'w', edgeId, state, done: 0, failed: 0, process: reported ? edgeId : null, processStartedAt: reported ? new Date(STARTED) : null, reportedAt: reported ? REQUESTED : null, ...extra };
}

function live(edgeId: string, extra: Partial<EdgeStatus> = {}): EdgeStatus {
  return { edgeId, host: 'h', pid: 1, version: 'v', appliedSeq: SEQ - 1, ready: true, startedAt: STARTED, heartbeatAt: STARTED, cacheObjects: 0, cacheBytes: 0, ...extra };
}

function states(rows: WarmEdgeRecord[], processes: EdgeStatus[] | null, afterMs = 1000): string[] {
  const p = warmProgress({ seq: SEQ, requestedAt: REQUESTED, rows, live: processes, now: new Date(REQUESTED.getTime() + afterMs), startGraceMs: 10_000 });
  return p.edges.map((e) => `${e.edgeId} ${e.live ? 'live' : 'gone'} ${e.state}`);
}

test('stored states with their edge live: pending, warming, done, stopped', () => {
  const rows = [row('a', 'pending'), row('b', 'warming'), row('c', 'done'), row('d', 'stopped')];
  assert.deepEqual(states(rows, [live('a'), live('b'), live('c'), live('d')]), ['a live PENDING', 'b live WARMING', 'c live DONE', 'd live INCOMPLETE']);
});

test('a cluster: its workers make the machine live; the warming worker must be the one that reported, not restarted', () => {
  const rows = [row('m', 'warming', { process: 'm#2' }), row('n', 'warming', { process: 'n#1' }), row('o', 'warming', { process: 'o#1' })];
  const processes = [live('m#1'), live('m#2'), live('n#2'), live('o#1', { startedAt: '2030-01-01T00:00:05.000Z' })];
  assert.deepEqual(states(rows, processes), ['m live WARMING', 'n live INCOMPLETE', 'o live INCOMPLETE']);
  const [, n, o] = warmProgress({ seq: SEQ, requestedAt: REQUESTED, rows, live: processes, now: REQUESTED, startGraceMs: 0 }).edges;
  assert.match(n!.reason!, /\(n#1\) is no longer live/);
  assert.match(o!.reason!, /\(o#1\) restarted/);
});

test('a pending edge: gone is INCOMPLETE at once; past the seq without a report, only after the grace; behind the seq, pending', () => {
  assert.deepEqual(states([row('a', 'pending')], []), ['a gone INCOMPLETE']);
  const past = [live('a#1', { appliedSeq: SEQ }), live('a#2', { appliedSeq: SEQ + 5 })];
  assert.deepEqual(states([row('a', 'pending')], past, 9_999), ['a live PENDING'], 'within the grace: its report may be on its way');
  assert.deepEqual(states([row('a', 'pending')], past, 10_000), ['a live INCOMPLETE']);
  const oneBehind = [live('a#1', { appliedSeq: SEQ }), live('a#2', { appliedSeq: SEQ - 1 })];
  assert.deepEqual(states([row('a', 'pending')], oneBehind, 60_000), ['a live PENDING'], 'a worker that has not read the warm yet may still take it');
});

test('complete once nothing is pending or warming; the fleet unreadable judges nothing', () => {
  const done = warmProgress({ seq: SEQ, requestedAt: REQUESTED, rows: [row('a', 'done', { done: 3 }), row('b', 'stopped', { done: 1, failed: 1 })], live: [], now: REQUESTED, startGraceMs: 0 });
  assert.deepEqual([done.complete, done.edgesTotal, done.edgesDone], [true, 2, 1]);
  const blind = warmProgress({ seq: SEQ, requestedAt: REQUESTED, rows: [row('a', 'pending'), row('b', 'warming')], live: null, now: new Date(REQUESTED.getTime() + 60_000), startGraceMs: 0 });
  assert.deepEqual(blind.edges.map((e) => e.state), ['PENDING', 'WARMING']);
  assert.equal(blind.complete, false);
  assert.deepEqual(states([row('a', 'done'), row('b', 'stopped')], null), ['a gone DONE', 'b gone INCOMPLETE']);
});
