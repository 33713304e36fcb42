/**
 * HTTP/2 on the HTTPS port, through real sockets: the pipeline behaves as on HTTP/1 (host
 * from :authority, cache, hit lane, purge, metrics, client limits on the request's stream
 * only), and the attacks h2 invites — a rapid-reset flood (CVE-2023-44487), a CONTINUATION
 * flood and oversized heads — end with the attacker's session, the edge bounded and up,
 * followed by a clean request that gets the clean answer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { constants as h2, type ClientHttp2Session } from 'node:http2';
import path from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/bin/demo-pki';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { customer, customerTls, edgeCertificate, edgeConfig, eventually, h2Request, h2Session, http, silentLogger, startScriptedOrigin, tempDir, type ScriptedOrigin } from './edge.harness';

const MAX_BODY = 1000;
const MAX_HEADER = 8192;

let root: Awaited<ReturnType<typeof tempDir>>;
let ca: CertificateAuthority;
let origin: ScriptedOrigin;
let edge: EdgeHandle;

before(async () => {
  root = await tempDir();
  ca = await createCertificateAuthority('Edgeplane Test CA');
  origin = await startScriptedOrigin((req, res, body) => {
    if (req.url?.startsWith('/slow')) {
      setTimeout(() => res.end('slow'), 300);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"', 'cache-control': req.url?.startsWith('/flood') ? 'no-store' : 'max-age=600' });
    res.end(`origin ${req.method} ${req.url} host=${req.headers['x-forwarded-host']} proto=${req.headers['x-forwarded-proto']} body=${body}`);
  });
  const leaf = await ca.issue(['cdn.a.test']);
  edge = await startEdge(
    edgeConfig(path.join(root.dir, 'data'), {
      CDN_EDGE_MAX_BODY_BYTES: String(MAX_BODY),
      CDN_EDGE_MAX_HEADER_BYTES: String(MAX_HEADER),
      CDN_EDGE_MAX_URL_BYTES: '1024',
      CDN_EDGE_BODY_TIMEOUT_MS: '400',
    }),
    {
      customers: createStaticCustomerFeed([customer('customer-a', origin.url, ['cdn.a.test'], { tls: customerTls([edgeCertificate(leaf, ['cdn.a.test'])], { httpsRedirect: false }) })]),
      logger: silentLogger,
    },
  );
});

after(async () => {
  await edge?.close();
  await origin?.close();
  await root?.remove();
});

function session(): Promise<ClientHttp2Session> {
  return h2Session(edge.tlsPort!, 'cdn.a.test', ca.certPem);
}

async function metric(name: string, labels: string): Promise<number> {
  let sum = 0;
  for (const line of (await edge.metrics.registry.metrics()).split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** The clean request after an attack: a new connection, the right answer. */
async function cleanRequest(target: string): Promise<void> {
  const s = await session();
  try {
    const res = await h2Request(s, target);
    assert.equal(res.status, 200);
    assert.match(res.body, new RegExp(`^origin GET ${target} host=cdn\\.a\\.test proto=https`));
  } finally {
    s.close();
  }
}

test('h2: the host comes from :authority, cache and hit lane as on HTTP/1, purges apply, requests counted under h2', async () => {
  const s = await session();
  try {
    const lane = edge.hitLaneServed();
    const h2Before = await metric('cdn_edge_requests_by_protocol_total', 'customer="customer-a",protocol="h2"');
    const miss = await h2Request(s, '/page?b=2&a=1');
    assert.equal(miss.status, 200);
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.equal(miss.body, 'origin GET /page?a=1&b=2 host=cdn.a.test proto=https body=');
    const hit = await h2Request(s, '/page?a=1&b=2');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(edge.hitLaneServed(), lane + 1, 'a fresh memory hit over h2 takes the hit lane');
    // A conditional request takes the pipeline and gets its 304 there.
    const conditional = await h2Request(s, '/page?a=1&b=2', { 'if-none-match': '"v1"' });
    assert.equal(conditional.status, 304);
    assert.equal(conditional.headers['x-cache'], 'HIT');
    assert.equal((await http(edge.url, '/page?a=1&b=2', { host: 'cdn.a.test' })).headers['x-cache'], 'HIT', 'one cache for h2 and HTTP/1');
    assert.equal(await metric('cdn_edge_requests_by_protocol_total', 'customer="customer-a",protocol="h2"'), h2Before + 3);

    await edge.purges!.apply({ id: randomUUID(), customerId: 'customer-a', kind: 'URL', value: '/page?a=1&b=2', soft: false, requestedAt: new Date().toISOString() }, 1);
    assert.equal((await h2Request(s, '/page?a=1&b=2')).headers['x-cache'], 'MISS', 'purged for h2 too');

    // Host names: :authority with a port, a Host field that agrees, or one that does not.
    assert.equal((await h2Request(s, '/host-1', { ':authority': 'CDN.A.test:443' })).status, 200);
    assert.equal((await h2Request(s, '/host-2', { host: 'cdn.a.test' })).status, 200);
    const mismatch = await h2Request(s, '/host-3', { ':authority': 'cdn.a.test', host: 'other.test' });
    assert.equal(mismatch.status, 400);
    assert.equal(JSON.parse(mismatch.body).error, 'bad_host');
    const unknown = await h2Request(s, '/x', { ':authority': 'nobody.test' });
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(unknown.body).error, 'unknown_host');
  } finally {
    s.close();
  }
});

test('h2 request bodies: no Content-Length needed, passed whole to the origin; the body limits refuse on the stream only (413, 408), the connection goes on', async () => {
  const s = await session();
  try {
    const posted = await h2Request(s, '/form', { ':method': 'POST' }, 'a=1&b=2');
    assert.equal(posted.status, 200);
    assert.equal(posted.body, 'origin POST /form host=cdn.a.test proto=https body=a=1&b=2');
    assert.equal(origin.requests.at(-1)!.body, 'a=1&b=2');

    const asked = origin.requests.length;
    const declared = await h2Request(s, '/declared', { ':method': 'POST', 'content-length': String(MAX_BODY + 1) }, 'x'.repeat(MAX_BODY + 1));
    assert.equal(declared.status, 413);
    assert.equal(JSON.parse(declared.body).error, 'body_too_large');
    // Streamed without Content-Length, past the limit; then a body that stops arriving. The
    // client never ends either: the edge answers, then resets the stream ("stop sending").
    const unfinished = (target: string, write: (stream: import('node:http2').ClientHttp2Stream) => void): Promise<{ status: number; error: string; closed: boolean }> =>
      new Promise((resolve, reject) => {
        const stream = s.request({ ':path': target, ':method': 'PUT' }, { endStream: false });
        let status = 0;
        const chunks: Buffer[] = [];
        stream.on('response', (head) => (status = Number(head[':status'])));
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', reject);
        stream.on('close', () => resolve({ status, error: (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error: string }).error, closed: stream.rstCode === h2.NGHTTP2_NO_ERROR }));
        write(stream);
      });
    const streamed = await unfinished('/streamed', (stream) => {
      stream.write('y'.repeat(600));
      setTimeout(() => stream.write('y'.repeat(600)), 50);
    });
    assert.deepEqual(streamed, { status: 413, error: 'body_too_large', closed: true });
    const stalled = await unfinished('/stalled', (stream) => stream.write('z'));
    assert.deepEqual(stalled, { status: 408, error: 'body_timeout', closed: true });
    const long = await h2Request(s, `/${'l'.repeat(1100)}`);
    assert.equal(long.status, 414);
    assert.equal(origin.requests.filter((r, i) => i >= asked && r.url !== '/streamed' && r.url !== '/stalled').length, 0, 'refused requests never complete at the origin');
    // The same connection still serves.
    assert.equal(s.closed || s.destroyed, false);
    assert.equal((await h2Request(s, '/after-refusals')).status, 200);
  } finally {
    s.close();
  }
});

test('h2 heads beyond CDN_EDGE_MAX_HEADER_BYTES are refused on their stream only: 431 as on HTTP/1 (first flight), then reset by the session limit; the connection goes on', async () => {
  const asked = origin.requests.length;
  const s = await session();
  try {
    // The connection's first request: the client has not acknowledged the edge's SETTINGS yet.
    const first = await h2Request(s, '/big-head', { 'x-big': 'b'.repeat(2 * MAX_HEADER) });
    assert.equal(first.status, 431);
    assert.equal(JSON.parse(first.body).error, 'headers_too_large');
    assert.equal((await h2Request(s, '/small-head', { 'x-small': 's'.repeat(100) })).status, 200);
    const manyFields = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-field-${i}`, 'v']));
    for (const head of [{ 'x-big': 'b'.repeat(2 * MAX_HEADER) }, { 'x-big': 'b'.repeat(MAX_HEADER) }, manyFields]) {
      const outcome = await h2Request(s, '/big-head', head).then(
        (res) => String(res.status),
        (err: Error & { code?: string }) => `${err.code} ${err.message}`,
      );
      assert.match(outcome, /^431$|ENHANCE_YOUR_CALM|REFUSED_STREAM/);
    }
    assert.equal(origin.requests.length, asked + 1, 'refused heads are never passed on');
    assert.equal((await h2Request(s, '/small-head-2', { 'x-small': 's'.repeat(100) })).status, 200);
    assert.equal(s.closed || s.destroyed, false);
  } finally {
    s.close();
  }
});

/** An h2 frame: 24-bit length, type, flags, 31-bit stream id, payload. */
function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal header field without indexing, new name (RFC 7541 §6.2.2); lengths below 127. */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

/** A raw h2 connection to the edge (TLS, ALPN h2, preface and empty SETTINGS sent): what an attacker writes is up to the test. */
async function rawH2(): Promise<{ socket: TLSSocket; received(): Buffer; closed: Promise<void>; isClosed(): boolean }> {
  const socket = tlsConnect({ host: '127.0.0.1', port: edge.tlsPort!, servername: 'cdn.a.test', ca: ca.certPem, ALPNProtocols: ['h2'] });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  assert.equal(socket.alpnProtocol, 'h2');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  let gone = false;
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      gone = true;
      resolve();
    }),
  );
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(SETTINGS, 0, 0)]));
  return { socket, received: () => Buffer.concat(chunks), closed, isClosed: () => gone };
}

/** Waits for `promise` at most `ms` (the timer does not outlive it). */
async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Writes `data`, waiting for the socket to drain when it asks to (false: the connection is gone). */
async function send(socket: TLSSocket, data: Buffer): Promise<boolean> {
  if (socket.destroyed) return false;
  if (socket.write(data)) return true;
  await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve));
  return !socket.destroyed;
}

/** The types of the frames in `bytes` (GOAWAY = 7). */
function frameTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  for (let at = 0; at + 9 <= bytes.length; at += 9 + bytes.readUIntBE(at, 3)) types.push(bytes.readUInt8(at + 3));
  return types;
}

const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;

/** A GET's header block: static-table :method GET and :scheme https, literal :authority and :path (RFC 7541 §6.2.2). */
function getBlock(target: string): Buffer {
  return Buffer.concat([Buffer.from([0x82, 0x87, 0x01, 'cdn.a.test'.length]), Buffer.from('cdn.a.test'), Buffer.from([0x04, target.length]), Buffer.from(target)]);
}

test('rapid reset flood (CVE-2023-44487): HEADERS then RST_STREAM, stream after stream: the attacker gets GOAWAY after a bounded number, the edge stays up and bounded, other clients are served', async () => {
  const bystander = await session();
  const attacker = await rawH2();
  const ATTEMPTS = 20_000;
  const asked = origin.requests.length;
  const counted = await metric('cdn_edge_requests_by_protocol_total', 'customer="customer-a",protocol="h2"');
  let sent = 0;
  try {
    for (; sent < ATTEMPTS && !attacker.isClosed(); sent += 1) {
      const id = 1 + 2 * sent;
      const cancel = Buffer.alloc(4);
      cancel.writeUInt32BE(h2.NGHTTP2_CANCEL);
      if (!(await send(attacker.socket, Buffer.concat([frame(HEADERS, END_STREAM | END_HEADERS, id, getBlock(`/flood/${sent}`)), frame(RST_STREAM, 0, id, cancel)])))) break;
      // Let the edge read now and then, as it would from a real attacker's socket.
      if (sent % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
    }
    await within(attacker.closed, 5_000);
    assert.ok(attacker.isClosed(), `the edge let ${sent} reset streams through without ending the connection`);
    assert.ok(sent < ATTEMPTS);
    assert.ok(frameTypes(attacker.received()).includes(GOAWAY), 'the edge said GOAWAY');
    // What the flood cost: a bounded number of requests started, fewer origin requests still.
    const started = (await metric('cdn_edge_requests_by_protocol_total', 'customer="customer-a",protocol="h2"')) - counted;
    assert.ok(started <= 1_000, `the edge worked on ${started} of ${sent} reset streams`);
    assert.ok(origin.requests.length - asked <= started, `${origin.requests.length - asked} origin requests`);
    // A connection that was open all along is still served, and so is a new one.
    assert.equal((await h2Request(bystander, '/bystander')).status, 200);
    await cleanRequest('/after-rapid-reset');
  } finally {
    attacker.socket.destroy();
    bystander.close();
  }
});

test('CONTINUATION flood: a head that never ends is cut off (the connection closed) long before it is all sent; the edge stays up and the clean request is served', async () => {
  const attacker = await rawH2();
  // END_STREAM, no END_HEADERS: the head goes on in CONTINUATION frames, each a new field.
  await send(attacker.socket, frame(HEADERS, END_STREAM, 1, getBlock('/continuation')));
  const FRAMES = 100_000;
  let sent = 0;
  for (; sent < FRAMES && !attacker.isClosed(); sent += 1) {
    if (!(await send(attacker.socket, frame(CONTINUATION, 0, 1, literal(`x-flood-${sent}`, 'v'.repeat(64)))))) break;
  }
  await within(attacker.closed, 5_000);
  assert.ok(attacker.isClosed(), `the edge kept reading a head of ${sent} CONTINUATION frames`);
  assert.ok(sent < FRAMES / 10, `${sent} frames were read before the edge closed the connection`);
  assert.ok(!frameTypes(attacker.received()).includes(HEADERS), 'the endless head was never answered');
  attacker.socket.destroy();
  await cleanRequest('/after-continuation-flood');
});
