/**
 * Fairness between customers, as mechanisms (the timings are `npm run bench:fairness`'s): one
 * customer whose origin holds every request, with a full origin cap and a full queue, and
 * clients holding connections that never finish a request head, takes nothing another
 * customer needs — the other's misses go to the origin at once (their own slots), its hits are
 * answered, and the noisy one's excess is refused at the edge without reaching the origin.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import type { CustomerConfig } from '../../src/core/customer.types';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { customer, edgeConfig, eventually, http, silentLogger, startScriptedOrigin, tempDir, type HttpResult, type ScriptedOrigin } from './edge.harness';

let origin: ScriptedOrigin;
let edge: EdgeHandle;
const held: Array<() => void> = [];
const dirs: Array<{ remove(): Promise<void> }> = [];
const slow: Socket[] = [];

before(async () => {
  origin = await startScriptedOrigin((req, res) => {
    const answer = (): void => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=3600' });
      res.end(`${req.headers['x-forwarded-host']} ${req.url}`);
    };
    // The noisy customer's origin answers only when the test lets it.
    if (req.headers['x-forwarded-host'] === 'noisy.test') held.push(answer);
    else answer();
  });
  const tmp = await tempDir();
  dirs.push(tmp);
  const policy = { maxConnections: 2, queueTimeoutMs: 60_000, retryBudgetPercent: 0, staleIfDownSeconds: 0 };
  const customers: CustomerConfig[] = [
    { ...customer('noisy', origin.url, ['noisy.test']), originPolicy: policy },
    { ...customer('quiet', origin.url, ['quiet.test']), originPolicy: policy },
  ];
  edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_CLIENT_TIMEOUT_MS: '60000' }), { customers: createStaticCustomerFeed(customers), logger: silentLogger });
});

after(async () => {
  for (const s of slow) s.destroy();
  for (const release of held.splice(0)) release();
  await edge?.close();
  await origin?.close();
  for (const d of dirs) await d.remove();
});

/** `promise`, or a failure naming `what` if it has not settled in 10 s (were it queued behind noisy, it never would). */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in 10 s (waiting behind the other customer?)`)), 10_000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test("a customer with its origin cap and queue full, and slow clients, takes nothing the other customer's hits and misses need", async () => {
  // quiet has one object stored before the flood.
  assert.equal((await http(edge.url, '/hot.txt', { host: 'quiet.test' })).status, 200);
  // noisy: two misses hold both of its origin slots, eight more wait in its queue, and slow
  // clients hold connections with unfinished request heads.
  const noisy: Array<Promise<HttpResult>> = Array.from({ length: 10 }, (_, i) => http(edge.url, `/n/${i}`, { host: 'noisy.test' }));
  for (let i = 0; i < 50; i++) {
    const s = connect(Number(new URL(edge.url).port), '127.0.0.1');
    s.on('error', () => {});
    s.write('GET /n/slow HTTP/1.1\r\nHost: noisy.test\r\n');
    slow.push(s);
  }
  await eventually(() => held.length === 2, 5000, "noisy's two origin slots taken");

  // quiet meanwhile: a hit, and misses that reach the origin at once (slots of its own).
  const hit = await within(http(edge.url, '/hot.txt', { host: 'quiet.test' }), "quiet's hit");
  assert.equal(hit.status, 200);
  assert.equal(hit.headers['x-cache'], 'HIT');
  const misses = await within(Promise.all([1, 2, 3].map((i) => http(edge.url, `/q/${i}`, { host: 'quiet.test' }))), "quiet's misses");
  for (const [i, m] of misses.entries()) {
    assert.equal(m.status, 200);
    assert.equal(m.body, `quiet.test /q/${i + 1}`);
  }
  assert.equal(held.length, 2, "noisy still holds its two slots: quiet's misses did not wait for them");
  const atOrigin = origin.requests.filter((r) => r.headers['x-forwarded-host'] === 'noisy.test').length;
  assert.equal(atOrigin, 2, "noisy's queued requests wait at the edge, not at the origin");

  // noisy's requests are answered as its origin frees its slots, in turn.
  while (held.length > 0 || origin.requests.filter((r) => r.headers['x-forwarded-host'] === 'noisy.test').length < 10) {
    held.shift()?.();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  for (const r of await Promise.all(noisy)) assert.equal(r.status, 200);
});
