/**
 * Access log export files (CDN_LOG_DIR; docs/EDGE.md "Access logs") on a real edge over real
 * sockets: one NDJSON line per client request with the documented fields, for pipeline
 * requests and hit-lane requests, over HTTP/1, HTTPS and h2; one file per customer, hour and
 * process (the hour change on an injected clock); no query strings; unknown hosts not logged;
 * a client's attempt to break a line or forge a field escaped; retention deleting old files;
 * lines dropped and counted, never waited for, when the disk blocks (a FIFO nobody reads); and
 * a shield's hops in no file (the asking edge logs its client's request).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/bin/demo-pki';
import type { AccessLogRecord } from '../../src/core/access-log.port';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { MemoryBus } from '../../src/bus/memory-bus';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import { Relay } from '../support/bus-relay';
import { createLogger } from '../../src/obs/logger.factory';
import { customer, customerTls, edgeCertificate, edgeConfig, eventually, h2Request, h2Session, http, ManualClock, silentLogger, startScriptedOrigin, tempDir, type ScriptedOrigin } from './edge.harness';

let root: Awaited<ReturnType<typeof tempDir>>;
let ca: CertificateAuthority;
let origin: ScriptedOrigin;

before(async () => {
  root = await tempDir();
  ca = await createCertificateAuthority('Edgeplane Test CA');
  origin = await startScriptedOrigin((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': req.url?.startsWith('/nostore') ? 'no-store' : 'max-age=86400' });
    res.end(`body of ${req.url}`);
  });
});

after(async () => {
  await origin?.close();
  await root?.remove();
});

/** Every line of every file under `dir`, by `<customer>/<file>`, each line parsed. */
async function readLogs(dir: string): Promise<Map<string, { raw: string[]; records: AccessLogRecord[] }>> {
  const out = new Map<string, { raw: string[]; records: AccessLogRecord[] }>();
  for (const c of await readdir(dir).catch(() => [] as string[])) {
    for (const f of await readdir(path.join(dir, c))) {
      const text = await readFile(path.join(dir, c, f), 'utf8');
      assert.ok(text.endsWith('\n'), 'every line ends with a newline');
      const raw = text.slice(0, -1).split('\n');
      out.set(`${c}/${f}`, { raw, records: raw.map((l) => JSON.parse(l) as AccessLogRecord) });
    }
  }
  return out;
}

/** One raw HTTP/1.1 request written as given (header bytes the test chooses); resolves with the status. */
function rawRequest(port: number, head: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    // Written, not ended: the request carries Connection: close, and the edge closes after its answer.
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}

test('one line per request with the fields operators expect: pipeline and hit lane, HTTP/1, HTTPS and h2, one file per customer and hour', async () => {
  const logDir = path.join(root.dir, 'logs-1');
  // Ten minutes before the next hour starts, on the edge's clock (near the origin's Date, for freshness).
  const hour = Math.ceil((Date.now() + 1) / 3_600_000) * 3_600_000;
  const clock = new ManualClock(hour - 10 * 60_000);
  const hourName = (ms: number): string => new Date(ms).toISOString().slice(0, 13);
  const before = `${hourName(hour - 1)}Z.edge-a_1.ndjson`;
  const afterHour = `${hourName(hour)}Z.edge-a_1.ndjson`;
  const leaf = await ca.issue(['cdn.a.test']);
  const edge = await startEdge(edgeConfig(path.join(root.dir, 'data-1'), { CDN_LOG_DIR: logDir, CDN_EDGE_ID: 'edge-a#1' }), {
    customers: createStaticCustomerFeed([
      customer('customer-a', origin.url, ['cdn.a.test'], { tls: customerTls([edgeCertificate(leaf, ['cdn.a.test'])], { httpsRedirect: false }) }),
      customer('customer-b', origin.url, ['cdn.b.test']),
    ]),
    logger: silentLogger,
    clock,
  });
  let closed = false;
  try {
    const lane = edge.hitLaneServed();
    assert.equal((await http(edge.url, '/page?token=secret', { host: 'cdn.a.test', headers: { 'user-agent': 'curl/8', referer: 'https://ref.test/x' } })).headers['x-cache'], 'MISS');
    assert.equal((await http(edge.url, '/page?token=secret', { host: 'cdn.a.test' })).headers['x-cache'], 'HIT');
    assert.equal(edge.hitLaneServed(), lane + 1, 'the second request took the hit lane');
    assert.equal((await http(edge.url, '/b', { host: 'cdn.b.test' })).status, 200);
    assert.equal((await http(edge.url, '/x', { host: 'nobody.test' })).status, 404);
    const s = await h2Session(edge.tlsPort!, 'cdn.a.test', ca.certPem);
    try {
      assert.equal((await h2Request(s, '/page?token=secret')).headers['x-cache'], 'HIT');
    } finally {
      s.close();
    }
    // The hour ends: the next line goes to the next hour's file.
    clock.advance(10 * 60_000);
    assert.equal((await http(edge.url, '/nostore', { host: 'cdn.a.test' })).headers['x-cache'], 'MISS');
    await edge.close();
    closed = true;

    const logs = await readLogs(logDir);
    assert.deepEqual([...logs.keys()].sort(), [`customer-a/${before}`, `customer-a/${afterHour}`, `customer-b/${before}`]);
    const a = logs.get(`customer-a/${before}`)!.records;
    assert.equal(a.length, 3, 'miss, hit-lane hit, h2 hit; the unknown host logs nowhere');
    const [miss, hit, h2] = a as [AccessLogRecord, AccessLogRecord, AccessLogRecord];
    assert.equal(miss.time, new Date(hour - 10 * 60_000).toISOString(), 'the time, from the edge clock, ISO with ms');
    assert.deepEqual(
      { edge: miss.edge, customer: miss.customer, client: miss.client, method: miss.method, host: miss.host, path: miss.path, status: miss.status, bytes: miss.bytes, cache: miss.cache, transport: miss.transport, ua: miss.ua, referer: miss.referer },
      { edge: 'edge-a#1', customer: 'customer-a', client: '127.0.0.1', method: 'GET', host: 'cdn.a.test', path: '/page', status: 200, bytes: 'body of /page?token=secret'.length, cache: 'MISS', transport: 'http', ua: 'curl/8', referer: 'https://ref.test/x' },
    );
    assert.equal(typeof miss.originMs, 'number', 'a miss has its origin time');
    assert.equal(typeof miss.ms, 'number');
    assert.equal(miss.tls, undefined);
    assert.deepEqual({ cache: hit.cache, path: hit.path, status: hit.status, bytes: hit.bytes, originMs: hit.originMs, transport: hit.transport }, { cache: 'HIT', path: '/page', status: 200, bytes: miss.bytes, originMs: undefined, transport: 'http' });
    assert.deepEqual({ cache: h2.cache, transport: h2.transport, tls: h2.tls, alpn: h2.alpn, host: h2.host }, { cache: 'HIT', transport: 'h2', tls: 'TLSv1.3', alpn: 'h2', host: 'cdn.a.test' });
    for (const file of logs.values()) for (const line of file.raw) assert.ok(!line.includes('token') && !line.includes('secret'), `no query in ${line}`);
    const next = logs.get(`customer-a/${afterHour}`)!.records;
    assert.deepEqual(next.map((r) => [r.path, r.cache, r.time]), [['/nostore', 'MISS', new Date(hour).toISOString()]]);
    assert.deepEqual(logs.get(`customer-b/${before}`)!.records.map((r) => r.path), ['/b']);
  } finally {
    if (!closed) await edge.close();
  }
});

test('a client cannot break a line or forge a field: quotes, tabs, backslashes and C1 controls in the user agent are escaped, the line parses back', async () => {
  const logDir = path.join(root.dir, 'logs-2');
  const edge = await startEdge(edgeConfig(path.join(root.dir, 'data-2'), { CDN_LOG_DIR: logDir }), {
    customers: createStaticCustomerFeed([customer('customer-a', origin.url, ['cdn.a.test'])]),
    logger: silentLogger,
  });
  // Bytes as a client sends them (Node refuses CR, LF, NUL, ESC and DEL in a field value with 400 before the edge sees
  // them): a tab, a quote closing the field, a forged status, NEL (0x85: a line break to some tools), CSI (0x9b), a backslash.
  const evil = Buffer.concat([Buffer.from('evil\t"},"status":999,"x":"'), Buffer.from([0x85, 0x9b]), Buffer.from('\\')]);
  const long = 'u'.repeat(5000);
  try {
    for (let i = 0; i < 2; i += 1) {
      // Twice: a miss through the pipeline, then a hit through the lane.
      const head = Buffer.concat([Buffer.from('GET /inject HTTP/1.1\r\nHost: cdn.a.test\r\nConnection: close\r\nUser-Agent: '), evil, Buffer.from('\r\nReferer: '), Buffer.from(long), Buffer.from('\r\n\r\n')]);
      assert.equal(await rawRequest(edge.port, head), 200);
    }
  } finally {
    await edge.close();
  }
  const logs = [...(await readLogs(logDir)).values()];
  assert.equal(logs.length, 1);
  const { raw, records } = logs[0]!;
  assert.equal(raw.length, 2, 'two requests, two lines');
  for (const [i, line] of raw.entries()) {
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, 'no raw control character in the line');
    const record = records[i]!;
    assert.equal(record.status, 200, 'the status is the edge\'s, not the forged one');
    assert.equal(record.ua, evil.toString('latin1'), 'the user agent parses back to what was sent');
    assert.equal((record as unknown as Record<string, unknown>)['x'], undefined);
    assert.equal(record.referer, `${'u'.repeat(1024)}…`, 'bounded length');
  }
  assert.deepEqual(records.map((r) => r.cache), ['MISS', 'HIT']);
});

test('retention: files whose hour ended more than CDN_LOG_RETENTION_HOURS ago are deleted at start, newer ones and other files stay', async () => {
  const logDir = path.join(root.dir, 'logs-3');
  const now = Date.UTC(2030, 5, 1, 12, 30);
  await mkdir(path.join(logDir, 'customer-a'), { recursive: true });
  const old = path.join(logDir, 'customer-a', '2030-06-01T09Z.edge-x.ndjson'); // ended 10:00, 2.5 h ago
  const kept = path.join(logDir, 'customer-a', '2030-06-01T10Z.edge-x.ndjson'); // ended 11:00, 1.5 h ago
  const other = path.join(logDir, 'customer-a', 'notes.txt');
  for (const f of [old, kept, other]) await writeFile(f, '{}\n');
  const edge = await startEdge(edgeConfig(path.join(root.dir, 'data-3'), { CDN_LOG_DIR: logDir, CDN_LOG_RETENTION_HOURS: '2' }), {
    customers: createStaticCustomerFeed([customer('customer-a', origin.url, ['cdn.a.test'])]),
    logger: silentLogger,
    clock: new ManualClock(now),
  });
  try {
    await eventually(async () => !(await readdir(path.join(logDir, 'customer-a'))).includes(path.basename(old)), 5000, 'the old file deleted');
    assert.deepEqual((await readdir(path.join(logDir, 'customer-a'))).sort(), [path.basename(kept), 'notes.txt'].sort());
  } finally {
    await edge.close();
  }
});

test('a disk that blocks never holds a request: lines beyond CDN_LOG_BUFFER_BYTES are dropped and counted, with one warning', async () => {
  const logDir = path.join(root.dir, 'logs-4');
  const now = Date.UTC(2030, 5, 1, 12, 30);
  await mkdir(path.join(logDir, 'customer-a'), { recursive: true });
  // The file this hour's lines go to is a FIFO nobody reads: opening it to append blocks for ever.
  const fifo = path.join(logDir, 'customer-a', '2030-06-01T12Z.edge-f.ndjson');
  execFileSync('mkfifo', [fifo]);
  const warnings: string[] = [];
  const logger = createLogger({ name: 'edge', level: 'warn', destination: new Writable({ write: (c: Buffer, _e, done) => (warnings.push(c.toString()), done()) }) });
  const edge = await startEdge(edgeConfig(path.join(root.dir, 'data-4'), { CDN_LOG_DIR: logDir, CDN_EDGE_ID: 'edge-f', CDN_LOG_BUFFER_BYTES: '4096' }), {
    customers: createStaticCustomerFeed([customer('customer-a', origin.url, ['cdn.a.test'])]),
    logger,
    clock: new ManualClock(now),
  });
  let reader: Awaited<ReturnType<typeof open>> | undefined;
  try {
    const started = performance.now();
    for (let i = 0; i < 60; i += 1) assert.equal((await http(edge.url, '/blocked', { host: 'cdn.a.test' })).status, 200);
    const ms = performance.now() - started;
    const text = await edge.metrics.registry.metrics();
    const dropped = Number(/^cdn_edge_access_log_dropped_total (\d+)/m.exec(text)?.[1]);
    assert.ok(dropped > 0 && dropped < 60, `some lines dropped (${dropped}), the first ones buffered`);
    assert.equal(warnings.filter((w) => w.includes('dropping lines')).length, 1, 'one warning per spell');
    assert.ok(ms < 5000, `60 requests answered while the disk blocks (${Math.round(ms)} ms)`);
  } finally {
    // Unblock the writer's open() so the thread pool gets its thread back, then stop.
    reader = await open(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    await edge.close();
    await reader.close();
  }
});

test('a shield logs no hop as the customer\'s request: the edge that asked it logs its client\'s request, once', async () => {
  const bus = new MemoryBus();
  const fleet = new MemoryFleet();
  const relay = new Relay(bus);
  await relay.upsert(customer('customer-s', origin.url, ['cdn.s.test']));
  const started: Array<{ edge: EdgeHandle; dir: string; close(): Promise<void> }> = [];
  const start = async (id: string, env: Record<string, string>): Promise<{ edge: EdgeHandle; dir: string }> => {
    const data = path.join(root.dir, `data-${id}`);
    const dir = path.join(root.dir, `logs-${id}`);
    const customers = createBusCustomerFeed(bus, { dataDir: data, logger: silentLogger, blockMs: 100, retryMinMs: 20, retryMaxMs: 100 });
    const edge = await startEdge(edgeConfig(data, { CDN_EDGE_ID: id, CDN_EDGE_HEARTBEAT_MS: '100', CDN_EDGE_TLS_PORT: 'off', CDN_LOG_DIR: dir, ...env }), { customers, fleet, logger: silentLogger });
    await customers.ready;
    const s = { edge, dir, close: () => edge.close() };
    started.push(s);
    return s;
  };
  try {
    const shield = await start('shield-l', { CDN_EDGE_ROLE: 'shield' });
    const edge = await start('edge-l', {});
    await eventually(() => edge.edge.shields().includes(shield.edge.shieldUrl!), 5000, 'the edge sees the shield');
    await eventually(() => shield.edge.appliedSeq() >= relay.seq && edge.edge.appliedSeq() >= relay.seq, 5000, 'both have the customer');
    const answer = await http(edge.edge.url, '/through-shield', { host: 'cdn.s.test' });
    assert.equal(answer.status, 200);
    assert.match((await shield.edge.metrics.registry.metrics()), /cdn_edge_shield_hops_total\{outcome="served"\} 1/);
    for (const s of started.splice(0)) await s.close();
    const edgeLines = [...(await readLogs(edge.dir)).values()].flatMap((f) => f.records);
    assert.deepEqual(edgeLines.map((r) => [r.customer, r.path, r.cache, r.edge]), [['customer-s', '/through-shield', 'MISS', 'edge-l']]);
    assert.deepEqual([...(await readLogs(shield.dir)).keys()], [], 'nothing in the shield\'s files');
  } finally {
    for (const s of started) await s.close();
    await fleet.close();
    await bus.close();
  }
});
