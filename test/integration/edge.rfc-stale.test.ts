/** RFC 5861: stale-while-revalidate and stale-if-error, never beyond what the origin allowed. */
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
