/**
 * Request collapsing: concurrent misses for one key make one origin request and share the
 * streamed response; a response that may not be shared (private) is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rfcEdge } from './edge.rfc.harness';

test('100 concurrent misses for one key: one origin request, identical bodies for all', async () => {
  // Every 10 bytes differ from the last 10: a body put together out of order cannot match.
  const body = Array.from({ length: 20_000 }, (_, i) => String(i).padStart(10, '-')).join('');
  const env = await rfcEdge((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': body.length });
    // Headers at once, the body later: everyone arrives while it is in flight.
    setTimeout(() => res.write(body.slice(0, 1000)), 100);
    setTimeout(() => res.end(body.slice(1000)), 300);
  });
  try {
    const results = await Promise.all(Array.from({ length: 100 }, () => env.get('/hot')));
    assert.equal(env.hits('/hot'), 1);
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.body, body);
    }
    assert.ok(results.every((r) => r.headers['x-cache'] === 'MISS'));
    const hit = await env.get('/hot');
    assert.equal(hit.headers['x-cache'], 'HIT');
    // From memory, where the body was kept as the parts it arrived in: joined whole, in order.
    assert.equal(hit.body, body);
  } finally {
    await env.cleanup();
  }
});

test('a private response for the leader is not shared: each waiting client asks the origin', async () => {
  let n = 0;
  const env = await rfcEdge((_req, res) => {
    n += 1;
    const mine = n;
    setTimeout(() => res.writeHead(200, { 'cache-control': 'private, max-age=60' }).end(`user ${mine}`), 150);
  });
  try {
    const results = await Promise.all(Array.from({ length: 5 }, () => env.get('/me')));
    assert.equal(env.hits('/me'), 5);
    assert.equal(new Set(results.map((r) => r.body)).size, 5, 'every client got its own answer');
  } finally {
    await env.cleanup();
  }
});

test('an origin body cut mid-way closes every waiting client connection and stores nothing', async () => {
  let calls = 0;
  const env = await rfcEdge((_req, res) => {
    calls += 1;
    if (calls > 1) return void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 4 }).end('full');
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 10_000 });
    res.write('x'.repeat(100));
    setTimeout(() => res.socket?.destroy(), 100);
  });
  try {
    const results = await Promise.allSettled(Array.from({ length: 3 }, () => env.get('/cut')));
    for (const r of results) assert.equal(r.status, 'rejected', 'a truncated body is never a complete response');
    const next = await env.get('/cut');
    assert.equal(next.headers['x-cache'], 'MISS');
    assert.equal(next.body, 'full');
  } finally {
    await env.cleanup();
  }
});
