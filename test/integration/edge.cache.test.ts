/**
 * The edge's request path end to end, over real sockets: routing by Host, MISS/HIT on
 * the disk cache, what the origin receives, origin failures, the SSRF guard, restarts
 * and aborted downloads. Customers come from a static feed; origins are real servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { startDemoOrigin } from '../../src/demo/demo-origin';
import type { CustomerConfig } from '../../src/core/customer.types';
import { INDEX_BODY_MAX, INLINE_BODY_MAX } from '../../src/edge/cache/metadata.index';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { closedPort, customer, edgeConfig, http, ManualClock, silentLogger, startScriptedOrigin, tempDir } from './edge.harness';

interface Env {
  edge: EdgeHandle;
  dir: string;
  cleanup(): Promise<void>;
}

async function withEdge(customers: CustomerConfig[], options: { env?: Record<string, string>; clock?: ManualClock; dir?: string } = {}): Promise<Env> {
  const tmp = options.dir === undefined ? await tempDir() : undefined;
  const dir = options.dir ?? tmp!.dir;
  const edge = await startEdge(edgeConfig(dir, options.env), { customers: createStaticCustomerFeed(customers), logger: silentLogger, clock: options.clock });
  return {
    edge,
    dir,
    cleanup: async () => {
      await edge.close();
      await tmp?.remove();
    },
  };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  // Object and temp files only: the LMDB index lives in <cache>/.index.
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .filter((f) => !path.relative(dir, f).split(path.sep).includes('.index'));
}

test('MISS then HIT: same body, Age present, the origin asked once, a small body kept in the index', async () => {
  const origin = await startDemoOrigin({ customerId: 'customer-a' });
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test'])]);
  try {
    const miss = await http(env.edge.url, '/images/cat.json?size=large', { host: 'cdn.a.test' });
    assert.equal(miss.status, 200);
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.equal(JSON.parse(miss.body).customer, 'customer-a');
    assert.equal(miss.headers.age, undefined);
    const hit = await http(env.edge.url, '/images/cat.json?size=large', { host: 'cdn.a.test' });
    assert.equal(hit.status, 200);
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.body, miss.body);
    assert.match(String(hit.headers.age), /^\d+$/);
    assert.equal(hit.headers['content-type'], 'application/json');
    assert.equal(hit.headers.via, '1.1 edgeplane', 'Via and X-Cache are not replayed from the stored object');
    assert.equal(origin.requests.length, 1);
    assert.equal(origin.requests[0]!.url, '/images/cat.json?size=large');

    assert.deepEqual(await filesUnder(path.join(env.dir, 'cache')), [], `a body up to ${INLINE_BODY_MAX} bytes lives in its index entry, not in a file`);
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('a body larger than the index limit is one file per object, named by a hash of the key, never by the URL', async () => {
  const body = Buffer.alloc(INDEX_BODY_MAX + 1, 'b');
  const origin = await startScriptedOrigin((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=600' });
    res.end(body);
  });
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test'])]);
  try {
    assert.equal((await http(env.edge.url, '/images/cat.bin?size=large', { host: 'cdn.a.test' })).headers['x-cache'], 'MISS');
    const hit = await http(env.edge.url, '/images/cat.bin?size=large', { host: 'cdn.a.test' });
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.body, body.toString());
    const files = await filesUnder(path.join(env.dir, 'cache'));
    assert.equal(files.length, 1);
    const rel = path.relative(path.join(env.dir, 'cache'), files[0]!).split(path.sep);
    assert.equal(rel[0], 'customer-a');
    assert.match(rel[2]!, /^[0-9a-f]{64}-[0-9a-f]{12}$/, 'sha256 of the key, then a write id');
    assert.equal(rel[1], rel[2]!.slice(0, 2));
    assert.doesNotMatch(files[0]!, /cat|images|size/);
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('two customers asking for the same path each get their own origin', async () => {
  const a = await startDemoOrigin({ customerId: 'customer-a' });
  const b = await startDemoOrigin({ customerId: 'customer-b' });
  const env = await withEdge([customer('customer-a', a.url, ['cdn.a.test']), customer('customer-b', b.url, ['cdn.b.test'])]);
  try {
    for (let round = 0; round < 2; round += 1) {
      const ra = await http(env.edge.url, '/same.json', { host: 'cdn.a.test' });
      const rb = await http(env.edge.url, '/same.json', { host: 'cdn.b.test' });
      assert.equal(JSON.parse(ra.body).customer, 'customer-a');
      assert.equal(JSON.parse(rb.body).customer, 'customer-b');
      await new Promise((r) => setTimeout(r, 30));
    }
    assert.equal(a.requests.length, 1);
    assert.equal(b.requests.length, 1);
  } finally {
    await env.cleanup();
    await Promise.all([a.close(), b.close()]);
  }
});

test('HEAD: a miss fetches the object with GET and stores it; HEAD and GET then hit', async () => {
  const origin = await startDemoOrigin({ customerId: 'customer-a' });
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test'])]);
  try {
    const head = await http(env.edge.url, '/h.json', { host: 'cdn.a.test', method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['x-cache'], 'MISS');
    assert.equal(head.body, '');
    assert.ok(Number(head.headers['content-length']) > 0);
    assert.equal(origin.requests[0]!.method, 'GET');
    await new Promise((r) => setTimeout(r, 50));
    const headHit = await http(env.edge.url, '/h.json', { host: 'cdn.a.test', method: 'HEAD' });
    assert.equal(headHit.headers['x-cache'], 'HIT');
    assert.equal(headHit.body, '');
    assert.equal(headHit.headers['content-length'], head.headers['content-length']);
    const get = await http(env.edge.url, '/h.json', { host: 'cdn.a.test' });
    assert.equal(get.headers['x-cache'], 'HIT');
    assert.equal(Buffer.byteLength(get.body), Number(head.headers['content-length']));
    assert.equal(origin.requests.length, 1);
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('no-store, private, Set-Cookie and a cacheTtl of 0 are never stored', async () => {
  const origin = await startScriptedOrigin((req, res) => {
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (req.url === '/no-store') headers['cache-control'] = 'public, No-Store';
    if (req.url === '/private') headers['cache-control'] = 'private, max-age=60';
    if (req.url === '/cookie') headers['set-cookie'] = 'session=abc';
    res.writeHead(200, headers).end(`body of ${req.url}`);
  });
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test']), customer('customer-z', origin.url, ['cdn.z.test'], { cacheTtl: 0 })]);
  try {
    for (const [host, p] of [['cdn.a.test', '/no-store'], ['cdn.a.test', '/private'], ['cdn.a.test', '/cookie'], ['cdn.z.test', '/plain']] as const) {
      for (let i = 0; i < 2; i += 1) {
        const res = await http(env.edge.url, p, { host });
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-cache'], 'MISS', `${host}${p} #${i}`);
        assert.equal(res.body, `body of ${p}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(origin.requests.filter((r) => r.url === p && r.headers['x-forwarded-host'] === host).length, 2, `${host}${p}`);
    }
    assert.deepEqual(await filesUnder(path.join(env.dir, 'cache')), []);
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('an object is fresh for the customer cacheTtl, Age counts up, then it is refetched', async () => {
  // No max-age from the origin: the customer's cacheTtl is the (heuristic) freshness.
  const origin = await startDemoOrigin({ customerId: 'customer-a', cacheControl: 'public' });
  const clock = new ManualClock();
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test'], { cacheTtl: 60 })], { clock });
  try {
    const first = await http(env.edge.url, '/t.json', { host: 'cdn.a.test' });
    assert.equal(first.headers['x-cache'], 'MISS');
    await new Promise((r) => setTimeout(r, 50));
    clock.advance(42_500);
    const hit = await http(env.edge.url, '/t.json', { host: 'cdn.a.test' });
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers.age, '42');
    clock.advance(17_500); // 60 s after storing: no longer fresh
    const expired = await http(env.edge.url, '/t.json', { host: 'cdn.a.test' });
    assert.equal(expired.headers['x-cache'], 'MISS');
    assert.equal(JSON.parse(expired.body).n, 2);
    assert.equal(origin.requests.length, 2);
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('routing uses Host only: unknown hosts 404 without an origin request; case, port and trailing dot ignored', async () => {
  const origin = await startDemoOrigin({ customerId: 'customer-a' });
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test'])]);
  try {
    const unknown = await http(env.edge.url, '/x.json', { host: 'nobody.example.com' });
    assert.equal(unknown.status, 404);
    assert.deepEqual(JSON.parse(unknown.body), {
      error: 'unknown_host',
      code: 'CDN_ERR_EDGE_UNKNOWN_HOST',
      message: 'No customer serves the host "nobody.example.com". Check the address, or add the domain to a customer.',
      host: 'nobody.example.com',
    });
    const viaXfh = await http(env.edge.url, '/x.json', { host: 'nobody.example.com', headers: { 'X-Forwarded-Host': 'cdn.a.test' } });
    assert.equal(viaXfh.status, 404, 'X-Forwarded-Host never routes');
    assert.equal(origin.requests.length, 0);

    const odd = await http(env.edge.url, '/x.json', { host: 'CDN.A.Test.:8080', headers: { 'X-Forwarded-Host': 'nobody.example.com' } });
    assert.equal(odd.status, 200);
    assert.equal(JSON.parse(odd.body).customer, 'customer-a');
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('bad Host headers and absolute-form targets for another host are 400 bad_host', async () => {
  const origin = await startDemoOrigin({ customerId: 'customer-a' });
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test'])]);
  try {
    const cases: [string, Parameters<typeof http>[2]][] = [
      ['duplicate Host', { host: ['cdn.a.test', 'cdn.a.test'] }],
      ['missing Host', { noHost: true }],
      ['malformed Host', { host: 'cdn.a.test/evil' }],
      ['bad port', { host: 'cdn.a.test:80x' }],
      ['absolute-form for another host', { host: 'cdn.a.test', target: 'http://other.test/x.json' }],
    ];
    for (const [what, options] of cases) {
      const res = await http(env.edge.url, '/x.json', options);
      assert.equal(res.status, 400, what);
      const body = JSON.parse(res.body);
      assert.equal(body.error, 'bad_host', what);
      assert.match(body.message, /^Bad Host header: /, what);
    }
    assert.equal(origin.requests.length, 0);
    const same = await http(env.edge.url, '/x.json', { host: 'cdn.a.test', target: 'http://CDN.a.test/abs.json?q=1' });
    assert.equal(same.status, 200);
    assert.equal(origin.requests[0]!.url, '/abs.json?q=1');
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('the origin gets its own Host, the customer Basic Auth instead of the client one, the edge\'s own X-Forwarded-*, Forwarded and Via', async () => {
  const origin = await startDemoOrigin({ customerId: 'customer-a', basicAuth: { username: 'alice', password: 'pa:ss wörd' } });
  const plain = await startDemoOrigin({ customerId: 'customer-b' });
  const env = await withEdge([
    customer('customer-a', `${origin.url}/base/`, ['cdn.a.test'], { basicAuth: { username: 'alice', password: 'pa:ss wörd' } }),
    customer('customer-b', plain.url, ['cdn.b.test']),
  ]);
  try {
    const res = await http(env.edge.url, '/p.json?x=1', {
      host: 'cdn.a.test:8080',
      headers: { Authorization: 'Basic Y2xpZW50OnNlY3JldA==', 'X-Forwarded-For': '203.0.113.9', 'Accept-Encoding': 'gzip', Connection: 'keep-alive, X-Custom-Hop', 'X-Custom-Hop': '1', 'X-Keep': 'yes' },
    });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers.via, '1.1 edgeplane');
    const got = origin.requests[0]!;
    assert.equal(got.url, '/base/p.json?x=1');
    const auth = String(got.headers.authorization);
    assert.equal(Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString('utf8'), 'alice:pa:ss wörd');
    assert.equal(got.headers.host, `127.0.0.1:${origin.port}`);
    assert.equal(got.headers['x-forwarded-for'], '127.0.0.1', 'the client\'s own X-Forwarded-For is its claim, not passed on');
    assert.equal(got.headers['x-forwarded-host'], 'cdn.a.test', 'the customer\'s domain, not the client\'s spelling of Host');
    assert.equal(got.headers['x-forwarded-proto'], 'http');
    assert.equal(got.headers.forwarded, 'for=127.0.0.1;host=cdn.a.test;proto=http');
    assert.equal(got.headers.via, '1.1 edgeplane');
    assert.equal(got.headers['accept-encoding'], undefined);
    assert.equal(got.headers['x-custom-hop'], undefined, 'headers named by Connection are hop-by-hop');
    assert.equal(got.headers['x-keep'], undefined, 'fields outside the allow-list do not reach the origin');

    await http(env.edge.url, '/q.json', { host: 'cdn.b.test', headers: { Authorization: 'Bearer client-token' } });
    assert.equal(plain.requests[0]!.headers.authorization, 'Bearer client-token', 'without customer Basic Auth the client credentials reach the origin (RFC 9111 §3.5 then keeps the answer private)');
  } finally {
    await env.cleanup();
    await Promise.all([origin.close(), plain.close()]);
  }
});

test('POST passes through with its body, X-Cache BYPASS, and is not stored', async () => {
  const origin = await startScriptedOrigin((req, res, body) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=3600' }).end(JSON.stringify({ method: req.method, echo: body }));
  });
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test'])]);
  try {
    for (let i = 0; i < 2; i += 1) {
      const res = await http(env.edge.url, '/submit', { host: 'cdn.a.test', method: 'POST', body: `{"n":${i}}`, headers: i === 0 ? { 'content-type': 'application/json', authorization: 'Bearer mine' } : { authorization: 'Bearer mine' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-cache'], 'BYPASS');
      assert.deepEqual(JSON.parse(res.body), { method: 'POST', echo: `{"n":${i}}` });
    }
    assert.equal(origin.requests.length, 2);
    assert.equal(origin.requests[0]!.headers.authorization, 'Bearer mine', 'a passed request keeps the client credentials when the customer has none');
    const get = await http(env.edge.url, '/submit', { host: 'cdn.a.test' });
    assert.equal(get.headers['x-cache'], 'MISS');
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('an origin that is down answers 502 origin_unreachable', async () => {
  const port = await closedPort();
  const env = await withEdge([customer('customer-a', `http://127.0.0.1:${port}`, ['cdn.a.test'])]);
  try {
    const res = await http(env.edge.url, '/x', { host: 'cdn.a.test' });
    assert.equal(res.status, 502);
    const body = JSON.parse(res.body);
    assert.equal(body.error, 'origin_unreachable');
    assert.match(body.message, /The origin of customer "customer-a" could not be reached/);
  } finally {
    await env.cleanup();
  }
});

test('an origin slower than CDN_ORIGIN_TIMEOUT_MS answers 504 origin_timeout', async () => {
  const origin = await startScriptedOrigin(() => {
    /* never answers */
  });
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test'])], { env: { CDN_ORIGIN_TIMEOUT_MS: '300' } });
  try {
    const started = Date.now();
    const res = await http(env.edge.url, '/slow', { host: 'cdn.a.test' });
    assert.equal(res.status, 504);
    assert.equal(JSON.parse(res.body).error, 'origin_timeout');
    assert.ok(Date.now() - started < 5000);
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('private origins are refused unless allowed: IP literal and a name resolving to loopback', async () => {
  const origin = await startDemoOrigin({ customerId: 'customer-a' });
  const env = await withEdge(
    [customer('customer-a', origin.url, ['cdn.a.test']), customer('customer-l', `http://localhost:${origin.port}`, ['cdn.l.test'])],
    { env: { CDN_ALLOW_PRIVATE_ORIGINS: 'false' } },
  );
  try {
    for (const host of ['cdn.a.test', 'cdn.l.test']) {
      const res = await http(env.edge.url, '/x.json', { host });
      assert.equal(res.status, 502, host);
      const body = JSON.parse(res.body);
      assert.equal(body.error, 'origin_forbidden_address', host);
      assert.match(body.message, /loopback, private or link-local.*CDN_ALLOW_PRIVATE_ORIGINS=true/, host);
    }
    assert.equal(origin.requests.length, 0);
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('a cached object survives an edge restart', async () => {
  const origin = await startDemoOrigin({ customerId: 'customer-a' });
  const tmp = await tempDir();
  const customers = [customer('customer-a', origin.url, ['cdn.a.test'])];
  try {
    const first = await withEdge(customers, { dir: tmp.dir });
    const miss = await http(first.edge.url, '/keep.json', { host: 'cdn.a.test' });
    await new Promise((r) => setTimeout(r, 50));
    await first.cleanup();
    const second = await withEdge(customers, { dir: tmp.dir });
    const hit = await http(second.edge.url, '/keep.json', { host: 'cdn.a.test' });
    await second.cleanup();
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.body, miss.body);
    assert.equal(origin.requests.length, 1);
  } finally {
    await tmp.remove();
    await origin.close();
  }
});

test('a client aborting mid-download leaves no partial object: the next request is a MISS with the full body', async () => {
  const CHUNK = Buffer.alloc(64 * 1024, 'x');
  const CHUNKS = 20;
  const origin = await startScriptedOrigin((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': CHUNK.length * CHUNKS });
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      res.write(CHUNK);
      sent += 1;
      if (sent === CHUNKS) {
        clearInterval(timer);
        res.end();
      }
    }, 10);
  });
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test'])]);
  try {
    const url = new URL(env.edge.url);
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/big.bin', headers: { host: 'cdn.a.test' }, agent: false }, (res) => {
        assert.equal(res.headers['x-cache'], 'MISS');
        let got = 0;
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (got >= CHUNK.length * 3) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
      req.end();
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await filesUnder(path.join(env.dir, 'cache')), [], 'no object and no temp file left behind');
    const next = await http(env.edge.url, '/big.bin', { host: 'cdn.a.test' });
    assert.equal(next.headers['x-cache'], 'MISS');
    assert.equal(next.body.length, CHUNK.length * CHUNKS);
    // The store's write finishes just after the client's last byte: ask until it is in (or 5 s).
    let hit = await http(env.edge.url, '/big.bin', { host: 'cdn.a.test' });
    for (let i = 0; i < 50 && hit.headers['x-cache'] !== 'HIT'; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      hit = await http(env.edge.url, '/big.bin', { host: 'cdn.a.test' });
    }
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.body.length, CHUNK.length * CHUNKS);
  } finally {
    await env.cleanup();
    await origin.close();
  }
});

test('objects above CDN_EDGE_MAX_OBJECT_BYTES are served in full but not stored', async () => {
  const big = 'y'.repeat(5000);
  const origin = await startScriptedOrigin((req, res) => {
    // One answer without Content-Length, so the limit is found while writing.
    if (req.url === '/chunked') res.writeHead(200).end(big);
    else res.writeHead(200, { 'content-length': big.length }).end(big);
  });
  const env = await withEdge([customer('customer-a', origin.url, ['cdn.a.test'])], { env: { CDN_EDGE_MAX_OBJECT_BYTES: '1000' } });
  try {
    for (const p of ['/sized', '/chunked', '/sized', '/chunked']) {
      const res = await http(env.edge.url, p, { host: 'cdn.a.test' });
      assert.equal(res.body, big);
      assert.equal(res.headers['x-cache'], 'MISS');
      await new Promise((r) => setTimeout(r, 30));
    }
    assert.deepEqual(await filesUnder(path.join(env.dir, 'cache')), []);
  } finally {
    await env.cleanup();
    await origin.close();
  }
});
