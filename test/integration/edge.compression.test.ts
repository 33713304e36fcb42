/**
 * Compression at the edge (docs/EDGE.md, "Compression"), through real sockets: a real origin
 * that records what it receives (it never sees Accept-Encoding and is asked once per URL
 * whatever the codings clients want), curl with and without --compressed, raw requests for
 * br, gzip and identity, origin-gzipped content for a client without gzip, Range and
 * If-None-Match on encoded copies, purges (URL, prefix, tag, all) removing the copies,
 * no-transform, types left alone, the customer's own types, answers encoded while they
 * stream (miss, pass), and a client sending odd Accept-Encoding values that must not change
 * what any other client gets.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { MemoryBus } from '../../src/bus/memory-bus';
import type { PurgeRequest } from '../../src/core/purge.types';
import { cacheKey, encodedKey } from '../../src/edge/cache/cache-key';
import type { TieredStore } from '../../src/edge/cache/tiered.store';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { Relay } from '../support/bus-relay';
import { customer, edgeConfig, edgeStore, eventually, run, silentLogger, startBusEdge, startScriptedOrigin, tempDir, type ScriptedOrigin } from './edge.harness';

const HOST = 'cdn.a.test';
const OTHER = 'cdn.o.test';
/** Text that compresses as real scripts do (a few times, not a thousand): words in a pseudo-random order. */
function script(lines: number): string {
  const words = ['const', 'let', 'return', 'function', 'value', 'items', 'map', 'filter', '=>', '(', ')', '{', '}', ';', 'index', 'length', 'await', 'fetch', 'response', 'json', 'if', 'else', 'null', 'undefined', 'true', 'false'];
  let seed = 42;
  const out: string[] = [];
  for (let i = 0; i < lines; i += 1) {
    const line: string[] = [];
    for (let w = 0; w < 8; w += 1) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      line.push(words[seed % words.length]!, String(seed % 97));
    }
    out.push(line.join(' '));
  }
  return `${out.join('\n')}\n`;
}
const SCRIPT = script(400);
const STYLE = 'body { margin: 0; padding: 0; font-family: sans-serif; color: #222; }\n'.repeat(200);
const CUSTOM = '{"kind":"custom","value":1}\n'.repeat(200);
const BINARY = Buffer.alloc(20_000, 7);

interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request to the edge with exactly these fields (Host included), the body as bytes. */
function raw(base: string, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<Raw> {
  const url = new URL(base);
  const fields: string[] = ['Host', headers.host ?? HOST];
  for (const [k, v] of Object.entries(headers)) if (k !== 'host') fields.push(k, v);
  if (body !== undefined) fields.push('Content-Length', String(Buffer.byteLength(body)));
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers: fields as unknown as OutgoingHttpHeaders, setHost: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function decoded(res: Raw): string {
  const coding = res.headers['content-encoding'];
  if (coding === 'br') return brotliDecompressSync(res.body).toString('utf8');
  if (coding === 'gzip') return gunzipSync(res.body).toString('utf8');
  assert.equal(coding, undefined, `unexpected coding ${String(coding)}`);
  return res.body.toString('utf8');
}

function varyNames(res: Raw): string[] {
  return String(res.headers.vary ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}

let origin: ScriptedOrigin;
let edge: EdgeHandle;
let store: TieredStore;
let bus: MemoryBus;
let relay: Relay;
const dirs: Array<{ remove(): Promise<void> }> = [];
/** Fetches per origin path so far (bodies under /p/ and /t/ say which fetch they came from). */
const fetches = new Map<string, number>();

before(async () => {
  origin = await startScriptedOrigin((req, res, body) => {
    const url = new URL(req.url!, 'http://origin.test');
    const path = url.pathname;
    const n = (fetches.get(path) ?? 0) + 1;
    fetches.set(path, n);
    const etag = `"${path.replace(/[^a-z0-9]/gi, '')}-v1"`;
    const base = { etag, 'last-modified': 'Tue, 01 Sep 2026 10:00:00 GMT', 'cache-control': 'public, max-age=3600' };
    const send = (status: number, headers: Record<string, string>, content: string | Buffer): void => {
      res.writeHead(status, { ...base, ...headers, 'content-length': String(Buffer.byteLength(content)) });
      res.end(content);
    };
    if (path === '/app.js') return send(200, { 'content-type': 'text/javascript; charset=utf-8' }, SCRIPT);
    if (path === '/style.css') return send(200, { 'content-type': 'text/css' }, STYLE);
    if (path === '/vary.js') return send(200, { 'content-type': 'application/javascript', vary: 'Accept-Language' }, `// ${String(req.headers['accept-language'])}\n${SCRIPT}`);
    if (path === '/tiny.txt') return send(200, { 'content-type': 'text/plain' }, 'small');
    if (path === '/notransform.txt') return send(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=3600, no-transform' }, SCRIPT);
    if (path === '/data.bin') return send(200, { 'content-type': 'application/octet-stream' }, BINARY);
    if (path === '/custom.dat') return send(200, { 'content-type': 'application/x-custom' }, CUSTOM);
    if (path === '/gz.txt' || path === '/gz-nt.txt') {
      const extra: Record<string, string> = path === '/gz-nt.txt' ? { 'cache-control': 'public, max-age=3600, no-transform' } : {};
      return send(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', ...extra }, gzipSync(SCRIPT));
    }
    // Valid gzip for its first half, then bytes no decoder accepts: a complete origin answer
    // (its Content-Length is met) that only breaks when decoded.
    if (path === '/broken-gz.txt') return send(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }, Buffer.concat([gzipSync(SCRIPT).subarray(0, 2000), Buffer.alloc(2000, 0xff)]));
    if (path === '/private.txt') return send(200, { 'content-type': 'text/plain', 'cache-control': 'private' }, SCRIPT);
    if (path === '/chunked.txt') {
      res.writeHead(200, { ...base, 'content-type': 'text/plain' });
      res.write(SCRIPT.slice(0, 5000));
      setTimeout(() => res.end(SCRIPT.slice(5000)), 20);
      return undefined;
    }
    if (path === '/api' && req.method === 'POST') return send(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }, JSON.stringify({ echo: body, pad: SCRIPT }));
    if (path.startsWith('/p/') || path.startsWith('/t/')) {
      const tag: Record<string, string> = path.startsWith('/t/') ? { 'surrogate-key': 'tagged' } : {};
      return send(200, { 'content-type': 'text/plain', ...tag, etag: `"${path.replace(/[^a-z0-9]/gi, '')}-${n}"` }, `fetch #${n} of ${path}\n${SCRIPT}`);
    }
    return send(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' }, 'not found');
  });
  const tmp = await tempDir();
  dirs.push(tmp);
  bus = new MemoryBus();
  relay = new Relay(bus);
  await relay.upsert({ ...customer('customer-a', origin.url, [HOST]), compressTypes: ['application/x-custom'] }, customer('customer-o', origin.url, [OTHER]));
  const config = edgeConfig(tmp.dir);
  store = edgeStore(config);
  ({ edge } = await startBusEdge(bus, config, { store }));
});

after(async () => {
  await edge?.close();
  await store?.close();
  await bus?.close();
  await origin?.close();
  for (const d of dirs) await d.remove();
});

function originAsked(path: string): number {
  return origin.requests.filter((r) => r.url.split('?')[0] === path).length;
}

async function metric(name: string, encoding?: string): Promise<number> {
  const text = await edge.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(encoding === undefined ? `${name} ` : `${name}{encoding="${encoding}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

async function applied(): Promise<void> {
  await eventually(() => edge.appliedSeq() >= relay.seq, 3000, `seq ${relay.seq} applied`);
}

test('curl without --compressed gets the identity body; with --compressed, brotli that decodes to the same bytes, fewer on the wire', async () => {
  const url = `${edge.url}/style.css`;
  const plain = await run('curl', ['-sS', '-H', `Host: ${HOST}`, '-D', '-', '-o', '/dev/null', '-w', 'size=%{size_download}', url]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.doesNotMatch(plain.stdout, /content-encoding/i);
  assert.match(plain.stdout, /vary: Accept-Encoding/i, 'the answer depends on Accept-Encoding, and says so');
  assert.match(plain.stdout, new RegExp(`size=${STYLE.length}$`));
  const compressed = await run('curl', ['-sS', '--compressed', '-H', `Host: ${HOST}`, '-D', '-', '-w', '\nsize=%{size_download}', url]);
  assert.equal(compressed.code, 0, compressed.stderr);
  assert.match(compressed.stdout, /content-encoding: br/i, 'curl offers deflate, gzip, br and zstd: the edge picks brotli');
  const size = Number(/size=(\d+)$/.exec(compressed.stdout)![1]);
  assert.ok(size < STYLE.length / 10, `${size} bytes on the wire for ${STYLE.length}`);
  assert.ok(compressed.stdout.includes(STYLE), 'curl decoded the very body the origin sent');
  const gz = await run('curl', ['-sS', '-H', `Host: ${HOST}`, '-H', 'Accept-Encoding: gzip', '--compressed', '-o', '-', url]);
  assert.equal(gz.stdout, STYLE);
  assert.equal(originAsked('/style.css'), 1, 'one origin request whatever the codings asked for');
  for (const r of origin.requests) assert.equal(r.headers['accept-encoding'], undefined, 'the origin never sees Accept-Encoding');
});

test('br, gzip and identity: each its own coding, length and ETag, Vary: Accept-Encoding on all three; compressed once per stored object', async () => {
  const first = await raw(edge.url, '/app.js');
  assert.equal(first.headers['x-cache'], 'MISS');
  const compressionsBefore = await metric('cdn_edge_compressions_total', 'br');
  const answers: Record<string, Raw> = {};
  for (const ae of ['br', 'gzip', 'identity']) {
    // Twice: the first may make the copy, the second must find it.
    await raw(edge.url, '/app.js', { 'accept-encoding': ae });
    answers[ae] = await raw(edge.url, '/app.js', { 'accept-encoding': ae });
  }
  for (const [ae, res] of Object.entries(answers)) {
    assert.equal(res.status, 200, ae);
    assert.equal(res.headers['x-cache'], 'HIT', ae);
    assert.equal(decoded(res), SCRIPT, `${ae}: decodes to the origin's body`);
    assert.equal(Number(res.headers['content-length']), res.body.length, `${ae}: Content-Length is the bytes sent`);
    assert.deepEqual(varyNames(res), ['accept-encoding'], ae);
    assert.equal(res.headers['last-modified'], 'Tue, 01 Sep 2026 10:00:00 GMT');
    assert.match(String(res.headers['content-type']), /text\/javascript/);
  }
  assert.equal(answers.br!.headers['content-encoding'], 'br');
  assert.equal(answers.br!.headers.etag, '"appjs-v1-br"');
  assert.equal(answers.gzip!.headers['content-encoding'], 'gzip');
  assert.equal(answers.gzip!.headers.etag, '"appjs-v1-gzip"');
  assert.equal(answers.identity!.headers['content-encoding'], undefined);
  assert.equal(answers.identity!.headers.etag, '"appjs-v1"');
  assert.ok(answers.br!.body.length < answers.gzip!.body.length, 'brotli smaller than gzip');
  assert.equal(originAsked('/app.js'), 1);
  for (let i = 0; i < 5; i += 1) assert.equal(decoded(await raw(edge.url, '/app.js', { 'accept-encoding': 'gzip, deflate, br' })), SCRIPT);
  assert.equal((await metric('cdn_edge_compressions_total', 'br')) - compressionsBefore, 1, 'brotli ran once for this object, not per hit');
  assert.ok((await metric('cdn_edge_compressed_responses_total', 'br')) >= 6);
  assert.ok((await metric('cdn_edge_compression_saved_bytes_total', 'br')) > 5 * (SCRIPT.length / 2));
  // The copies are stored beside the object, under keys that sort right after its own.
  const objectKey = cacheKey('customer-a', '/app.js', '');
  for (const coding of ['br', 'gzip'] as const) {
    const copy = await store.get(encodedKey(objectKey, coding));
    assert.ok(copy !== undefined, `${coding} copy stored`);
    assert.equal(copy.meta.encoded?.coding, coding);
    await copy.release();
  }
});

test('q-values: q=0 refuses a coding, * stands for the others, identity can be preferred', async () => {
  await raw(edge.url, '/app.js');
  const cases: Array<[string, string | undefined]> = [
    ['br;q=0, gzip', 'gzip'],
    ['gzip;q=0.5, br;q=0.4', 'gzip'],
    ['*', 'br'],
    ['*;q=0', undefined],
    ['br;q=0, *;q=0.1', 'gzip'],
    ['identity, gzip;q=0.5', undefined],
    ['x-gzip', 'gzip'],
    ['', undefined],
    ['deflate', undefined],
    ['gzip;q=abc', undefined],
  ];
  for (const [ae, coding] of cases) {
    const res = await raw(edge.url, '/app.js', { 'accept-encoding': ae });
    assert.equal(res.headers['content-encoding'], coding, `Accept-Encoding: ${ae}`);
    assert.equal(decoded(res), SCRIPT, ae);
  }
});

test('a Range on an encoded copy is cut from the encoded bytes; If-Range and If-None-Match compare the copy\'s own ETag', async () => {
  const full = await raw(edge.url, '/app.js', { 'accept-encoding': 'br' });
  assert.equal(full.headers['content-encoding'], 'br');
  const part = await raw(edge.url, '/app.js', { 'accept-encoding': 'br', range: 'bytes=10-99' });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-encoding'], 'br');
  assert.equal(part.headers['content-range'], `bytes 10-99/${full.body.length}`);
  assert.equal(part.headers['content-length'], '90');
  assert.deepEqual(part.body, full.body.subarray(10, 100));
  const tail = await raw(edge.url, '/app.js', { 'accept-encoding': 'br', range: 'bytes=100-' });
  assert.deepEqual(Buffer.concat([full.body.subarray(0, 100), tail.body]), full.body, 'two ranges of the copy make the copy');
  const gzipPart = await raw(edge.url, '/app.js', { 'accept-encoding': 'gzip', range: 'bytes=0-9' });
  assert.equal(gzipPart.headers['content-encoding'], 'gzip');
  assert.deepEqual(gzipPart.body, gunzipHead(gzipPart.body));
  const identityPart = await raw(edge.url, '/app.js', { range: 'bytes=0-9' });
  assert.equal(identityPart.body.toString(), SCRIPT.slice(0, 10));
  assert.equal(identityPart.headers['content-range'], `bytes 0-9/${SCRIPT.length}`);

  const ifRangeCopy = await raw(edge.url, '/app.js', { 'accept-encoding': 'br', range: 'bytes=0-9', 'if-range': '"appjs-v1-br"' });
  assert.equal(ifRangeCopy.status, 206);
  const ifRangeIdentity = await raw(edge.url, '/app.js', { 'accept-encoding': 'br', range: 'bytes=0-9', 'if-range': '"appjs-v1"' });
  assert.equal(ifRangeIdentity.status, 200, 'the identity\'s ETag is another representation: the whole copy');
  assert.deepEqual(ifRangeIdentity.body, full.body);

  const notModified = await raw(edge.url, '/app.js', { 'accept-encoding': 'br', 'if-none-match': '"appjs-v1-br"' });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.headers.etag, '"appjs-v1-br"');
  assert.deepEqual(varyNames(notModified), ['accept-encoding']);
  const otherTag = await raw(edge.url, '/app.js', { 'accept-encoding': 'br', 'if-none-match': '"appjs-v1"' });
  assert.equal(otherTag.status, 200, 'the identity\'s ETag does not validate the brotli copy (a 304 would relabel the client\'s identity copy)');
  assert.equal(otherTag.headers['content-encoding'], 'br');
  const gzipClient = await raw(edge.url, '/app.js', { 'accept-encoding': 'gzip', 'if-none-match': '"appjs-v1-br"' });
  assert.equal(gzipClient.status, 200, 'a brotli ETag does not validate the gzip copy');
  assert.equal(gzipClient.headers.etag, '"appjs-v1-gzip"');
  const identity304 = await raw(edge.url, '/app.js', { 'if-none-match': '"appjs-v1"' });
  assert.equal(identity304.status, 304);
  assert.equal(identity304.headers.etag, '"appjs-v1"');
  const weak = await raw(edge.url, '/app.js', { 'accept-encoding': 'br', 'if-none-match': 'W/"appjs-v1-br"' });
  assert.equal(weak.status, 304, 'If-None-Match compares weakly (RFC 9110 §13.1.2)');

  const head = await raw(edge.url, '/app.js', { 'accept-encoding': 'br' }, 'HEAD');
  assert.equal(head.headers['content-encoding'], 'br');
  assert.equal(Number(head.headers['content-length']), full.body.length, 'HEAD says the length the GET sends');
  assert.equal(head.body.length, 0);
});

/** A gzip member's first bytes are its magic number. */
function gunzipHead(body: Buffer): Buffer {
  assert.equal(body[0], 0x1f);
  assert.equal(body[1], 0x8b);
  return body;
}

test('an origin-gzipped answer goes as it is to gzip clients and decoded to the others (curl without --compressed), with a weak ETag of its own', async () => {
  const gz = await raw(edge.url, '/gz.txt', { 'accept-encoding': 'gzip' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.deepEqual(gz.body, gzipSync(SCRIPT), 'the origin\'s own bytes');
  assert.equal(gz.headers.etag, '"gztxt-v1"');
  assert.deepEqual(varyNames(gz), ['accept-encoding']);
  for (const headers of [{}, { 'accept-encoding': 'br' }, { 'accept-encoding': 'identity' }, { 'accept-encoding': 'gzip;q=0, br' }] as Array<Record<string, string>>) {
    const plain = await raw(edge.url, '/gz.txt', headers);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined, JSON.stringify(headers));
    assert.equal(plain.body.toString(), SCRIPT, JSON.stringify(headers));
    assert.equal(plain.headers.etag, 'W/"gztxt-v1-identity"');
    assert.equal(plain.headers['content-length'], undefined);
    assert.equal(plain.headers['x-cache'], 'HIT');
    assert.deepEqual(varyNames(plain), ['accept-encoding']);
  }
  const curl = await run('curl', ['-sS', '-H', `Host: ${HOST}`, `${edge.url}/gz.txt`]);
  assert.equal(curl.stdout, SCRIPT, 'curl without --compressed reads text');
  const ranged = await raw(edge.url, '/gz.txt', { range: 'bytes=0-9' });
  assert.equal(ranged.status, 200, 'a body decoded on the way has no known length: the whole of it');
  assert.equal(ranged.body.toString(), SCRIPT);
  const nt = await raw(edge.url, '/gz-nt.txt');
  assert.equal(nt.headers['content-encoding'], 'gzip', 'no-transform: not even decoded');
  assert.equal(originAsked('/gz.txt'), 1);
});

test('an origin gzip body that breaks while the edge decodes it cuts the answer short (never a complete-looking chunked body), and the next client is answered cleanly', async () => {
  // A client without gzip: the edge decodes on the way out, and the decoder fails part-way.
  const outcome = await new Promise<string>((resolve) => {
    const url = new URL(edge.url);
    const req = request({ host: url.hostname, port: url.port, path: '/broken-gz.txt', headers: { host: HOST }, agent: false }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve('ended'));
      res.on('error', (err) => resolve(`error: ${err.message}`));
      res.on('aborted', () => resolve('aborted'));
    });
    req.on('error', (err) => resolve(`error: ${err.message}`));
    // A response left open (neither ended nor cut) is as wrong as one that looks whole.
    req.setTimeout(5_000, () => resolve('hung'));
    req.end();
  });
  assert.notEqual(outcome, 'ended', 'a body the decoder could not read must not end like a whole one');
  assert.notEqual(outcome, 'hung', 'the response is cut short at once, not left open');
  // The stored bytes are the origin's, as sent: a gzip client still gets them.
  const gz = await raw(edge.url, '/broken-gz.txt', { 'accept-encoding': 'gzip' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.body.length, 4000);
  assert.equal(originAsked('/broken-gz.txt'), 1);
  // And a clean request afterwards gets the clean answer.
  assert.equal(decoded(await raw(edge.url, '/app.js', { 'accept-encoding': 'gzip' })), SCRIPT);
});

test('Cache-Control: no-transform, types that do not compress, small bodies: sent as stored, without Vary: Accept-Encoding', async () => {
  for (const path of ['/notransform.txt', '/data.bin', '/tiny.txt']) {
    for (let i = 0; i < 2; i += 1) {
      const res = await raw(edge.url, path, { 'accept-encoding': 'gzip, deflate, br' });
      assert.equal(res.status, 200, path);
      assert.equal(res.headers['content-encoding'], undefined, path);
      assert.equal(res.headers.vary, undefined, path);
      assert.equal(res.headers.etag, `"${path.replace(/[^a-z0-9]/gi, '')}-v1"`);
    }
    assert.equal(originAsked(path), 1, path);
  }
  assert.deepEqual((await raw(edge.url, '/data.bin', { 'accept-encoding': 'br' })).body, BINARY);
});

test('the customer\'s compressTypes: compressed for that customer only', async () => {
  const own = await raw(edge.url, '/custom.dat', { 'accept-encoding': 'br' });
  assert.equal(own.headers['content-encoding'], 'br');
  assert.equal(decoded(own), CUSTOM);
  const other = await raw(edge.url, '/custom.dat', { host: OTHER, 'accept-encoding': 'br' });
  assert.equal(other.headers['content-encoding'], undefined, 'another customer did not list application/x-custom');
  assert.equal(other.body.toString(), CUSTOM);
});

test('answers that stream from the origin are encoded on the way (weak ETag, no length): a miss, a private answer, a chunked one, a POST', async () => {
  const miss = await raw(edge.url, '/p/miss.txt', { 'accept-encoding': 'br' });
  assert.equal(miss.headers['x-cache'], 'MISS');
  assert.equal(miss.headers['content-encoding'], 'br');
  assert.equal(miss.headers.etag, 'W/"pmisstxt-1-br"');
  assert.equal(miss.headers['content-length'], undefined);
  assert.match(decoded(miss), /^fetch #1 of \/p\/miss.txt/);
  // The miss's client wanted brotli: the copy is made once the object is stored, so the next one is a hit on it.
  await eventually(async () => (await store.get(encodedKey(cacheKey('customer-a', '/p/miss.txt', ''), 'br'))) !== undefined, 3000, 'brotli copy made after the miss');
  const hit = await raw(edge.url, '/p/miss.txt', { 'accept-encoding': 'br' });
  assert.equal(hit.headers['x-cache'], 'HIT');
  assert.equal(hit.headers.etag, '"pmisstxt-1-br"');

  const rangeMiss = await raw(edge.url, '/p/range-miss.txt', { 'accept-encoding': 'br', range: 'bytes=0-4' });
  assert.equal(rangeMiss.status, 206, 'a Range miss gets the identity\'s range, which the edge can cut');
  assert.equal(rangeMiss.headers['content-encoding'], undefined);
  assert.equal(rangeMiss.body.toString(), 'fetch');
  assert.deepEqual(varyNames(rangeMiss), ['accept-encoding']);

  const own = await raw(edge.url, '/private.txt', { 'accept-encoding': 'gzip' });
  assert.equal(own.headers['content-encoding'], 'gzip');
  assert.equal(decoded(own), SCRIPT);
  const chunked = await raw(edge.url, '/chunked.txt', { 'accept-encoding': 'br' });
  assert.equal(chunked.headers['content-encoding'], 'br');
  assert.equal(decoded(chunked), SCRIPT);
  const post = await raw(edge.url, '/api', { 'accept-encoding': 'gzip', 'content-type': 'text/plain' }, 'POST', 'hello');
  assert.equal(post.headers['x-cache'], 'BYPASS');
  assert.equal(post.headers['content-encoding'], 'gzip');
  assert.equal(JSON.parse(decoded(post)).echo, 'hello');
  const postPlain = await raw(edge.url, '/api', {}, 'POST', 'hello');
  assert.equal(postPlain.headers['content-encoding'], undefined);
  assert.equal(JSON.parse(postPlain.body.toString()).echo, 'hello');
});

test('Vary from the origin is kept and merged; each Accept-Language variant has its own copies', async () => {
  for (const lang of ['en', 'fr']) {
    await raw(edge.url, '/vary.js', { 'accept-language': lang });
    for (let i = 0; i < 2; i += 1) {
      const res = await raw(edge.url, '/vary.js', { 'accept-language': lang, 'accept-encoding': 'br' });
      assert.equal(res.headers['content-encoding'], 'br');
      assert.equal(decoded(res), `// ${lang}\n${SCRIPT}`);
      assert.deepEqual(varyNames(res), ['accept-language', 'accept-encoding']);
    }
  }
  assert.equal(originAsked('/vary.js'), 2);
});

test('a client sending odd Accept-Encoding values cannot make another client get a coding it did not ask for', async () => {
  const odd = ['gzip;q=0, br;q=0, identity', 'x-evil, *;q=0', 'br, br;q=0', 'gzip\u0009, \u0009br', 'identity;q=0', 'gzip;q=1.5, br', 'BR', 'gzip, gzip, gzip'];
  // Cold: the first request of each path is a miss by an odd client, then others follow.
  for (const [i, ae] of odd.entries()) {
    const path = `/p/poison-${i}.txt`;
    const attack = await raw(edge.url, path, { 'accept-encoding': ae });
    assert.equal(attack.status, 200);
    const got = attack.headers['content-encoding'];
    assert.ok(got === undefined || got === 'br' || got === 'gzip', `${ae}: ${String(got)}`);
    assert.match(decoded(attack), new RegExp(`^fetch #1 of ${path}`));
    for (let round = 0; round < 2; round += 1) {
      const plain = await raw(edge.url, path);
      assert.equal(plain.headers['content-encoding'], undefined, `after "${ae}": a client without Accept-Encoding gets the identity`);
      assert.match(plain.body.toString(), new RegExp(`^fetch #1 of ${path}`));
      const gz = await raw(edge.url, path, { 'accept-encoding': 'gzip' });
      assert.equal(gz.headers['content-encoding'], 'gzip', `after "${ae}": a gzip client gets gzip`);
      assert.match(decoded(gz), new RegExp(`^fetch #1 of ${path}`));
      const br = await raw(edge.url, path, { 'accept-encoding': 'br' });
      assert.equal(br.headers['content-encoding'], 'br', `after "${ae}": a brotli client gets brotli`);
      const identity = await raw(edge.url, path, { 'accept-encoding': 'identity' });
      assert.equal(identity.headers['content-encoding'], undefined);
    }
    assert.equal(originAsked(path), 1, `${ae}: one origin request`);
  }
  for (const r of origin.requests) assert.equal(r.headers['accept-encoding'], undefined);
});

/** Keys of the encoded copies of `path` that the store still holds. */
async function copiesOf(path: string): Promise<string[]> {
  const held: string[] = [];
  for (const coding of ['br', 'gzip'] as const) {
    const copy = await store.get(encodedKey(cacheKey('customer-a', path, ''), coding));
    if (copy !== undefined) {
      held.push(coding);
      await copy.release();
    }
  }
  return held;
}

async function warmCopies(path: string): Promise<void> {
  await raw(edge.url, path);
  for (const ae of ['br', 'gzip']) await raw(edge.url, path, { 'accept-encoding': ae });
  assert.deepEqual(await copiesOf(path), ['br', 'gzip'], `${path}: both copies stored`);
}

test('purges remove every encoded copy: URL, prefix, tag, all; the next client gets the new body in its coding', async () => {
  const kinds: Array<{ path: string; purge: Pick<PurgeRequest, 'kind'> & Partial<PurgeRequest> }> = [
    { path: '/p/url.txt', purge: { kind: 'URL', value: '/p/url.txt' } },
    { path: '/p/prefix/a.txt', purge: { kind: 'PREFIX', value: '/p/prefix/' } },
    { path: '/t/tagged.txt', purge: { kind: 'TAG', value: 'tagged' } },
    { path: '/p/all.txt', purge: { kind: 'ALL' } },
  ];
  for (const { path, purge } of kinds) {
    await warmCopies(path);
    await relay.purge({ customerId: 'customer-a', ...purge });
    await applied();
    // URL purges remove at once; bans are removed by the lurker (and never served meanwhile).
    await eventually(async () => (await copiesOf(path)).length === 0, 5000, `${purge.kind} purge removed the copies of ${path}`);
    for (const ae of ['br', 'gzip']) {
      const res = await raw(edge.url, path, { 'accept-encoding': ae });
      assert.equal(res.headers['content-encoding'], ae);
      assert.match(decoded(res), new RegExp(`^fetch #2 of ${path.replace(/\//g, '\\/')}`), `${purge.kind}, ${ae}: the new body, never the old copy`);
    }
  }
});

test('an object removed alone (evicted, invalidated) and fetched again never gets the copies made of its old body', async () => {
  const path = '/p/changed.txt';
  await warmCopies(path);
  // What LRU eviction or an unsafe-method invalidation (RFC 9111 §4.4) does: the object's own key goes, its copies stay.
  await store.delete(cacheKey('customer-a', path, ''));
  assert.deepEqual(await copiesOf(path), ['br', 'gzip'], 'the old copies are still stored');
  const refetched = await raw(edge.url, path);
  assert.equal(refetched.headers['x-cache'], 'MISS');
  for (const ae of ['br', 'gzip']) {
    for (let i = 0; i < 2; i += 1) {
      const res = await raw(edge.url, path, { 'accept-encoding': ae });
      assert.equal(res.headers['x-cache'], 'HIT');
      assert.match(decoded(res), /^fetch #2 of /, `${ae}: the new body's copy, not the stored old one`);
      assert.equal(res.headers.etag, `"pchangedtxt-2-${ae}"`);
    }
  }
});

test('CDN_EDGE_COMPRESS=false: bodies go as stored, nothing is added', async () => {
  const tmp = await tempDir();
  dirs.push(tmp);
  const off = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_COMPRESS: 'false' }), { customers: createStaticCustomerFeed([customer('customer-a', origin.url, [HOST])]), logger: silentLogger });
  try {
    for (let i = 0; i < 2; i += 1) {
      const res = await raw(off.url, '/app.js', { 'accept-encoding': 'br, gzip' });
      assert.equal(res.headers['content-encoding'], undefined);
      assert.equal(res.headers.vary, undefined);
      assert.equal(res.body.toString(), SCRIPT);
      const gz = await raw(off.url, '/gz.txt');
      assert.equal(gz.headers['content-encoding'], 'gzip', 'not decoded either');
    }
  } finally {
    await off.close();
  }
});
