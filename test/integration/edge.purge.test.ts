/**
 * Purges on the edge, end to end: a MemoryBus carries `purge.requested` (the Redis bus
 * honours the same contract), real origins count what they are asked, the cache is real
 * files and a real LMDB index. URL purges (query normalised, Vary variants), PREFIX, TAG
 * (Surrogate-Key and Cache-Tag), ALL, soft purges, a fetch in flight during a purge, bans
 * across restarts, the lurker, idempotency, apply without scanning, and gaps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MemoryBus } from '../../src/bus/memory-bus';
import type { Change } from '../../src/core/bus.events';
import type { ChangeBus } from '../../src/core/bus.port';
import type { CustomerConfig } from '../../src/core/customer.types';
import type { PurgeRequest } from '../../src/core/purge.types';
import { DiskTier, INDEX_DIR } from '../../src/edge/cache/disk.tier';
import { MemoryTier } from '../../src/edge/cache/memory.tier';
import { MetadataIndex } from '../../src/edge/cache/metadata.index';
import { TieredStore } from '../../src/edge/cache/tiered.store';
import type { LurkerSettings } from '../../src/edge/purge/purge.lurker';
import type { EdgeHandle } from '../../src/edge/server';
import { customer, edgeConfig, edgeStore, eventually, http, startBusEdge, startScriptedOrigin, tempDir, type BusEdge, type ScriptedOrigin } from './edge.harness';
import { Relay } from '../support/bus-relay';

interface TestOrigin extends ScriptedOrigin {
  /** Requests received for this exact origin target (path?query). */
  count(target: string): number;
  /** Response headers to add per path (Surrogate-Key, Cache-Tag). */
  extra: Map<string, Record<string, string>>;
  /** Answers held for `/slow/…`, in arrival order. */
  held: Array<() => void>;
}

/**
 * An origin that answers every path with `<name> <target> #<n>` (n: requests for that
 * target so far), fresh for an hour, ETag per path (a matching If-None-Match gets 304);
 * `…/vary/…` varies on Accept-Language; `/slow/…` waits until the test releases it.
 */
async function startOrigin(name: string): Promise<TestOrigin> {
  const extra = new Map<string, Record<string, string>>();
  const held: Array<() => void> = [];
  const counts = new Map<string, number>();
  const origin = await startScriptedOrigin((req: IncomingMessage, res: ServerResponse) => {
    const target = req.url!;
    const pathname = target.split('?')[0]!;
    const n = (counts.get(target) ?? 0) + 1;
    counts.set(target, n);
    const etag = `"${pathname}"`;
    const headers: Record<string, string> = { 'cache-control': 'max-age=3600', etag, 'content-type': 'text/plain', ...extra.get(pathname) };
    if (pathname.includes('/vary/')) headers.vary = 'Accept-Language';
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { 'cache-control': 'max-age=3600', etag });
      res.end();
      return;
    }
    const body = `${name} ${target} #${n}${pathname.includes('/vary/') ? ` ${req.headers['accept-language'] ?? '-'}` : ''}`;
    const send = (): void => {
      if (res.headersSent) return;
      res.writeHead(200, headers);
      res.end(body);
    };
    if (pathname.startsWith('/slow/')) held.push(send);
    else send();
  });
  return { ...origin, extra, held, count: (target) => counts.get(target) ?? 0 };
}

/** An edge on the test's bus, with its data under `dir` (edge.harness.ts). */
function bootEdge(bus: ChangeBus, dir: string, purge: Partial<LurkerSettings> = {}, store?: TieredStore): Promise<BusEdge> {
  return startBusEdge(bus, edgeConfig(dir), { purge, store });
}

async function get(edge: EdgeHandle, host: string, target: string, headers: Record<string, string> = {}): Promise<{ cache: string; body: string; status: number }> {
  const res = await http(edge.url, target, { host, headers });
  return { cache: String(res.headers['x-cache']), body: res.body, status: res.status };
}

async function applied(edge: EdgeHandle, relay: Relay): Promise<void> {
  await eventually(() => edge.appliedSeq() >= relay.seq, 3000, `seq ${relay.seq} applied`);
}

/** The store an edge under `dir` builds, except that every body gets a file (for tests that count files). */
function fileStore(dir: string): TieredStore {
  return edgeStore(edgeConfig(dir), { indexBodyMax: 0 });
}

async function filesOf(dir: string, customerId: string): Promise<number> {
  const root = path.join(dir, 'cache', customerId);
  let n = 0;
  for (const sub of await readdir(root).catch(() => [] as string[])) n += (await readdir(path.join(root, sub)).catch(() => [] as string[])).length;
  return n;
}

/** Two customers, each with its own origin, on a fresh bus and cache. */
async function setUp(options: { busMaxLength?: number; queryString?: CustomerConfig['queryString'] } = {}) {
  const tmp = await tempDir();
  const a = await startOrigin('A');
  const b = await startOrigin('B');
  const bus = new MemoryBus(options.busMaxLength === undefined ? {} : { maxLength: options.busMaxLength });
  const relay = new Relay(bus);
  const ca = customer('customer-a', a.url, ['cdn.a.test']);
  if (options.queryString !== undefined) ca.queryString = options.queryString;
  await relay.upsert(ca, customer('customer-b', b.url, ['cdn.b.test']));
  return {
    tmp,
    a,
    b,
    bus,
    relay,
    async done(...edges: Array<EdgeHandle | undefined>): Promise<void> {
      for (const e of edges) await e?.close();
      await bus.close();
      await Promise.all([a.close(), b.close()]);
      await tmp.remove();
    },
  };
}

const A = 'cdn.a.test';
const B = 'cdn.b.test';

test('URL purge: the query normalised as lookups do, every Vary variant, and nothing else', async () => {
  const s = await setUp();
  const { edge, acks } = await bootEdge(s.bus, s.tmp.dir);
  try {
    assert.equal((await get(edge, A, '/u.txt?b=2&a=1')).cache, 'MISS');
    assert.equal((await get(edge, A, '/u.txt?a=1&b=2')).cache, 'HIT', 'one object for both orders');
    for (const lang of ['en', 'fr']) assert.equal((await get(edge, A, '/vary/v.txt', { 'accept-language': lang })).cache, 'MISS');
    for (const lang of ['en', 'fr']) assert.equal((await get(edge, A, '/vary/v.txt', { 'accept-language': lang })).cache, 'HIT');
    await get(edge, A, '/other.txt');
    await get(edge, B, '/u.txt?a=1&b=2');

    const p1 = await s.relay.purge({ customerId: 'customer-a', kind: 'URL', value: '/u.txt?b=2&a=1' });
    await applied(edge, s.relay);
    const again = await get(edge, A, '/u.txt?a=1&b=2');
    assert.equal(again.cache, 'MISS');
    assert.equal(again.body, 'A /u.txt?a=1&b=2 #2', 'fetched from the origin again');
    assert.deepEqual(acks.find((x) => x.purgeId === p1.id)?.objectsRemoved, 1);

    const p2 = await s.relay.purge({ customerId: 'customer-a', kind: 'URL', value: 'https://cdn.a.test/vary/v.txt' });
    await applied(edge, s.relay);
    assert.equal(acks.find((x) => x.purgeId === p2.id)?.objectsRemoved, 2, 'both variants (the Vary marker is not counted)');
    for (const lang of ['en', 'fr']) {
      const v = await get(edge, A, '/vary/v.txt', { 'accept-language': lang });
      assert.equal(v.cache, 'MISS', lang);
      assert.equal(v.body, `A /vary/v.txt #${lang === 'en' ? 3 : 4} ${lang}`);
    }
    assert.equal((await get(edge, A, '/other.txt')).cache, 'HIT', 'another URL of the customer is untouched');
    assert.equal((await get(edge, B, '/u.txt?a=1&b=2')).cache, 'HIT', 'the same URL of another customer is untouched');
    const ack = acks.find((x) => x.purgeId === p1.id)!;
    assert.equal(ack.seq, s.relay.seq - 1);
    assert.ok(Number.isFinite(Date.parse(ack.appliedAt)));
  } finally {
    await s.done(edge);
  }
});

test('URL purge under an allowlist query policy purges the key lookups use', async () => {
  const s = await setUp({ queryString: { mode: 'allowlist', allow: ['v'] } });
  const { edge } = await bootEdge(s.bus, s.tmp.dir);
  try {
    await get(edge, A, '/q.js?utm=1&v=7');
    assert.equal((await get(edge, A, '/q.js?v=7&utm=2')).cache, 'HIT');
    await s.relay.purge({ customerId: 'customer-a', kind: 'URL', value: '/q.js?v=7&session=abc' });
    await applied(edge, s.relay);
    assert.equal((await get(edge, A, '/q.js?v=7')).cache, 'MISS');
  } finally {
    await s.done(edge);
  }
});

test('PREFIX purge: only the matching keys of that customer; other prefixes and other customers still hit', async () => {
  const s = await setUp();
  const { edge, acks } = await bootEdge(s.bus, s.tmp.dir);
  try {
    for (const t of ['/img/a.png', '/img/sub/b.png', '/css/x.css', '/imgs/c.png']) await get(edge, A, t);
    await get(edge, B, '/img/a.png');
    const p = await s.relay.purge({ customerId: 'customer-a', kind: 'PREFIX', value: '/img/' });
    await applied(edge, s.relay);
    assert.equal(acks.find((x) => x.purgeId === p.id)?.objectsRemoved, 0, 'a ban removes nothing at once');
    assert.equal((await get(edge, A, '/img/a.png')).cache, 'MISS');
    assert.equal((await get(edge, A, '/img/sub/b.png')).cache, 'MISS');
    assert.equal((await get(edge, A, '/css/x.css')).cache, 'HIT');
    assert.equal((await get(edge, A, '/imgs/c.png')).cache, 'HIT', '/imgs/ is not under /img/');
    assert.equal((await get(edge, B, '/img/a.png')).cache, 'HIT', 'a purge never touches another customer');
    assert.equal((await get(edge, A, '/img/a.png')).cache, 'HIT', 'refetched after the purge: cached again');
  } finally {
    await s.done(edge);
  }
});

test('TAG purge: Surrogate-Key and Cache-Tag name the objects', async () => {
  const s = await setUp();
  s.a.extra.set('/t1', { 'surrogate-key': 'home product-7' });
  s.a.extra.set('/t2', { 'cache-tag': 'product-7, sale' });
  s.a.extra.set('/t3', { 'cache-tag': 'sale' });
  s.b.extra.set('/t1', { 'surrogate-key': 'product-7' });
  const { edge } = await bootEdge(s.bus, s.tmp.dir);
  try {
    for (const t of ['/t1', '/t2', '/t3', '/t4']) await get(edge, A, t);
    await get(edge, B, '/t1');
    await s.relay.purge({ customerId: 'customer-a', kind: 'TAG', value: 'product-7' });
    await applied(edge, s.relay);
    assert.deepEqual(await Promise.all(['/t1', '/t2', '/t3', '/t4'].map(async (t) => (await get(edge, A, t)).cache)), ['MISS', 'MISS', 'HIT', 'HIT']);
    assert.equal((await get(edge, B, '/t1')).cache, 'HIT', 'the same tag at another customer is untouched');
    await s.relay.purge({ customerId: 'customer-a', kind: 'TAG', value: 'sale' });
    await applied(edge, s.relay);
    assert.deepEqual(await Promise.all(['/t1', '/t2', '/t3', '/t4'].map(async (t) => (await get(edge, A, t)).cache)), ['HIT', 'MISS', 'MISS', 'HIT']);
  } finally {
    await s.done(edge);
  }
});

test('ALL purge: every object of the customer, none of another', async () => {
  const s = await setUp();
  const { edge } = await bootEdge(s.bus, s.tmp.dir);
  try {
    for (const t of ['/x', '/y?z=1', '/vary/w']) await get(edge, A, t);
    await get(edge, B, '/x');
    await s.relay.purge({ customerId: 'customer-a', kind: 'ALL' });
    await applied(edge, s.relay);
    for (const t of ['/x', '/y?z=1', '/vary/w']) assert.equal((await get(edge, A, t)).cache, 'MISS', t);
    assert.equal((await get(edge, B, '/x')).cache, 'HIT');
  } finally {
    await s.done(edge);
  }
});

test('soft purge: the next request revalidates with the origin (If-None-Match, 304, REVALIDATED), then hits', async () => {
  const s = await setUp();
  const { edge } = await bootEdge(s.bus, s.tmp.dir);
  try {
    for (const t of ['/e.txt', '/soft/a', '/soft/b', '/hard/c']) await get(edge, A, t);
    await s.relay.purge({ customerId: 'customer-a', kind: 'URL', value: '/e.txt', soft: true });
    await applied(edge, s.relay);
    const revalidated = await get(edge, A, '/e.txt');
    assert.equal(revalidated.cache, 'REVALIDATED');
    assert.equal(revalidated.body, 'A /e.txt #1', 'the stored body, confirmed');
    const asked = s.a.requests.filter((r) => r.url === '/e.txt');
    assert.equal(asked.length, 2);
    assert.equal(asked[1]!.headers['if-none-match'], '"/e.txt"');
    assert.equal((await get(edge, A, '/e.txt')).cache, 'HIT', 'fresh again after the 304');

    // A soft ban: revalidated while the ban is held, and after the lurker marked the objects and retired it.
    await s.relay.purge({ customerId: 'customer-a', kind: 'PREFIX', value: '/soft/', soft: true });
    await applied(edge, s.relay);
    assert.equal((await get(edge, A, '/soft/a')).cache, 'REVALIDATED');
    await eventually(() => edge.purges!.backlog().bans === 0 && edge.purges!.backlog().held === 0, 3000, 'soft ban retired and forgotten');
    assert.equal((await get(edge, A, '/soft/b')).cache, 'REVALIDATED', 'marked on disk by the lurker');
    assert.equal((await get(edge, A, '/soft/a')).cache, 'HIT', 'revalidated before the lurker ran: not marked again');
    assert.equal((await get(edge, A, '/hard/c')).cache, 'HIT');
    assert.equal(s.a.count('/soft/b'), 2);
  } finally {
    await s.done(edge);
  }
});

for (const kind of ['URL', 'PREFIX'] as const) {
  test(`a fetch in flight during a ${kind} purge is not served after it, nor joined by later requests`, async () => {
    const s = await setUp();
    const { edge } = await bootEdge(s.bus, s.tmp.dir);
    try {
      const first = get(edge, A, '/slow/x');
      await eventually(() => s.a.count('/slow/x') === 1, 2000, 'first fetch at the origin');
      await s.relay.purge({ customerId: 'customer-a', kind, value: kind === 'URL' ? '/slow/x' : '/slow/' });
      await applied(edge, s.relay);
      const second = get(edge, A, '/slow/x');
      await eventually(() => s.a.count('/slow/x') === 2, 2000, 'a request after the purge fetches anew instead of joining');
      // The newer answer is stored first; the older one arrives last and must not replace it.
      s.a.held[1]!();
      assert.equal((await second).body, 'A /slow/x #2');
      s.a.held[0]!();
      assert.equal((await first).body, 'A /slow/x #1', 'the client that asked before the purge gets its answer');
      const third = await get(edge, A, '/slow/x');
      assert.equal(third.cache, 'HIT');
      assert.equal(third.body, 'A /slow/x #2', 'never the answer of the fetch begun before the purge');
      assert.equal(s.a.count('/slow/x'), 2);
    } finally {
      s.a.held.forEach((send) => send());
      await s.done(edge);
    }
  });
}

test('bans survive a restart on the same cache: banned objects on disk are never served', async () => {
  const s = await setUp();
  let first: BusEdge | undefined = await bootEdge(s.bus, s.tmp.dir, { enabled: false });
  let second: BusEdge | undefined;
  try {
    for (const t of ['/r/a', '/r/b', '/keep']) await get(first.edge, A, t);
    await s.relay.purge({ customerId: 'customer-a', kind: 'PREFIX', value: '/r/' });
    await applied(first.edge, s.relay);
    assert.equal(first.edge.purges!.backlog().bans, 1);
    await first.edge.close();
    first = undefined;

    second = await bootEdge(s.bus, s.tmp.dir, { enabled: false });
    assert.equal(second.edge.purges!.backlog().held, 1, 'the ban was loaded from the index');
    assert.equal((await get(second.edge, A, '/keep')).cache, 'HIT', 'the cache itself survived (no whole-customer purge)');
    assert.equal((await get(second.edge, A, '/r/a')).cache, 'MISS');
    assert.equal((await get(second.edge, A, '/r/b')).body, 'A /r/b #2');
  } finally {
    await s.done(first?.edge, second?.edge);
  }
});

test('the lurker removes banned files and index entries in batches, retires the ban, and leaves the rest', async () => {
  const s = await setUp();
  const store = fileStore(s.tmp.dir);
  const { edge } = await bootEdge(s.bus, s.tmp.dir, { enabled: false, batchSize: 7 }, store);
  try {
    for (let i = 0; i < 30; i += 1) await get(edge, A, `/l/${i}.txt`);
    for (let i = 0; i < 5; i += 1) await get(edge, A, `/m/${i}.txt`);
    await get(edge, A, '/l/vary/k', { 'accept-language': 'en' });
    await get(edge, B, '/l/0.txt');
    const purges = edge.purges!;
    // The index commits puts in batches: the last response can come before its entry's commit.
    await eventually(() => purges.objects('customer-a') === 37, 2000, '35 objects, a Vary marker and its variant');
    assert.equal(await filesOf(s.tmp.dir, 'customer-a'), 36, 'a marker has no file');
    await s.relay.purge({ customerId: 'customer-a', kind: 'PREFIX', value: '/l/' });
    await applied(edge, s.relay);
    assert.equal(purges.objects('customer-a'), 37, 'applying removed nothing');
    assert.deepEqual(purges.backlog(), { bans: 1, held: 1, objects: 37 });
    // Refetched after the purge, before the lurker runs: its marker is replaced, not reused.
    assert.equal((await get(edge, A, '/l/vary/k', { 'accept-language': 'en' })).cache, 'MISS');

    await purges.lurk();
    assert.equal(purges.objects('customer-a'), 7);
    assert.equal(await filesOf(s.tmp.dir, 'customer-a'), 6);
    assert.equal(purges.stats().lurked, 30);
    assert.equal(purges.stats().scanned, 32, 'one pass over the prefix range only');
    assert.deepEqual(purges.backlog(), { bans: 0, held: 0, objects: 0 }, 'retired in the index and forgotten by this process');
    assert.equal(purges.objects('customer-b'), 1);
    assert.equal((await get(edge, A, '/m/0.txt')).cache, 'HIT');
    assert.equal((await get(edge, A, '/l/0.txt')).cache, 'MISS');
    assert.equal((await get(edge, A, '/l/vary/k', { 'accept-language': 'en' })).cache, 'HIT', 'what was fetched after the purge stays');
    assert.equal((await get(edge, B, '/l/0.txt')).cache, 'HIT');
  } finally {
    await edge.close();
    await store.close();
    await s.done();
  }
});

test('the lurker runs by itself after a purge, and keeps what was fetched since', async () => {
  const s = await setUp();
  const store = fileStore(s.tmp.dir);
  const { edge } = await bootEdge(s.bus, s.tmp.dir, {}, store);
  try {
    for (let i = 0; i < 12; i += 1) await get(edge, A, `/auto/${i}`);
    await get(edge, A, '/vary/k', { 'accept-language': 'en' });
    await s.relay.purge({ customerId: 'customer-a', kind: 'ALL' });
    await applied(edge, s.relay);
    assert.equal((await get(edge, A, '/vary/k', { 'accept-language': 'en' })).cache, 'MISS');
    await eventually(() => edge.purges!.backlog().bans === 0 && edge.purges!.backlog().held === 0, 3000, 'lurker retired the ban');
    await eventually(() => edge.purges!.objects('customer-a') === 2, 2000, 'the Vary marker and variant stored after the purge');
    assert.equal(await filesOf(s.tmp.dir, 'customer-a'), 1, 'a marker has no file');
    assert.equal((await get(edge, A, '/vary/k', { 'accept-language': 'en' })).cache, 'HIT', 'the marker refetched after the purge was not removed');
    assert.equal((await get(edge, A, '/auto/0')).cache, 'MISS');
  } finally {
    await edge.close();
    await store.close();
    await s.done();
  }
});

test('a purge applied twice (same id) is a no-op the second time', async () => {
  const s = await setUp();
  const { edge, acks } = await bootEdge(s.bus, s.tmp.dir);
  try {
    await get(edge, A, '/i/x');
    const purge = await s.relay.purge({ customerId: 'customer-a', kind: 'PREFIX', value: '/i/' });
    await applied(edge, s.relay);
    assert.equal((await get(edge, A, '/i/x')).cache, 'MISS');
    assert.equal((await get(edge, A, '/i/x')).cache, 'HIT', 'fetched after the purge');
    await s.relay.publish([{ kind: 'purge.requested', v: 1, purge }]);
    await applied(edge, s.relay);
    assert.equal((await get(edge, A, '/i/x')).cache, 'HIT', 'the repeat purged nothing');
    assert.equal(s.a.count('/i/x'), 2);
    assert.equal(acks.filter((x) => x.purgeId === purge.id).length, 2, 'both deliveries are acknowledged');
    const urlPurge = await s.relay.purge({ customerId: 'customer-a', kind: 'URL', value: '/i/x' });
    await applied(edge, s.relay);
    await get(edge, A, '/i/x');
    await s.relay.publish([{ kind: 'purge.requested', v: 1, purge: urlPurge }]);
    await applied(edge, s.relay);
    assert.equal((await get(edge, A, '/i/x')).cache, 'HIT');
    assert.deepEqual(acks.filter((x) => x.purgeId === urlPurge.id).map((x) => x.objectsRemoved), [1, 0]);
  } finally {
    await s.done(edge);
  }
});

test('applying a purge reads no object, whether the customer has 20,000 objects or 10', async () => {
  const s = await setUp();
  // 20,000 index entries for customer-a and 10 for customer-b, written before the edge starts.
  const index = new MetadataIndex(path.join(s.tmp.dir, 'cache', INDEX_DIR));
  const now = Date.now();
  const entry = (i: number) => ({ status: 200, headers: {}, storedAt: now, fetchedAt: now, ttl: 3600, size: 0, file: `f${i}`, atime: now });
  for (let i = 0; i < 20_000; i += 1000) {
    await Promise.all(Array.from({ length: 1000 }, (_, j) => index.put('customer-a', `/bulk/${i + j}?`, entry(i + j), 0)));
  }
  for (let i = 0; i < 10; i += 1) await index.put('customer-b', `/bulk/${i}?`, entry(i), 0);
  await index.close();
  const { edge } = await bootEdge(s.bus, s.tmp.dir, { enabled: false });
  try {
    await get(edge, A, '/bulk/real');
    await get(edge, B, '/bulk/real');
    const purges = edge.purges!;
    await eventually(() => purges.objects('customer-a') === 20_001, 2000, 'the object just fetched is committed to the index');
    for (const customerId of ['customer-a', 'customer-b']) {
      await s.relay.purge({ customerId, kind: 'PREFIX', value: '/bulk/' });
      await s.relay.purge({ customerId, kind: 'TAG', value: 'any' });
      await s.relay.purge({ customerId, kind: 'ALL' });
    }
    await applied(edge, s.relay);
    assert.equal(purges.stats().scanned, 0, 'no entry was read to apply them');
    assert.equal(purges.objects('customer-a'), 20_001, 'nothing was removed to apply them');
    assert.equal((await get(edge, A, '/bulk/real')).cache, 'MISS', 'yet they are in effect');
    assert.equal((await get(edge, B, '/bulk/real')).cache, 'MISS');

    await purges.lurk();
    assert.equal(purges.stats().scanned, 20_001 + 11, 'the lurker read each entry once (one pass per customer for all its bans)');
    assert.equal(purges.objects('customer-a'), 1, 'only the object fetched after the purges is left');
    assert.equal(purges.objects('customer-b'), 1);
  } finally {
    await s.done(edge);
  }
});

test('a gap whose snapshot shows a purge above the applied seq purges that customer whole', async () => {
  const s = await setUp({ busMaxLength: 1 });
  const { edge } = await bootEdge(s.bus, s.tmp.dir);
  try {
    for (const t of ['/g/1', '/other/2']) await get(edge, A, t);
    await get(edge, B, '/g/1');
    // Three changes in one batch: the bus keeps only the last, so the edge sees a gap and never the purge itself.
    const origin = s.relay.customers.get('customer-a')!.originUrl;
    await s.relay.publish([
      { kind: 'purge.requested', v: 1, purge: { id: randomUUID(), customerId: 'customer-a', kind: 'URL', value: '/never-cached', soft: false, requestedAt: new Date().toISOString() } },
      { kind: 'customer.upserted', v: 1, customer: customer('customer-c', origin, ['cdn.c.test']) },
      { kind: 'customer.upserted', v: 1, customer: customer('customer-d', origin, ['cdn.d.test']) },
    ]);
    await applied(edge, s.relay);
    assert.equal((await get(edge, A, '/other/2')).cache, 'MISS', 'when in doubt, purge more');
    assert.equal((await get(edge, A, '/g/1')).cache, 'MISS');
    assert.equal((await get(edge, B, '/g/1')).cache, 'HIT', 'a customer without a missed purge keeps its cache');
  } finally {
    await s.done(edge);
  }
});

test('an edge restarting behind a purge it never saw purges that customer whole before serving', async () => {
  const s = await setUp();
  let first: BusEdge | undefined = await bootEdge(s.bus, s.tmp.dir);
  let second: BusEdge | undefined;
  try {
    await get(first.edge, A, '/b/1');
    await get(first.edge, B, '/b/1');
    await first.edge.close();
    first = undefined;
    // Published while the edge is down: it boots from a snapshot that already reflects it, so
    // it never reads the purge itself; only the snapshot's purgeSeqs tell.
    await s.relay.purge({ customerId: 'customer-a', kind: 'PREFIX', value: '/unrelated/' });
    second = await bootEdge(s.bus, s.tmp.dir);
    assert.equal(second.edge.appliedSeq(), s.relay.seq);
    assert.equal((await get(second.edge, A, '/b/1')).cache, 'MISS');
    assert.equal((await get(second.edge, B, '/b/1')).cache, 'HIT');
  } finally {
    await s.done(first?.edge, second?.edge);
  }
});

test('two processes of one edge (shared disk and index, own memory tiers) both apply every purge', async () => {
  const s = await setUp();
  // Like two cluster workers, in one process: each its own feed, memory tier and purge engine over one disk.
  const disk = new DiskTier({ dir: path.join(s.tmp.dir, 'cache'), maxObjectBytes: 1 << 20 });
  const worker = () => new TieredStore(new MemoryTier({ maxBytes: 1 << 20, maxObjectBytes: 1 << 16 }), disk);
  const one = await bootEdge(s.bus, s.tmp.dir, {}, worker());
  const two = await bootEdge(s.bus, s.tmp.dir, {}, worker());
  try {
    for (const e of [one.edge, two.edge]) {
      await get(e, A, '/w/a');
      await get(e, A, '/w/b');
      assert.equal((await get(e, A, '/w/a')).cache, 'HIT');
    }
    await s.relay.purge({ customerId: 'customer-a', kind: 'PREFIX', value: '/w/' });
    await applied(one.edge, s.relay);
    await applied(two.edge, s.relay);
    assert.equal((await get(one.edge, A, '/w/a')).cache, 'MISS');
    assert.equal((await get(two.edge, A, '/w/b')).cache, 'MISS', 'the other process does not serve its memory copy');
    await eventually(() => one.edge.purges!.backlog().held === 0 && two.edge.purges!.backlog().held === 0, 3000, 'both forgot the ban');
    // The first process's client had its answer before the put's batch committed (group commit);
    // the other process sees the entry once it is (see below).
    await disk.idle();
    const after = await get(two.edge, A, '/w/a');
    assert.equal(after.cache, 'HIT');
    assert.equal(after.body, 'A /w/a #2', 'stored by the first process after the purge, not its own memory copy (#1) from before');

    await s.relay.purge({ customerId: 'customer-a', kind: 'URL', value: '/w/a' });
    await applied(one.edge, s.relay);
    await applied(two.edge, s.relay);
    assert.equal((await get(two.edge, A, '/w/a')).body, 'A /w/a #3', 'fetched anew');
    // Another process sees an index entry once its batch is committed; in a cluster the fill lock
    // makes a worker asking meanwhile wait for that commit, and these two share no fill locks.
    await disk.idle();
    assert.equal((await get(one.edge, A, '/w/a')).body, 'A /w/a #3', 'its memory copy (#2) was dropped too: the new object from disk');
  } finally {
    await one.edge.close();
    await two.edge.close();
    await disk.close();
    await s.done();
  }
});

test('a burst of purges published at once is applied in batches: acks in seq order, repeats once, a customer change in between keeps its place', async () => {
  const s = await setUp();
  const { edge, acks } = await bootEdge(s.bus, s.tmp.dir);
  try {
    const cached = [0, 150, 999, 1000, 1200, 1999].map((i) => `/m/${i}`);
    for (const t of [...cached, '/q1?v=1', '/q2?v=1']) await get(edge, A, t);
    for (const lang of ['en', 'fr']) await get(edge, A, '/vary/m', { 'accept-language': lang });
    await get(edge, B, '/m/0');

    const url = (customerId: string, value: string): PurgeRequest => ({ id: randomUUID(), customerId, kind: 'URL', value, soft: false, requestedAt: new Date().toISOString() });
    const purge = (p: PurgeRequest): Change['event'] => ({ kind: 'purge.requested', v: 1, purge: p });
    const events: Change['event'][] = [];
    /** objectsRemoved expected per purge event, in publish order. */
    const expected: number[] = [];
    const add = (p: PurgeRequest, removed: number): void => {
      events.push(purge(p));
      expected.push(removed);
    };
    const first = url('customer-a', '/m/0');
    add(first, 1);
    add(first, 0); // the same id again, in the same read: one effect
    for (let i = 1; i < 1000; i += 1) add(url('customer-a', `/m/${i}`), cached.includes(`/m/${i}`) ? 1 : 0);
    add(url('customer-a', '/vary/m'), 2);
    // Keyed under the policy in force before the upsert below (all parameters, sorted): not the cached `/q1?v=1`.
    add(url('customer-a', '/q1?v=1&utm=9'), 0);
    const ca = { ...customer('customer-a', s.a.url, [A]), queryString: { mode: 'allowlist' as const, allow: ['v'] } };
    events.push({ kind: 'customer.upserted', v: 1, customer: ca }, { kind: 'customer.upserted', v: 1, customer: customer('customer-c', s.b.url, ['cdn.c.test']) });
    // After it, under the allowlist: the cached `/q2?v=1`.
    add(url('customer-a', '/q2?v=1&utm=9'), 1);
    add(url('customer-c', '/c.txt'), 0);
    for (let i = 1000; i < 2000; i += 1) {
      const p = url('customer-a', `/m/${i}`);
      add(p, cached.includes(`/m/${i}`) ? 1 : 0);
      if (i === 1200) add(p, 0); // a repeat right after
    }
    const before = s.relay.seq;
    await s.relay.publish(events);
    await eventually(() => edge.appliedSeq() >= s.relay.seq, 60_000, `seq ${s.relay.seq} applied`);
    await eventually(() => acks.length >= expected.length, 10_000, 'every purge acknowledged');

    const purgeSeqs = events.flatMap((e, i) => (e.kind === 'purge.requested' ? [before + i + 1] : []));
    assert.deepEqual(
      acks.map((a) => a.seq),
      purgeSeqs,
      'one ack per purge event, in seq order',
    );
    assert.deepEqual(
      acks.map((a) => a.objectsRemoved),
      expected,
    );
    assert.deepEqual(
      acks.map((a) => a.purgeId),
      events.flatMap((e) => (e.kind === 'purge.requested' ? [e.purge.id] : [])),
    );
    assert.equal(new Set(acks.filter((a) => a.purgeId === first.id).map((a) => a.appliedAt)).size, 1, 'a repeat reports the first ban time');

    assert.equal((await get(edge, 'cdn.c.test', '/c.txt')).status, 200, 'the customer added in the middle serves');
    for (const t of cached) {
      const r = await get(edge, A, t);
      assert.equal(r.cache, 'MISS', t);
      assert.equal(r.body, `A ${t} #2`, `${t} fetched once more, not twice`);
    }
    assert.equal((await get(edge, A, '/vary/m', { 'accept-language': 'en' })).cache, 'MISS');
    assert.equal((await get(edge, A, '/q1?v=1')).cache, 'HIT', 'the purge before the upsert was keyed under the old policy');
    assert.equal((await get(edge, A, '/q2?v=1')).cache, 'MISS', 'the purge after the upsert was keyed under the new one');
    assert.equal((await get(edge, B, '/m/0')).cache, 'HIT', 'another customer untouched');
    assert.equal(edge.purges!.stats().applied, expected.length);
  } finally {
    await s.done(edge);
  }
});
