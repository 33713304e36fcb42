/**
 * Request collapsing: concurrent misses for one key make one origin request and share the
 * streamed response (a small one whole, once it is in); a response that may not be shared
 * (private) is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { WHOLE_BODY_MAX } from '../../src/edge/pipeline/fetch.step';
import { HOST, pause, rfcEdge } from './edge.rfc.harness';

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

test('a small body reaches its clients whole, after its last byte arrived; every waiting client gets it, and the next asks the store', async () => {
  const body = Array.from({ length: 1_200 }, (_, i) => String(i).padStart(10, '-')).join(''); // 12,000 bytes: under WHOLE_BODY_MAX
  assert.ok(body.length <= WHOLE_BODY_MAX);
  let restSent = false;
  const env = await rfcEdge((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': body.length });
    // Three parts apart: a streamed answer would start with the first as the second arrives.
    res.write(body.slice(0, 3_000));
    setTimeout(() => res.write(body.slice(3_000, 6_000)), 50);
    setTimeout(() => {
      restSent = true;
      res.end(body.slice(6_000));
    }, 250);
  });
  try {
    const url = new URL(env.edge.url);
    const one = (): Promise<{ headersAfterRest: boolean; body: string; cache: string | string[] | undefined }> =>
      new Promise((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: '/small', headers: { host: HOST }, agent: false }, (res) => {
          const headersAfterRest = restSent;
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ headersAfterRest, body: Buffer.concat(parts).toString(), cache: res.headers['x-cache'] }));
        });
        req.on('error', reject);
        req.end();
      });
    const results = await Promise.all(Array.from({ length: 5 }, one));
    assert.equal(env.hits('/small'), 1);
    for (const r of results) {
      assert.equal(r.body, body);
      assert.equal(r.cache, 'MISS');
      assert.equal(r.headersAfterRest, true, 'the answer starts only once the whole body is in');
    }
    const again = await env.get('/small');
    assert.equal(again.headers['x-cache'], 'HIT');
    assert.equal(again.body, body);
  } finally {
    await env.cleanup();
  }
});

test('the last client leaving while a small body arrives abandons the fetch: the origin connection closes, nothing is stored', async () => {
  let calls = 0;
  let firstClosed!: () => void;
  const closed = new Promise<void>((resolve) => (firstClosed = resolve));
  let firstWrote!: () => void;
  const wrote = new Promise<void>((resolve) => (firstWrote = resolve));
  const env = await rfcEdge((_req, res) => {
    calls += 1;
    if (calls > 1) return void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 4 }).end('full');
    res.on('close', firstClosed);
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 2_000 });
    res.write('x'.repeat(1_000), () => firstWrote()); // and never the rest
  });
  try {
    const url = new URL(env.edge.url);
    const req = request({ host: url.hostname, port: url.port, path: '/stall', headers: { host: HOST }, agent: false });
    req.on('error', () => {});
    req.end();
    await wrote;
    await pause(100); // the edge has the first half and waits for the rest
    req.destroy();
    await closed; // hangs (and the test times out) if the fetch is not abandoned
    const next = await env.get('/stall');
    assert.equal(next.headers['x-cache'], 'MISS');
    assert.equal(next.body, 'full');
    assert.equal(calls, 2);
  } finally {
    await env.cleanup();
  }
});

test('clients of one small body that want it whole and clients that want ranges of it each get theirs from one origin request', async () => {
  const body = Array.from({ length: 1_000 }, (_, i) => String(i).padStart(10, '-')).join('');
  const env = await rfcEdge((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': body.length });
    res.write(body.slice(0, 4_000));
    setTimeout(() => res.end(body.slice(4_000)), 200);
  });
  try {
    const [whole1, range1, whole2, range2] = await Promise.all([
      env.get('/mixed'),
      env.get('/mixed', { headers: { range: 'bytes=0-9' } }),
      env.get('/mixed'),
      env.get('/mixed', { headers: { range: 'bytes=9990-9999' } }),
    ]);
    assert.equal(env.hits('/mixed'), 1);
    for (const r of [whole1, whole2]) {
      assert.equal(r.status, 200);
      assert.equal(r.body, body);
    }
    assert.equal(range1.status, 206);
    assert.equal(range1.body, body.slice(0, 10));
    assert.equal(range2.status, 206);
    assert.equal(range2.body, body.slice(9_990));
  } finally {
    await env.cleanup();
  }
});
