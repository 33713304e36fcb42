/**
 * The hit lane (src/edge/pipeline/hit.lane.ts) answers exactly as the pipeline does: two
 * edges in front of one origin, one with the lane and one without, get the same requests;
 * status, headers (Age within a second) and body must agree, and the lane must have taken
 * the plain fresh GETs and nothing else. With compression: the lane serves a stored encoded
 * copy it holds in memory, an origin-gzipped object to clients that accept gzip, and leaves
 * to the pipeline what needs work (a body to decode, a copy not in memory).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { DeliveryRule } from '../../src/core/delivery-rules.types';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { openSocket, untilClosed } from '../support/raw-sockets';
import { customer, edgeConfig, http, silentLogger, startScriptedOrigin, tempDir, type HttpOptions, type ScriptedOrigin } from './edge.harness';

let origin: ScriptedOrigin;
const dirs: Array<{ remove(): Promise<void> }> = [];
let withLane: EdgeHandle;
let withoutLane: EdgeHandle;

before(async () => {
  origin = await startScriptedOrigin((req, res) => {
    const url = req.url ?? '/';
    const headers: Record<string, string> = {
      'content-type': 'text/plain',
      etag: `"${Buffer.from(url).toString('hex').slice(0, 16)}"`,
      'last-modified': 'Tue, 01 Sep 2026 10:00:00 GMT',
      'x-origin': 'yes',
      via: '1.1 upstream-proxy',
      'cache-control': url.startsWith('/stale') ? 'public, max-age=0' : 'public, max-age=3600',
    };
    if (url.startsWith('/vary')) headers.vary = 'Accept-Language';
    if (url.startsWith('/tagged')) headers['surrogate-key'] = 'one two';
    if (req.headers['if-none-match'] === headers.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const body = `body of ${url} (${String(req.headers['accept-language'] ?? '-')})`;
    // Bodies long enough to compress (the edge leaves anything under 256 bytes as it is).
    // With a length (most origins send one): on a kept-alive connection the lane writes this answer's bytes itself.
    if (url.startsWith('/sized')) {
      res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
      return;
    }
    if (url.startsWith('/big')) {
      res.writeHead(200, headers);
      res.end(`${body}\n${'text to compress, line after line of it\n'.repeat(40)}`);
      return;
    }
    if (url.startsWith('/gz')) {
      res.writeHead(200, { ...headers, 'content-encoding': 'gzip' });
      res.end(gzipSync(`${body}\n${'gzipped by the origin\n'.repeat(40)}`));
      return;
    }
    res.writeHead(200, headers);
    res.end(body);
  });
  const customers = [
    customer('customer-a', origin.url, ['cdn.a.test']),
    { ...customer('customer-q', origin.url, ['cdn.q.test']), queryString: { mode: 'allowlist' as const, allow: ['v'] } },
    // Delivery rules the lane judges itself: path-only ones (once per URL), and ones reading headers and cookies (per request).
    { ...customer('customer-r', origin.url, ['cdn.r.test']), rules: PATH_RULES },
    { ...customer('customer-h', origin.url, ['cdn.h.test']), rules: [...PATH_RULES, ...HEADER_RULES] },
  ];
  const start = async (hitLane: boolean): Promise<EdgeHandle> => {
    const dir = await tempDir();
    dirs.push(dir);
    return startEdge(edgeConfig(dir.dir), { customers: createStaticCustomerFeed(customers), logger: silentLogger, hitLane });
  };
  withLane = await start(true);
  withoutLane = await start(false);
});

after(async () => {
  await withLane?.close();
  await withoutLane?.close();
  await origin?.close();
  for (const d of dirs) await d.remove();
});

interface Case {
  name: string;
  path: string;
  options?: HttpOptions;
  /** Whether the lane answers it (on the edge that has one). */
  lane: boolean;
  /** The Content-Encoding both must answer with (default none). */
  encoding?: string;
}

const PATH_RULES: DeliveryRule[] = [
  { name: 'tracking', actions: { cacheKey: { query: { mode: 'deny', names: ['utm_*'] } } } },
  { name: 'security', actions: { responseHeaders: [{ op: 'set', name: 'x-content-type-options', value: 'nosniff' }, { op: 'remove', name: 'x-origin' }] } },
  { name: 'text', match: { extensions: ['txt'] }, actions: { cache: { browserTtl: 120 } } },
  { name: 'closed', match: { pathPrefixes: ['/closed/'] }, actions: { access: { deny: true } } },
  { name: 'lang', match: { pathPrefixes: ['/i18n/'] }, actions: { cacheKey: { headers: ['accept-language'] } } },
];
const HEADER_RULES: DeliveryRule[] = [
  { name: 'cors', match: { headers: [{ name: 'origin' }] }, actions: { responseHeaders: [{ op: 'set', name: 'access-control-allow-origin', value: '*' }] } },
  { name: 'debug', match: { headers: [{ name: 'x-debug', values: ['1'] }] }, actions: { responseHeaders: [{ op: 'set', name: 'x-debug-edge', value: 'on' }] } },
  { name: 'preview', match: { cookies: [{ name: 'preview', values: ['1'] }] }, actions: { cache: { bypass: true } } },
  { name: 'agent', match: { headers: [{ name: 'user-agent', values: ['bot'] }] }, actions: { responseHeaders: [{ op: 'set', name: 'x-agent', value: 'bot' }] } },
];
const A = { host: 'cdn.a.test' };
const R = { host: 'cdn.r.test' };
const H = { host: 'cdn.h.test' };
const CASES: Case[] = [
  { name: 'plain GET of a fresh object', path: '/plain.txt', options: A, lane: true },
  { name: 'an object with a Content-Length', path: '/sized.txt', options: A, lane: true },
  { name: 'query kept as part of the key', path: '/q.txt?b=2&a=1', options: A, lane: true },
  { name: 'allowlisted query (others dropped)', path: '/list.txt?utm=x&v=3', options: { host: 'cdn.q.test' }, lane: true },
  { name: 'surrogate keys stored', path: '/tagged.txt', options: A, lane: true },
  { name: 'HEAD', path: '/plain.txt', options: { ...A, method: 'HEAD' }, lane: false },
  { name: 'If-None-Match matching (304)', path: '/plain.txt', options: { ...A, headers: { 'if-none-match': `"${Buffer.from('/plain.txt').toString('hex').slice(0, 16)}"` } }, lane: false },
  { name: 'If-Modified-Since (304)', path: '/plain.txt', options: { ...A, headers: { 'if-modified-since': 'Wed, 02 Sep 2026 10:00:00 GMT' } }, lane: false },
  { name: 'Range (206)', path: '/plain.txt', options: { ...A, headers: { range: 'bytes=0-3' } }, lane: false },
  { name: 'Vary: Accept-Language', path: '/vary.txt', options: { ...A, headers: { 'accept-language': 'fr' } }, lane: false },
  { name: 'stale object (revalidated)', path: '/stale.txt', options: A, lane: false },
  { name: 'percent-encoded path', path: '/sp%20ace.txt', options: A, lane: false },
  { name: 'unknown host', path: '/plain.txt', options: { host: 'nobody.test' }, lane: false },
  { name: 'two Host fields', path: '/plain.txt', options: { host: ['cdn.a.test', 'cdn.a.test'] }, lane: false },
  // The pipeline judges these (a loop through this CDN is refused; a shield's hop is verified): the lane takes neither.
  { name: 'CDN-Loop naming another CDN', path: '/plain.txt', options: { ...A, headers: { 'CDN-Loop': 'other-cdn' } }, lane: false },
  { name: 'a shield hop field (no shield here)', path: '/plain.txt', options: { ...A, headers: { 'Edgeplane-Hop': 'v1.bogus' } }, lane: false },
  { name: 'POST passes through', path: '/post.txt', options: { ...A, method: 'POST', body: 'x' }, lane: false },
  { name: 'compressible object, no Accept-Encoding (identity, Vary)', path: '/big.txt', options: A, lane: true },
  { name: 'Accept-Encoding: br (stored copy in memory)', path: '/big.txt', options: { ...A, headers: { 'accept-encoding': 'br' } }, lane: true, encoding: 'br' },
  { name: 'Accept-Encoding: gzip, deflate, br', path: '/big.txt', options: { ...A, headers: { 'accept-encoding': 'gzip, deflate, br' } }, lane: true, encoding: 'br' },
  { name: 'Accept-Encoding: gzip (stored copy in memory)', path: '/big.txt', options: { ...A, headers: { 'Accept-Encoding': 'gzip' } }, lane: true, encoding: 'gzip' },
  { name: 'Accept-Encoding: identity', path: '/big.txt', options: { ...A, headers: { 'accept-encoding': 'identity' } }, lane: true },
  { name: 'Accept-Encoding: br;q=0, *', path: '/big.txt', options: { ...A, headers: { 'accept-encoding': 'br;q=0, *' } }, lane: true, encoding: 'gzip' },
  { name: 'Range on a brotli copy', path: '/big.txt', options: { ...A, headers: { 'accept-encoding': 'br', range: 'bytes=3-20' } }, lane: false, encoding: 'br' },
  { name: 'If-None-Match of the brotli copy (304)', path: '/big.txt', options: { ...A, headers: { 'accept-encoding': 'br', 'if-none-match': `"${Buffer.from('/big.txt').toString('hex').slice(0, 16)}-br"` } }, lane: false },
  { name: 'copy of an object with a query', path: '/big.txt?b=2&a=1', options: { ...A, headers: { 'accept-encoding': 'br' } }, lane: true, encoding: 'br' },
  { name: 'origin-gzipped, client accepts gzip', path: '/gz.txt', options: { ...A, headers: { 'accept-encoding': 'gzip' } }, lane: true, encoding: 'gzip' },
  { name: 'origin-gzipped, client without gzip (decoded)', path: '/gz.txt', options: A, lane: false },
  { name: 'origin-gzipped, client wants br only (decoded)', path: '/gz.txt', options: { ...A, headers: { 'accept-encoding': 'br' } }, lane: false },
  { name: 'path-only rules: fields and browser TTL', path: '/ruled.txt', options: R, lane: true },
  { name: 'path-only rules: a tracking parameter out of the key', path: '/ruled.txt?utm_source=x', options: R, lane: true },
  { name: 'path-only rules: with a copy', path: '/big.txt', options: { ...R, headers: { 'accept-encoding': 'br' } }, lane: true, encoding: 'br' },
  { name: 'path-only rules: deny is the pipeline\'s', path: '/closed/x.txt', options: R, lane: false },
  { name: 'path-only rules: a header in the key is the pipeline\'s', path: '/i18n/s.txt', options: { ...R, headers: { 'accept-language': 'fr' } }, lane: false },
  { name: 'header rules, none matching', path: '/ruled.txt', options: H, lane: true },
  { name: 'header rules: Origin present', path: '/ruled.txt', options: { ...H, headers: { origin: 'https://site.test' } }, lane: true },
  { name: 'header rules: X-Debug: 1 in any case', path: '/ruled.txt', options: { ...H, headers: { 'X-DEBUG': '1' } }, lane: true },
  { name: 'header rules: X-Debug other value', path: '/ruled.txt', options: { ...H, headers: { 'x-debug': '2' } }, lane: true },
  { name: 'header rules: a repeated User-Agent counts once (node:http keeps the first)', path: '/ruled.txt', options: { ...H, headers: { 'user-agent': 'bot', 'User-Agent': 'human' } }, lane: true },
  { name: 'header rules: a bypass cookie is the pipeline\'s', path: '/ruled.txt', options: { ...H, headers: { cookie: 'a=b; preview=1' } }, lane: false },
  { name: 'header rules: another cookie', path: '/ruled.txt', options: { ...H, headers: { cookie: 'preview=0' } }, lane: true },
];

/** What must agree: status, body, and every header but Date/Age (Age: within a second). */
function comparable(headers: IncomingHttpHeaders): Record<string, unknown> {
  const { date: _d, age: _a, connection: _c, 'keep-alive': _k, ...rest } = headers;
  return rest;
}

test('the hit lane and the pipeline give the same answers, and the lane takes only plain fresh GETs from memory', async () => {
  // Warm both edges: every path fetched twice, so whatever can be stored is stored (encoded copies too).
  for (const c of CASES) {
    for (const edge of [withLane, withoutLane]) {
      await http(edge.url, c.path, c.options);
      await http(edge.url, c.path, c.options);
    }
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(withoutLane.hitLaneServed(), 0, 'an edge without the lane never uses it');
  // Asking to close the connection (node:http's writeHead answers), and to keep it open as browsers do
  // (the lane then writes its answer's bytes itself: raw-answer.ts): the same answers either way.
  for (const c of CASES.flatMap((c) => [c, { ...c, name: `${c.name} (keep-alive)`, options: { ...c.options, keepAlive: true } }])) {
    const before = withLane.hitLaneServed();
    const a = await http(withLane.url, c.path, c.options);
    const took = withLane.hitLaneServed() - before;
    const b = await http(withoutLane.url, c.path, c.options);
    assert.equal(took, c.lane ? 1 : 0, `${c.name}: lane ${c.lane ? 'taken' : 'not taken'}`);
    assert.equal(a.status, b.status, `${c.name}: status`);
    assert.equal(a.body, b.body, `${c.name}: body`);
    assert.deepEqual(comparable(a.headers), comparable(b.headers), `${c.name}: headers`);
    assert.equal(a.headers.connection, b.headers.connection, `${c.name}: Connection`);
    assert.equal(a.headers['keep-alive'], b.headers['keep-alive'], `${c.name}: Keep-Alive`);
    assert.equal(a.headers['content-encoding'], c.encoding, `${c.name}: Content-Encoding`);
    if (a.headers.age !== undefined || b.headers.age !== undefined) {
      assert.ok(Math.abs(Number(a.headers.age) - Number(b.headers.age)) <= 1, `${c.name}: Age ${a.headers.age} vs ${b.headers.age}`);
    }
    if (c.lane) {
      assert.equal(a.headers['x-cache'], 'HIT');
      assert.equal(a.headers.via, '1.1 upstream-proxy, 1.1 edgeplane');
      assert.ok(a.headers.age !== undefined, 'a hit carries Age');
    }
  }
});

test('pipelined requests on a kept-alive connection get their answers whole and in order, the lane writing the first itself', async () => {
  const paths = ['/sized/1.txt', '/plain.txt', '/sized/2.txt', '/sized/1.txt'];
  for (const p of paths) {
    await http(withLane.url, p, A);
    await http(withLane.url, p, A);
  }
  const before = withLane.hitLaneServed();
  const socket = await openSocket(Number(new URL(withLane.url).port));
  const closed = untilClosed(socket);
  // One write: node:http parses all four before the first answer is finished, so the later ones wait their turn.
  socket.write(paths.map((p, i) => `GET ${p} HTTP/1.1\r\nHost: cdn.a.test\r\n${i === paths.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join(''));
  const { data, error } = await closed;
  assert.equal(error, undefined);
  assert.equal(data.split('HTTP/1.1 200 OK\r\n').length - 1, paths.length, data);
  let at = 0;
  for (const p of paths) {
    const found = data.indexOf(`body of ${p} (-)`, at);
    assert.ok(found >= at, `the answer for ${p} comes next:\n${data}`);
    at = found;
  }
  assert.equal(withLane.hitLaneServed() - before, paths.length, 'all four were lane hits');
});

test('a lane hit counts in the metrics like a pipeline hit', async () => {
  const metric = async (edge: EdgeHandle): Promise<number> => {
    const text = await edge.metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith('cdn_edge_requests_total{') && l.includes('customer="customer-a"') && l.includes('cache="HIT"'));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  };
  const before = await metric(withLane);
  const served = withLane.hitLaneServed();
  await http(withLane.url, '/plain.txt', A);
  assert.equal(withLane.hitLaneServed(), served + 1);
  assert.equal(await metric(withLane), before + 1);
});
