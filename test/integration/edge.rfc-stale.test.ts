/**
 * RFC 5861: stale-while-revalidate and stale-if-error, never beyond what the origin allowed
 * unless the customer opts in (`staleIfErrorSeconds`), and never where RFC 9111 §4.2.4 forbids it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './edge.harness';
import { rfcEdge } from './edge.rfc.harness';

test('stale-while-revalidate: stale served at once, one background refresh', async () => {
  let version = 0;
  const env = await rfcEdge((_req, res) => {
    version += 1;
    const v = version;
    setTimeout(() => res.writeHead(200, { 'cache-control': 'max-age=10, stale-while-revalidate=30' }).end(`v${v}`), v === 1 ? 0 : 200);
  });
  try {
    await env.get('/swr');
    env.clock.advance(15_000);
    const stale = await Promise.all([env.get('/swr'), env.get('/swr'), env.get('/swr')]);
    for (const s of stale) {
      assert.equal(s.headers['x-cache'], 'STALE');
      assert.equal(s.body, 'v1');
    }
    await eventually(async () => (await env.get('/swr')).body === 'v2', 1500, 'the refreshed object');
    assert.equal(env.hits('/swr'), 2, 'one refresh for all stale answers');
    env.clock.advance(50_000); // beyond max-age + stale-while-revalidate of v2
    const late = await env.get('/swr');
    assert.equal(late.headers['x-cache'], 'MISS');
  } finally {
    await env.cleanup();
  }
});

test('stale-if-error: origin 5xx, down or timing out gets the stale object; not beyond its window', async () => {
  let mode: 'ok' | '500' | 'hang' = 'ok';
  const env = await rfcEdge((_req, res) => {
    if (mode === 'hang') return;
    if (mode === '500') return void res.writeHead(503).end('down');
    res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=60' }).end('good');
  }, { env: { CDN_ORIGIN_TIMEOUT_MS: '400' } });
  try {
    await env.get('/sie');
    env.clock.advance(20_000);
    mode = '500';
    const on500 = await env.get('/sie');
    assert.equal(on500.headers['x-cache'], 'STALE');
    assert.equal(on500.body, 'good');
    mode = 'hang';
    const onTimeout = await env.get('/sie');
    assert.equal(onTimeout.headers['x-cache'], 'STALE');
    assert.equal(onTimeout.body, 'good');
    env.clock.advance(60_000); // 80 s old: past max-age 10 + stale-if-error 60
    mode = '500';
    const tooOld = await env.get('/sie');
    assert.equal(tooOld.status, 503);
    assert.equal(tooOld.body, 'down');
  } finally {
    await env.cleanup();
  }
});

test('without stale-if-error a failing origin is not hidden', async () => {
  let fail = false;
  const env = await rfcEdge((_req, res) => (fail ? res.writeHead(500).end('err') : res.writeHead(200, { 'cache-control': 'max-age=1' }).end('ok')));
  try {
    await env.get('/x');
    env.clock.advance(5_000);
    fail = true;
    const r = await env.get('/x');
    assert.equal(r.status, 500);
    assert.equal(r.headers['x-cache'], 'MISS');
  } finally {
    await env.cleanup();
  }
});

test('customer staleIfErrorSeconds: origin without stale-if-error, down, 5xx or timing out gets the stale object within the window', async () => {
  let mode: 'ok' | 'down' | '500' | 'hang' = 'ok';
  const env = await rfcEdge((req, res) => {
    if (mode === 'down') return void req.socket.destroy();
    if (mode === 'hang') return;
    if (mode === '500') return void res.writeHead(500).end('err');
    res.writeHead(200, { 'cache-control': 'max-age=10' }).end('good');
  }, { staleIfErrorSeconds: 60, env: { CDN_ORIGIN_TIMEOUT_MS: '400' } });
  try {
    assert.equal((await env.get('/opt')).headers['x-cache'], 'MISS');
    env.clock.advance(20_000);
    for (const m of ['down', '500', 'hang'] as const) {
      mode = m;
      const r = await env.get('/opt');
      assert.equal(r.status, 200, m);
      assert.equal(r.headers['x-cache'], 'STALE', m);
      assert.equal(r.body, 'good', m);
    }
    env.clock.advance(60_000); // 80 s old: past max-age 10 + the customer's 60
    mode = 'down';
    const tooOld = await env.get('/opt');
    assert.ok(tooOld.status === 502 || tooOld.status === 504, `status ${tooOld.status}`);
    assert.notEqual(tooOld.headers['x-cache'], 'STALE');
  } finally {
    await env.cleanup();
  }
});

test('customer staleIfErrorSeconds widens a smaller origin stale-if-error', async () => {
  let fail = false;
  const env = await rfcEdge((_req, res) => (fail ? res.writeHead(503).end('down') : res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=5' }).end('good')), {
    staleIfErrorSeconds: 60,
  });
  try {
    await env.get('/wide');
    env.clock.advance(40_000); // past the origin's 10 + 5, within 10 + 60
    fail = true;
    const r = await env.get('/wide');
    assert.equal(r.headers['x-cache'], 'STALE');
    assert.equal(r.body, 'good');
  } finally {
    await env.cleanup();
  }
});

test('without staleIfErrorSeconds an origin that is down is not hidden (502/504, no stale)', async () => {
  let down = false;
  const env = await rfcEdge((req, res) => (down ? req.socket.destroy() : res.writeHead(200, { 'cache-control': 'max-age=10' }).end('good')));
  try {
    await env.get('/off');
    env.clock.advance(20_000);
    down = true;
    const r = await env.get('/off');
    assert.ok(r.status === 502 || r.status === 504, `status ${r.status}`);
    assert.notEqual(r.headers['x-cache'], 'STALE');
    assert.notEqual(r.body, 'good');
  } finally {
    await env.cleanup();
  }
});

test('staleIfErrorSeconds never serves stale what must be revalidated (must-revalidate, proxy-revalidate, no-cache, s-maxage)', async () => {
  const cacheControl: Record<string, string> = {
    '/mr': 'max-age=10, must-revalidate',
    '/pr': 'max-age=10, proxy-revalidate',
    '/nc': 'no-cache',
    '/sm': 's-maxage=10',
    '/smr': 's-maxage=10, must-revalidate',
  };
  let down = false;
  const env = await rfcEdge(
    (req, res) => {
      if (down) return void req.socket.destroy();
      res.writeHead(200, { 'cache-control': cacheControl[req.url!]!, etag: '"v1"' }).end('good');
    },
    { staleIfErrorSeconds: 3600 },
  );
  try {
    for (const path of Object.keys(cacheControl)) await env.get(path);
    env.clock.advance(20_000);
    down = true;
    for (const path of Object.keys(cacheControl)) {
      const r = await env.get(path);
      assert.ok(r.status === 502 || r.status === 504, `${path}: status ${r.status}`);
      assert.notEqual(r.headers['x-cache'], 'STALE', path);
      assert.notEqual(r.body, 'good', path);
    }
  } finally {
    await env.cleanup();
  }
});
