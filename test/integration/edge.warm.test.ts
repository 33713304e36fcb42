/**
 * Cache warming at a real edge (src/edge/warm) over real sockets: a `warm.requested` on the
 * change bus, a real origin that records what it is asked and how many requests it has at
 * once, and the edge's reports on the in-process fleet channel. Each URL is asked of the
 * origin once and then served as a HIT (with the compression copy a browser's Accept-Encoding
 * makes); at most CDN_EDGE_WARM_CONCURRENCY at once and CDN_EDGE_WARM_RATE_PER_SECOND per
 * origin; reports from `warming` 0/0 to `done`; a warm for another edge is left alone;
 * failures counted; a customer redirected to HTTPS warmed over the edge's own TLS port; an
 * edge closed mid-warm reports `stopped`. With the api and real processes:
 * test/e2e/warm.e2e.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { MemoryBus } from '../../src/bus/memory-bus';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import { createCertificateAuthority } from '../../src/bin/demo-pki';
import type { CustomerConfig } from '../../src/core/customer.types';
import type { WarmReport } from '../../src/core/fleet.port';
import type { WarmRequest, WarmTarget } from '../../src/core/warm.types';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { Relay } from '../support/bus-relay';
import { customer, customerTls, edgeCertificate, edgeConfig, eventually, http, silentLogger, startScriptedOrigin, tempDir, type ScriptedOrigin } from './edge.harness';

const HOST = 'cdn.warm.test';
const EDGE_ID = 'edge-warm';
const CSS = `body { color: #333; margin: 0 auto; }\n`.repeat(100);

interface World {
  edge: EdgeHandle;
  relay: Relay;
  fleet: MemoryFleet;
  origin: ScriptedOrigin;
  /** Most requests the origin had at once. */
  peak(): number;
  /** When each request reached the origin (ms). */
  starts: number[];
  customer: CustomerConfig;
  close(): Promise<void>;
}

/** An origin answering after `delayMs` (a 500 for paths with "broken"), and an edge following a bus. */
async function world(env: Record<string, string>, options: { delayMs?: number; customer?: (originUrl: string) => CustomerConfig } = {}): Promise<World> {
  const tmp = await tempDir();
  let inFlight = 0;
  let peak = 0;
  const starts: number[] = [];
  const origin = await startScriptedOrigin((req, res) => {
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    starts.push(Date.now());
    setTimeout(() => {
      inFlight -= 1;
      if (req.url!.includes('broken')) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('broken');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/css', 'cache-control': 'max-age=3600' }).end(CSS);
    }, options.delayMs ?? 50);
  });
  const bus = new MemoryBus();
  const fleet = new MemoryFleet();
  const relay = new Relay(bus);
  const c = options.customer?.(origin.url) ?? customer('warm-co', origin.url, [HOST, 'www.warm.test']);
  await relay.upsert(c);
  const customers = createBusCustomerFeed(bus, { dataDir: tmp.dir, logger: silentLogger, blockMs: 100, retryMinMs: 20, retryMaxMs: 100 });
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_ID: EDGE_ID, CDN_EDGE_HEARTBEAT_MS: '100', ...env }), { customers, fleet, logger: silentLogger });
  await eventually(() => edge.appliedSeq() >= relay.seq, 5000, 'the edge has the customer');
  return {
    edge,
    relay,
    fleet,
    origin,
    peak: () => peak,
    starts,
    customer: c,
    async close() {
      await edge.close();
      await fleet.close();
      await bus.close();
      await origin.close();
      await tmp.remove();
    },
  };
}

async function publishWarm(w: World, targets: WarmTarget[], edgeId: string | null = null): Promise<WarmRequest> {
  const warm: WarmRequest = { id: randomUUID(), customerId: w.customer.id, targets, edgeId, requestedAt: new Date().toISOString() };
  await w.relay.publish([{ kind: 'warm.requested', v: 1, warm }]);
  return warm;
}

/** Every report read so far, in order (the fleet keeps them all). */
async function reports(w: World, warmId: string): Promise<WarmReport[]> {
  const all: WarmReport[] = [];
  let cursor = '0';
  for (;;) {
    const read = await w.fleet.readWarmReports(cursor, { blockMs: 0, count: 1000 });
    all.push(...read.reports);
    if (read.reports.length === 0) return all.filter((r) => r.warmId === warmId);
    cursor = read.cursor;
  }
}

async function finished(w: World, warmId: string, timeoutMs = 10_000): Promise<WarmReport[]> {
  await eventually(async () => (await reports(w, warmId)).some((r) => r.state !== 'warming'), timeoutMs, `warm ${warmId} ends`);
  return reports(w, warmId);
}

function paths(n: number, prefix = '/w'): WarmTarget[] {
  return Array.from({ length: n }, (_, i) => ({ host: HOST, path: `${prefix}/${i}.css` }));
}

test('each URL asked of the origin once, at most CDN_EDGE_WARM_CONCURRENCY at once; progress reported to done; then HITs with the compressed copy', async () => {
  const w = await world({ CDN_EDGE_WARM_CONCURRENCY: '3', CDN_EDGE_WARM_RATE_PER_SECOND: '1000' }, { delayMs: 150 });
  try {
    const warm = await publishWarm(w, [...paths(12), { host: 'www.warm.test', path: '/w/0.css' }, { host: HOST, path: '/w/q.css?v=2' }]);
    const sent = await finished(w, warm.id);
    assert.equal(w.peak(), 3, 'three at once at the origin, never more');
    const asked = w.origin.requests.map((r) => r.url).sort();
    assert.deepEqual(asked, [...paths(12).map((t) => t.path), '/w/q.css?v=2'].sort(), 'each object once (the same path on another domain of the customer is the same object)');
    const first = sent[0]!;
    const last = sent.at(-1)!;
    assert.deepEqual({ state: first.state, done: first.done, failed: first.failed }, { state: 'warming', done: 0, failed: 0 }, 'taken up, said at once');
    assert.deepEqual({ state: last.state, total: last.total, done: last.done, failed: last.failed }, { state: 'done', total: 14, done: 14, failed: 0 });
    assert.deepEqual([last.edgeId, last.process, last.processStartedAt], [EDGE_ID, EDGE_ID, (await w.fleet.liveEdges())[0]!.startedAt], 'the process and start time its heartbeat names');
    // Cumulative, never going back.
    for (let i = 1; i < sent.length; i++) assert.ok(sent[i]!.done >= sent[i - 1]!.done);

    for (const target of paths(12)) {
      const res = await http(w.edge.url, target.path, { host: HOST });
      assert.equal(res.headers['x-cache'], 'HIT', target.path);
    }
    // The copy a browser's coding asks for was made at the warm's miss, as at a client's.
    await eventually(async () => (await http(w.edge.url, '/w/1.css', { host: HOST, headers: { 'accept-encoding': 'br' } })).headers['content-encoding'] === 'br', 5000, 'the brotli copy');
    const br = await http(w.edge.url, '/w/1.css', { host: HOST, headers: { 'accept-encoding': 'br' } });
    assert.equal(br.headers['x-cache'], 'HIT');
    assert.equal(w.origin.requests.length, 13, 'no client request reached the origin');
    const metrics = (await http(w.edge.adminUrl, '/metrics')).body;
    assert.match(metrics, /cdn_edge_warm_requests_total\{customer="warm-co",outcome="miss"\} 13/);
    assert.match(metrics, /cdn_edge_warm_requests_total\{customer="warm-co",outcome="hit"\} 1/);
  } finally {
    await w.close();
  }
});

test('at most CDN_EDGE_WARM_RATE_PER_SECOND started per second per origin', async () => {
  const w = await world({ CDN_EDGE_WARM_CONCURRENCY: '8', CDN_EDGE_WARM_RATE_PER_SECOND: '5' }, { delayMs: 5 });
  try {
    const warm = await publishWarm(w, paths(6));
    await finished(w, warm.id);
    assert.equal(w.starts.length, 6);
    const span = w.starts.at(-1)! - w.starts[0]!;
    // Five intervals of 200 ms between six starts as the edge hands them out (test/unit/edge.warm.test.ts
    // checks the pacer's slots exactly). Seen at the origin, each start also carries its own trip
    // through the edge, which varies by tens of ms on a busy machine; unpaced, all six would
    // arrive within a few ms of each other.
    assert.ok(span >= 700, `six requests at 5 per second reached the origin within ${span} ms`);
  } finally {
    await w.close();
  }
});

test('a warm for another edge is left alone; one for this edge by name is warmed; failures are counted', async () => {
  const w = await world({ CDN_EDGE_WARM_RATE_PER_SECOND: '1000' });
  try {
    const elsewhere = await publishWarm(w, paths(3, '/elsewhere'), 'another-edge');
    const here = await publishWarm(w, [...paths(2, '/here'), { host: HOST, path: '/here/broken.css' }], EDGE_ID);
    const sent = await finished(w, here.id);
    assert.deepEqual(w.origin.requests.map((r) => r.url).sort(), ['/here/0.css', '/here/1.css', '/here/broken.css']);
    assert.deepEqual(await reports(w, elsewhere.id), [], 'nothing reported for a warm that is not this edge\'s');
    assert.deepEqual({ state: sent.at(-1)!.state, done: sent.at(-1)!.done, failed: sent.at(-1)!.failed }, { state: 'done', done: 2, failed: 1 });
    assert.match((await http(w.edge.adminUrl, '/metrics')).body, /cdn_edge_warm_requests_total\{customer="warm-co",outcome="failed"\} 1/);
  } finally {
    await w.close();
  }
});

test('a customer whose plain HTTP is redirected to HTTPS is warmed over the edge\'s own HTTPS port', async () => {
  const ca = await createCertificateAuthority('Edgeplane Warm Test CA');
  const leaf = await ca.issue([HOST]);
  const w = await world({ CDN_EDGE_WARM_RATE_PER_SECOND: '1000' }, {
    customer: (originUrl) => customer('warm-co', originUrl, [HOST], { tls: customerTls([edgeCertificate(leaf, [HOST])], { httpsRedirect: true }) }),
  });
  try {
    assert.equal((await http(w.edge.url, '/tls/0.css', { host: HOST })).status, 308, 'plain HTTP is redirected');
    const warm = await publishWarm(w, paths(2, '/tls'));
    const sent = await finished(w, warm.id);
    assert.deepEqual({ state: sent.at(-1)!.state, done: sent.at(-1)!.done }, { state: 'done', done: 2 });
    assert.deepEqual(w.origin.requests.map((r) => r.url).sort(), ['/tls/0.css', '/tls/1.css']);
    const cache = await new Promise<string | undefined>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: w.edge.tlsPort, path: '/tls/0.css', servername: HOST, headers: { host: HOST }, ca: ca.certPem }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers['x-cache'] as string | undefined));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(cache, 'HIT');
  } finally {
    await w.close();
  }
});

test('an edge closed mid-warm reports it stopped, with what it finished, before it leaves the fleet', async () => {
  const w = await world({ CDN_EDGE_WARM_CONCURRENCY: '1', CDN_EDGE_WARM_RATE_PER_SECOND: '1000' }, { delayMs: 400 });
  let closed = false;
  try {
    const warm = await publishWarm(w, paths(10, '/slow'));
    await eventually(async () => (await reports(w, warm.id)).some((r) => r.done >= 1), 10_000, 'one URL done');
    await w.edge.close();
    closed = true;
    const sent = await reports(w, warm.id);
    const last = sent.at(-1)!;
    assert.equal(last.state, 'stopped');
    assert.ok(last.done >= 1 && last.done < 10, `done ${last.done}`);
    assert.deepEqual(await w.fleet.liveEdges(), []);
  } finally {
    if (!closed) await w.edge.close();
    await w.fleet.close();
    await w.origin.close();
  }
});

test("a warm never fetches through a host that is not its customer's (now): a domain moved to another customer between the request and the warm", async () => {
  const w = await world({});
  const other = await startScriptedOrigin((_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=3600' }).end('other customer'));
  try {
    // www.warm.test moves to customer other-co; the warm (requested while it was warm-co's) still names it.
    await w.relay.upsert({ ...w.customer, domains: [HOST], version: w.customer.version + 1 }, customer('other-co', other.url, ['www.warm.test']));
    await eventually(() => w.edge.appliedSeq() >= w.relay.seq, 5000, 'the domain moved');
    const warm = await publishWarm(w, [{ host: 'www.warm.test', path: '/moved.css' }, { host: HOST, path: '/kept.css' }]);
    const last = (await finished(w, warm.id)).at(-1)!;
    assert.deepEqual({ state: last.state, done: last.done, failed: last.failed }, { state: 'done', done: 1, failed: 1 });
    assert.equal(other.requests.length, 0, "the other customer's origin was never asked");
    assert.deepEqual(w.origin.requests.map((r) => r.url), ['/kept.css']);
    // The clean request afterwards: the other customer's object is fetched for its own client, once.
    const res = await http(w.edge.url, '/moved.css', { host: 'www.warm.test' });
    assert.equal(res.body, 'other customer');
    assert.equal(res.headers['x-cache'], 'MISS');
  } finally {
    await other.close();
    await w.close();
  }
});
