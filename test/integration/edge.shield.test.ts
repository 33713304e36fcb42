/**
 * The origin shield (src/edge/shield, docs/EDGE.md "Origin shield") with real edges over real
 * sockets: one shield (CDN_EDGE_ROLE=shield) and two edges in one fleet (the in-process fleet
 * channel, heartbeats every 100 ms), a real origin that records every request.
 *
 * - Any number of edge misses for an object make one origin request, asked by the shield,
 *   with the end user's address and scheme (signed in the hop), never the hop field itself.
 * - Answers are keyed by customer; the customer's access rules are judged once, at the edge.
 * - A purge reaches the shield in the same change; a shield behind an edge's purges answers
 *   that edge from the origin, never from its older cache.
 * - A shield that cannot be reached: the edges ask the origin themselves.
 * - Attacks on the shield itself: forged, replayed, expired and looping hops are refused
 *   before any origin is asked; a client's hop field at an edge gives it nothing. Each is
 *   followed by a clean request that gets the clean answer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../src/bus/memory-bus';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import type { CustomerConfig } from '../../src/core/customer.types';
import { HOP_FIELD, hopKey, signHop, type HopClaims } from '../../src/core/shield-hop';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { Relay } from '../support/bus-relay';
import { closedPort, customer, edgeConfig, eventually, http, SECRET, silentLogger, startScriptedOrigin, tempDir, type ScriptedOrigin } from './edge.harness';

const A = 'cdn.shield-a.test';
const B = 'cdn.shield-b.test';
const RULED = 'cdn.shield-ruled.test';
const CAPPED = 'cdn.shield-capped.test';

interface Started {
  edge: EdgeHandle;
  close(): Promise<void>;
}

async function startFleetEdge(bus: MemoryBus, fleet: MemoryFleet, env: Record<string, string>): Promise<Started> {
  const tmp = await tempDir();
  const customers = createBusCustomerFeed(bus, { dataDir: tmp.dir, logger: silentLogger, blockMs: 100, retryMinMs: 20, retryMaxMs: 100 });
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_HEARTBEAT_MS: '100', CDN_EDGE_TLS_PORT: 'off', ...env }), { customers, fleet, logger: silentLogger, purge: { pollMs: 20, forgetGraceMs: 0 } });
  await customers.ready;
  return {
    edge,
    async close() {
      await edge.close();
      await tmp.remove();
    },
  };
}

/** Counts per path of what an origin was asked. */
function asked(origin: ScriptedOrigin, path: string): number {
  return origin.requests.filter((r) => r.url === path).length;
}

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

async function metricsOf(edge: EdgeHandle): Promise<string> {
  return edge.metrics.registry.metrics();
}

describe('two edges and one shield', () => {
  const bus = new MemoryBus();
  const fleet = new MemoryFleet();
  const relay = new Relay(bus);
  let version = 1;
  let origin: ScriptedOrigin;
  let otherOrigin: ScriptedOrigin;
  let shield: Started;
  let edges: Started[];
  let ca: CustomerConfig;

  before(async () => {
    origin = await startScriptedOrigin((req, res) => {
      // Slow enough that concurrent misses overlap at every tier.
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=3600' }).end(`a ${req.url} v${version}`), 60);
    });
    otherOrigin = await startScriptedOrigin((req, res) => res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(`b ${req.url}`));
    ca = customer('shield-a', origin.url, [A]);
    const ruled: CustomerConfig = {
      ...customer('shield-ruled', origin.url, [RULED]),
      rules: [{ name: 'office-only', match: { pathPrefixes: ['/private/'] }, actions: { access: { allowCidrs: ['127.0.0.5/32'] } } }],
    };
    // One origin request at a time per edge process, no queue: the cap holds for fills through the shield too.
    const capped: CustomerConfig = { ...customer('shield-capped', origin.url, [CAPPED]), originPolicy: { maxConnections: 1, queueTimeoutMs: 0, retryBudgetPercent: null, staleIfDownSeconds: null } };
    await relay.upsert(ca, customer('shield-b', otherOrigin.url, [B]), ruled, capped);
    shield = await startFleetEdge(bus, fleet, { CDN_EDGE_ID: 'shield-1', CDN_EDGE_ROLE: 'shield', CDN_EDGE_SHIELD_SEQ_WAIT_MS: '200' });
    edges = [await startFleetEdge(bus, fleet, { CDN_EDGE_ID: 'edge-1' }), await startFleetEdge(bus, fleet, { CDN_EDGE_ID: 'edge-2' })];
    for (const e of edges) await eventually(() => e.edge.shields().includes(shield.edge.shieldUrl!), 5000, 'the edge sees the shield');
    for (const s of [shield, ...edges]) await eventually(() => s.edge.appliedSeq() >= relay.seq, 5000, 'every process has the customers');
  });

  after(async () => {
    for (const s of [...edges, shield]) await s.close();
    await fleet.close();
    await bus.close();
    await origin.close();
    await otherOrigin.close();
  });

  test('the shield is listed in the fleet with its role and URL', async () => {
    const live = await fleet.liveEdges();
    assert.deepEqual(
      live.map((e) => [e.edgeId, e.role, e.shieldUrl]),
      [
        ['edge-1', 'edge', undefined],
        ['edge-2', 'edge', undefined],
        ['shield-1', 'shield', shield.edge.shieldUrl],
      ],
    );
  });

  test('any number of edge misses make one origin request per object', async () => {
    const paths = ['/o/1.txt', '/o/2.txt', '/o/3.txt', '/o/4.txt', '/o/5.txt'];
    // Every path from both edges at once, three times each, from several client addresses.
    const first = await Promise.all(
      paths.flatMap((p) => edges.flatMap((e, i) => [0, 1, 2].map((n) => http(e.edge.url, p, { host: A, localAddress: `127.0.0.${10 + i * 3 + n}` })))),
    );
    for (const r of first) assert.equal(r.status, 200);
    for (const [i, r] of first.entries()) assert.equal(r.body, `a ${paths[Math.floor(i / 6)]} v1`);
    // And again later: every edge has them now.
    for (const p of paths) {
      for (const e of edges) {
        const again = await http(e.edge.url, p, { host: A });
        assert.equal(again.headers['x-cache'], 'HIT');
        assert.equal(again.body, `a ${p} v1`);
      }
    }
    for (const p of paths) assert.equal(asked(origin, p), 1, `${p} was asked of the origin once`);
    // The shield asked the origin for the end user (signed in the hop), never passing the hop on.
    const seen = origin.requests.find((r) => r.url === paths[0])!;
    assert.match(String(seen.headers['x-forwarded-for']), /^127\.0\.0\.(1\d)$/);
    assert.equal(seen.headers['x-forwarded-host'], A);
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['cdn-loop'], 'edgeplane, edgeplane');
    assert.equal(seen.headers[HOP_FIELD], undefined);
    assert.equal(seen.headers.via, '1.1 edgeplane, 1.1 edgeplane');
    // Counted as hops at the shield and as shield answers at the edges, not as the shield's client traffic.
    const shieldMetrics = await metricsOf(shield.edge);
    assert.ok(metric(shieldMetrics, 'cdn_edge_shield_hops_total', 'outcome="served"') >= paths.length);
    assert.equal(metric(shieldMetrics, 'cdn_edge_requests_total', `customer="shield-a",cache="MISS"`), 0);
    let answered = 0;
    for (const e of edges) answered += metric(await metricsOf(e.edge), 'cdn_edge_shield_requests_total', 'outcome="answered"');
    assert.ok(answered >= paths.length && answered <= paths.length * 2, `edges sent ${answered} fills to the shield`);
  });

  test('shield answers are keyed by customer', async () => {
    const a = await http(edges[0]!.edge.url, '/same.txt', { host: A });
    const b = await http(edges[1]!.edge.url, '/same.txt', { host: B });
    assert.equal(a.body, 'a /same.txt v1');
    assert.equal(b.body, 'b /same.txt');
    const b2 = await http(edges[0]!.edge.url, '/same.txt', { host: B });
    assert.equal(b2.body, 'b /same.txt');
    assert.equal(asked(otherOrigin, '/same.txt'), 1);
  });

  test('access rules are judged at the edge, for the end user; the shield does not judge the edge', async () => {
    const refused = await http(edges[0]!.edge.url, '/private/report.txt', { host: RULED, localAddress: '127.0.0.6' });
    assert.equal(refused.status, 403);
    assert.equal(asked(origin, '/private/report.txt'), 0);
    const allowed = await http(edges[0]!.edge.url, '/private/report.txt', { host: RULED, localAddress: '127.0.0.5' });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.body, 'a /private/report.txt v1');
    assert.equal(origin.requests.find((r) => r.url === '/private/report.txt')!.headers['x-forwarded-for'], '127.0.0.5');
    // The other edge gets it from the shield, and still refuses the wrong client.
    assert.equal((await http(edges[1]!.edge.url, '/private/report.txt', { host: RULED, localAddress: '127.0.0.5' })).status, 200);
    assert.equal((await http(edges[1]!.edge.url, '/private/report.txt', { host: RULED, localAddress: '127.0.0.7' })).status, 403);
    assert.equal(asked(origin, '/private/report.txt'), 1);
  });

  test("the customer's cap on concurrent origin requests holds for fills sent to the shield", async () => {
    const hopsBefore = metric(await metricsOf(shield.edge), 'cdn_edge_shield_hops_total', 'outcome="served"');
    const answers = await Promise.all(['/cap/1', '/cap/2', '/cap/3'].map((p) => http(edges[0]!.edge.url, p, { host: CAPPED })));
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 503, 503]);
    for (const r of answers.filter((a) => a.status === 503)) assert.equal(JSON.parse(r.body).code, 'CDN_ERR_ORIGIN_BUSY');
    assert.equal(origin.requests.filter((r) => r.url.startsWith('/cap/')).length, 1);
    // Refused at the edge: only the one fill with a slot went to the shield.
    const served = async (): Promise<number> => metric(await metricsOf(shield.edge), 'cdn_edge_shield_hops_total', 'outcome="served"') - hopsBefore;
    await eventually(async () => (await served()) >= 1, 2000, 'the shield counted the hop');
    assert.equal(await served(), 1);
  });

  test('a purge reaches the shield in the same change: no edge refills the purged object', async () => {
    assert.equal((await http(edges[0]!.edge.url, '/news.html', { host: A })).body, 'a /news.html v1');
    assert.equal((await http(edges[1]!.edge.url, '/news.html', { host: A })).body, 'a /news.html v1');
    version = 2;
    try {
      await relay.purge({ customerId: ca.id, kind: 'URL', value: `http://${A}/news.html` });
      for (const s of [shield, ...edges]) await eventually(() => s.edge.appliedSeq() >= relay.seq, 5000, 'the purge is applied');
      assert.equal((await http(edges[1]!.edge.url, '/news.html', { host: A })).body, 'a /news.html v2');
      assert.equal((await http(edges[0]!.edge.url, '/news.html', { host: A })).body, 'a /news.html v2');
      assert.equal(asked(origin, '/news.html'), 2);
    } finally {
      version = 1;
    }
  });

  describe('attacks on the shield', () => {
    const key = hopKey(SECRET);
    const claims: HopClaims = { edge: 'edge-x', seq: 0, client: '203.0.113.9', proto: 'https' };
    const hop = (target: string, overrides: { key?: Buffer; claims?: Partial<HopClaims>; host?: string; at?: number } = {}): string =>
      signHop(overrides.key ?? key, { ...claims, ...overrides.claims }, { method: 'GET', host: overrides.host ?? A, target }, overrides.at ?? Date.now());
    const refusedHop = (r: { status: number; body: string; headers: Record<string, unknown> }): void => {
      assert.equal(r.status, 403);
      assert.equal(JSON.parse(r.body).code, 'CDN_ERR_EDGE_HOP_REFUSED');
      assert.ok(r.headers['edgeplane-hop-refused'] !== undefined);
    };

    test('a hop signed with another key is refused, nothing is asked of the origin', async () => {
      const r = await http(shield.edge.url, '/attack/1', { host: A, headers: { [HOP_FIELD]: hop('/attack/1', { key: hopKey('another-fleet-secret-0123456789abcdefgh') }), 'cdn-loop': 'edgeplane' } });
      refusedHop(r);
      assert.equal(asked(origin, '/attack/1'), 0);
    });

    test('a hop made for another request is refused (target, host, claims)', async () => {
      const good = hop('/attack/allowed');
      for (const [target, host, field] of [
        ['/attack/2', A, good],
        ['/attack/allowed', B, good],
        ['/attack/allowed', A, good.replace('client=203.0.113.9', 'client=198.51.100.1')],
        ['/attack/allowed', A, good.replace(/seq=\d+/, 'seq=999999')],
      ] as const) {
        refusedHop(await http(shield.edge.url, target, { host, headers: { [HOP_FIELD]: field, 'cdn-loop': 'edgeplane' } }));
      }
      assert.equal(asked(origin, '/attack/2') + asked(origin, '/attack/allowed') + asked(otherOrigin, '/attack/allowed'), 0);
    });

    test('an expired or malformed hop is refused', async () => {
      refusedHop(await http(shield.edge.url, '/attack/3', { host: A, headers: { [HOP_FIELD]: hop('/attack/3', { at: Date.now() - 120_000 }), 'cdn-loop': 'edgeplane' } }));
      refusedHop(await http(shield.edge.url, '/attack/3', { host: A, headers: { [HOP_FIELD]: 'v1; edge=x; sig=AAAA', 'cdn-loop': 'edgeplane' } }));
      refusedHop(await http(shield.edge.url, '/attack/3', { host: A, headers: { [HOP_FIELD]: 'v2; anything' } }));
      assert.equal(asked(origin, '/attack/3'), 0);
    });

    test('a forged hop for an object the shield holds in memory is refused, not answered from its hit lane', async () => {
      // Cached on the shield by plain requests: the second one is a memory hit.
      assert.equal((await http(shield.edge.url, '/attack/held', { host: A })).status, 200);
      assert.equal((await http(shield.edge.url, '/attack/held', { host: A })).headers['x-cache'], 'HIT');
      for (const name of [HOP_FIELD, 'EdgePlane-Hop']) {
        refusedHop(await http(shield.edge.url, '/attack/held', { host: A, headers: { [name]: hop('/attack/held', { key: hopKey('another-fleet-secret-0123456789abcdefgh') }) } }));
      }
      // The clean request afterwards gets the clean answer.
      const clean = await http(shield.edge.url, '/attack/held', { host: A });
      assert.equal(clean.status, 200);
      assert.equal(clean.body, 'a /attack/held v1');
      assert.equal(asked(origin, '/attack/held'), 1);
    });

    test('loops stay impossible: without a hop one CDN-Loop entry is refused, with one a second is', async () => {
      const noHop = await http(shield.edge.url, '/attack/4', { host: A, headers: { 'cdn-loop': 'edgeplane' } });
      assert.equal(noHop.status, 508);
      const twice = await http(shield.edge.url, '/attack/4', { host: A, headers: { [HOP_FIELD]: hop('/attack/4'), 'cdn-loop': 'edgeplane, edgeplane' } });
      assert.equal(twice.status, 508);
      assert.equal(asked(origin, '/attack/4'), 0);
    });

    test('a client cannot claim another address with a hop field at an edge', async () => {
      const r = await http(edges[0]!.edge.url, '/attack/5', { host: A, localAddress: '127.0.0.8', headers: { [HOP_FIELD]: hop('/attack/5') } });
      assert.equal(r.status, 200);
      const seen = origin.requests.find((q) => q.url === '/attack/5')!;
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.8');
    });

    test('the clean request after the attacks: a valid hop is served, for the client it names', async () => {
      const r = await http(shield.edge.url, '/attack/1', { host: A, headers: { [HOP_FIELD]: hop('/attack/1'), 'cdn-loop': 'edgeplane' } });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'a /attack/1 v1');
      const seen = origin.requests.find((q) => q.url === '/attack/1')!;
      assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9');
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      const refused = metric(await metricsOf(shield.edge), 'cdn_edge_shield_hops_total', 'outcome="refused"');
      assert.ok(refused >= 8, `refused ${refused} hops`);
    });
  });
});

describe('a shield behind an edge', () => {
  test("answers that edge from the origin, never from a cache older than the edge's purges", async () => {
    // The shield follows a bus of its own, published to after the edge's: it lags one purge behind.
    const edgeBus = new MemoryBus();
    const shieldBus = new MemoryBus();
    const fleet = new MemoryFleet();
    const edgeRelay = new Relay(edgeBus);
    const shieldRelay = new Relay(shieldBus);
    let version = 1;
    const origin = await startScriptedOrigin((req, res) => res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(`${req.url} v${version}`));
    const c = customer('lagging', origin.url, [A]);
    await edgeRelay.upsert(c);
    await shieldRelay.upsert(c);
    const shield = await startFleetEdge(shieldBus, fleet, { CDN_EDGE_ID: 'shield-lag', CDN_EDGE_ROLE: 'shield', CDN_EDGE_SHIELD_SEQ_WAIT_MS: '300' });
    const edge = await startFleetEdge(edgeBus, fleet, { CDN_EDGE_ID: 'edge-lag' });
    try {
      await eventually(() => edge.edge.shields().length === 1, 5000, 'the edge sees the shield');
      assert.equal((await http(edge.edge.url, '/page', { host: A })).body, '/page v1');
      assert.equal(origin.requests.length, 1);
      version = 2;
      const purge = await edgeRelay.purge({ customerId: c.id, kind: 'URL', value: `http://${A}/page` });
      await eventually(() => edge.edge.appliedSeq() >= edgeRelay.seq, 5000, 'the edge applied the purge');
      assert.ok(shield.edge.appliedSeq() < edgeRelay.seq);
      // The shield still holds v1; the edge applied the purge: v2 it must be, from the origin.
      const after = await http(edge.edge.url, '/page', { host: A });
      assert.equal(after.body, '/page v2');
      assert.equal(origin.requests.length, 2);
      assert.equal(metric(await metricsOf(shield.edge), 'cdn_edge_shield_hops_total', 'outcome="behind"'), 1);
      // The shield catches up: the purge (same id) takes effect there too, and nothing is asked twice.
      await shieldRelay.purge({ ...purge });
      await eventually(() => shield.edge.appliedSeq() >= shieldRelay.seq, 5000, 'the shield applied the purge');
      const fromOtherEdgeView = await http(edge.edge.url, '/page', { host: A });
      assert.equal(fromOtherEdgeView.body, '/page v2');
    } finally {
      await edge.close();
      await shield.close();
      await fleet.close();
      await edgeBus.close();
      await shieldBus.close();
      await origin.close();
    }
  });
});

describe('a shield that cannot be reached', () => {
  test('the edge asks the origin itself, and leaves the shield out for a while', async () => {
    const bus = new MemoryBus();
    const fleet = new MemoryFleet();
    const relay = new Relay(bus);
    const origin = await startScriptedOrigin((req, res) => res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(`${req.url} direct`));
    await relay.upsert(customer('no-shield', origin.url, [A]));
    const edge = await startFleetEdge(bus, fleet, { CDN_EDGE_ID: 'edge-alone' });
    // A shield that heartbeats but whose port refuses connections (it died between two beats).
    const port = await closedPort();
    const ghost = { edgeId: 'shield-ghost', host: 'x', pid: 1, version: '0', appliedSeq: relay.seq, ready: true, startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString(), cacheObjects: 0, cacheBytes: 0, role: 'shield' as const, shieldUrl: `http://127.0.0.1:${port}` };
    const beat = setInterval(() => void fleet.heartbeat({ ...ghost, heartbeatAt: new Date().toISOString() }, 1000), 100);
    try {
      await fleet.heartbeat(ghost, 1000);
      await eventually(() => edge.edge.shields().length === 1, 5000, 'the edge sees the ghost shield');
      for (const p of ['/x/1', '/x/2', '/x/3']) {
        const r = await http(edge.edge.url, p, { host: A });
        assert.equal(r.status, 200);
        assert.equal(r.body, `${p} direct`);
      }
      const text = await metricsOf(edge.edge);
      // The first miss found it down and fell back; the next ones skipped it while it is left out.
      assert.equal(metric(text, 'cdn_edge_shield_requests_total', 'outcome="fallback"'), 1);
      assert.equal(origin.requests.length, 3);
    } finally {
      clearInterval(beat);
      await edge.close();
      await fleet.close();
      await bus.close();
      await origin.close();
    }
  });
});
