/**
 * The purge engine (src/edge/purge/purge.engine.ts) over the store the edge runs (the
 * tiered store: memory over a real disk tier and its LMDB index, in a temp folder), with a
 * clock the test moves, and the lurker run by hand: what each kind of purge does to the
 * objects lookups find (docs/EDGE.md, "Purges on the edge"), the put admission, seq order,
 * idempotence by purge id, which fetches in flight may still be joined, and what backlog()
 * reports. The rules alone are in edge.purge-rules.test.ts, the index in
 * edge.purge-index.test.ts, purges through a running edge in
 * test/integration/edge.purge.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { applyQueryPolicy } from '../../src/core/delivery-rules.apply';
import type { QueryKeyPolicy } from '../../src/core/delivery-rules.types';
import type { PurgeKind, PurgeRequest } from '../../src/core/purge.types';
import { cacheKey, variantKey } from '../../src/edge/cache/cache-key';
import type { ObjectMeta } from '../../src/edge/cache/cache-store.port';
import { DiskTier } from '../../src/edge/cache/disk.tier';
import { MemoryTier } from '../../src/edge/cache/memory.tier';
import { TieredStore } from '../../src/edge/cache/tiered.store';
import { Flights } from '../../src/edge/pipeline/fetch.flight';
import { purgeTargetOf, type PurgeIndex } from '../../src/edge/purge/purge-index.port';
import { createPurgeEngine, type PurgeEngine } from '../../src/edge/purge/purge.engine';
import { createLogger } from '../../src/obs/logger.factory';
import { tempDir } from '../support/cache-store.fixtures';
import { customer, flightContext, ManualClock } from '../support/flight.fakes';

const A = 'customer-a';
const B = 'customer-b';
const GRACE_MS = 5_000;

interface Edge {
  engine: PurgeEngine;
  store: TieredStore;
  clock: ManualClock;
  /** Stores an object fetched at `fetchedAt` (default: now) and returns its key. */
  put(customerId: string, path: string, options?: { query?: string; fetchedAt?: number; tags?: string[]; variant?: string; vary?: string[] }): Promise<string>;
  /** What a lookup of `key` would be told: 'gone' when the store no longer has it. */
  verdict(key: string): Promise<'hard' | 'soft' | 'gone' | undefined>;
  purge(kind: PurgeKind, value: string | null, options?: { soft?: boolean; id?: string; customerId?: string }): PurgeRequest;
  /** Another process of the edge (or this one restarted): its own memory tier and engine over the same disk. */
  sibling(): Promise<{ engine: PurgeEngine; store: TieredStore }>;
  /** An engine over this store whose index is seen through `wrap` (a slow disk). */
  engineWith(wrap: (index: PurgeIndex) => PurgeIndex): PurgeEngine;
}

async function withEdge(run: (edge: Edge) => Promise<void>): Promise<void> {
  const tmp = await tempDir();
  const clock = new ManualClock();
  const disks: DiskTier[] = [];
  const engines: PurgeEngine[] = [];
  const policies = new Map<string, QueryKeyPolicy>([[A, { mode: 'allow', names: ['v'] }]]);
  const queryOf = (id: string, _path: string, query: string) => applyQueryPolicy(query, policies.get(id) ?? { mode: 'all' });
  const options = { clock, logger: createLogger({ name: 'test', level: 'silent' }), queryOf, enabled: false, forgetGraceMs: GRACE_MS };
  const open = (): { store: TieredStore; engine: PurgeEngine } => {
    const disk = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1 << 20, recover: false });
    disks.push(disk);
    const store = new TieredStore(new MemoryTier({ maxBytes: 1 << 20, maxObjectBytes: 1 << 16 }), disk);
    const engine = createPurgeEngine(store, options)!;
    engines.push(engine);
    return { store, engine };
  };
  const { store, engine } = open();
  const engineWith = (wrap: (index: PurgeIndex) => PurgeIndex): PurgeEngine => {
    const target = purgeTargetOf(store)!;
    const other = createPurgeEngine({ purgeTarget: () => ({ index: wrap(target.index), memory: target.memory }) }, options)!;
    engines.push(other);
    return other;
  };
  let n = 0;
  try {
    await run({
      engine,
      store,
      clock,
      async put(customerId, path, o = {}) {
        const url = cacheKey(customerId, path, o.query ?? '');
        const key = o.variant === undefined ? url : variantKey(url, o.variant);
        const fetchedAt = o.fetchedAt ?? clock.now();
        const meta: Omit<ObjectMeta, 'size' | 'key'> = { status: 200, headers: { 'content-type': 'text/plain' }, storedAt: fetchedAt + 1, fetchedAt, ttl: 3600, policy: { v: 1 } };
        if (o.tags !== undefined) meta.tags = o.tags;
        if (o.vary !== undefined) meta.vary = o.vary;
        const outcome = await store.put(key, meta, Readable.from(o.vary === undefined ? [Buffer.from(`body of ${key}`)] : []));
        assert.equal(outcome, 'stored', `${key} stored`);
        return key;
      },
      async verdict(key) {
        const found = await store.get(key);
        if (found === undefined) return 'gone';
        await found.release();
        return engine.judge(key.slice(0, key.indexOf('\n')), found.meta);
      },
      purge(kind, value, o = {}) {
        n += 1;
        return { id: o.id ?? `purge-${n}`, customerId: o.customerId ?? A, kind, value, soft: o.soft ?? false, requestedAt: new Date(clock.now()).toISOString() };
      },
      engineWith,
      async sibling() {
        const other = open();
        await other.engine.restore();
        return other;
      },
    });
  } finally {
    for (const e of engines) await e.close();
    for (const d of disks) await d.close();
    await tmp.remove();
  }
}

test('URL purge: the key lookups use (query as the customer\'s policy keeps it) and its Vary variants go at once; nothing else', async () => {
  await withEdge(async (edge) => {
    const url = await edge.put(A, '/u', { query: 'v=2' });
    await edge.put(A, '/vary', { vary: ['accept-language'] });
    const en = await edge.put(A, '/vary', { variant: 'en' });
    const fr = await edge.put(A, '/vary', { variant: 'fr' });
    const other = await edge.put(A, '/u', { query: 'v=3' });
    const otherCustomer = await edge.put(B, '/u', { query: 'v=2' });
    edge.clock.advance(1000);

    // The allowlist keeps only `v`: the purge of `/u?utm=x&v=2` is the purge of `/u?v=2`.
    const [first, second] = await edge.engine.applyMany([
      { purge: edge.purge('URL', '/u?utm=x&v=2'), seq: 1 },
      { purge: edge.purge('URL', 'https://cdn.a.test/vary'), seq: 2 },
    ]);
    assert.equal(first!.objectsRemoved, 1);
    assert.equal(second!.objectsRemoved, 2, 'both variants; the Vary marker is not an object');
    for (const key of [url, en, fr]) {
      assert.equal(edge.store.memory.has(key), false, 'forgotten by this process\'s memory tier');
      assert.equal(await edge.verdict(key), 'gone');
    }
    assert.equal(await edge.verdict(other), undefined, 'another query of the same path is kept');
    assert.equal(await edge.verdict(otherCustomer), undefined, 'the same URL of another customer is kept');
    assert.equal(edge.engine.backlog().bans, 0, 'a URL purge leaves no ban behind');
  });
});

test('soft URL purge: the object stays but is stale; a revalidation after it makes it fresh again', async () => {
  await withEdge(async (edge) => {
    const key = await edge.put(A, '/s');
    edge.clock.advance(1000);
    const applied = await edge.engine.apply(edge.purge('URL', '/s', { soft: true }), 1);
    assert.equal(applied.objectsRemoved, 1, 'marked stale counts');
    assert.equal(await edge.verdict(key), 'soft');
    edge.clock.advance(1000);
    const found = (await edge.store.get(key))!;
    // What a 304 does (fetch.flight.ts): fetchedAt moves on.
    const { key: _k, size: _s, ...meta } = found.meta;
    await edge.store.updateMeta(key, { ...meta, fetchedAt: edge.clock.now() });
    assert.equal(await edge.verdict(key), undefined);
  });
});

test('PREFIX, TAG and ALL purges: covered objects are judged hard (a miss) or soft (stale) at once, nothing is removed, and only what the ban covers', async () => {
  const cases: Array<{ kind: PurgeKind; value: string | null; soft: boolean; covered: string[] }> = [
    { kind: 'PREFIX', value: '/img/', soft: false, covered: ['/img/a.png', '/img/b.png', '/img/at-the-ban.png'] },
    { kind: 'PREFIX', value: 'https://cdn.a.test/img/', soft: true, covered: ['/img/a.png', '/img/b.png', '/img/at-the-ban.png'] },
    { kind: 'TAG', value: 'red', soft: true, covered: ['/img/a.png', '/css/c.css'] },
    { kind: 'TAG', value: 'red', soft: false, covered: ['/img/a.png', '/css/c.css'] },
    { kind: 'ALL', value: null, soft: false, covered: ['/img/a.png', '/img/b.png', '/img/at-the-ban.png', '/css/c.css'] },
    // A value that would cover nothing by mistake covers everything (when in doubt, purge more).
    { kind: 'PREFIX', value: '', soft: false, covered: ['/img/a.png', '/img/b.png', '/img/at-the-ban.png', '/css/c.css'] },
  ];
  for (const c of cases) {
    await withEdge(async (edge) => {
      const at = edge.clock.now() + 1000;
      const keys = new Map<string, string>([
        ['/img/a.png', await edge.put(A, '/img/a.png', { tags: ['red'], fetchedAt: at - 500 })],
        ['/img/b.png', await edge.put(A, '/img/b.png', { tags: ['blue'], fetchedAt: at - 500 })],
        // A fetch that began exactly at the ban's time is covered: it may carry what was purged.
        ['/img/at-the-ban.png', await edge.put(A, '/img/at-the-ban.png', { fetchedAt: at })],
        ['/css/c.css', await edge.put(A, '/css/c.css', { tags: ['red'], fetchedAt: at - 500 })],
      ]);
      const otherCustomer = await edge.put(B, '/img/a.png', { tags: ['red'], fetchedAt: at - 500 });
      edge.clock.advance(1000);
      const applied = await edge.engine.apply(edge.purge(c.kind, c.value, { soft: c.soft }), 1);
      assert.equal(applied.objectsRemoved, 0, 'a ban reads and removes nothing when applied');
      assert.equal(edge.engine.objects(A), 4);
      const later = await edge.put(A, '/img/later.png', { tags: ['red'], fetchedAt: at + 1 });
      const label = `${c.soft ? 'soft' : 'hard'} ${c.kind} ${String(c.value)}`;
      for (const [path, key] of keys) {
        assert.equal(await edge.verdict(key), c.covered.includes(path) ? (c.soft ? 'soft' : 'hard') : undefined, `${label}: ${path}`);
      }
      assert.equal(await edge.verdict(later), undefined, `${label}: fetched after the ban`);
      assert.equal(await edge.verdict(otherCustomer), undefined, `${label}: another customer`);
    });
  }
});

test('the put admission: a fetch that began at or before a purge covering it never stores its answer after it', async () => {
  await withEdge(async (edge) => {
    const begun = edge.clock.now();
    edge.clock.advance(1000);
    await edge.engine.applyMany([
      { purge: edge.purge('PREFIX', '/img/'), seq: 1 },
      { purge: edge.purge('URL', '/page'), seq: 2 },
    ]);
    const meta = { status: 200, headers: {}, storedAt: edge.clock.now(), fetchedAt: begun, ttl: 60 };
    assert.equal(await edge.store.put(cacheKey(A, '/img/x.png', ''), meta, Readable.from([Buffer.from('old')])), 'aborted');
    assert.equal(await edge.store.put(cacheKey(A, '/page', ''), meta, Readable.from([Buffer.from('old')])), 'aborted', 'a URL purge is remembered too');
    assert.equal(await edge.store.get(cacheKey(A, '/img/x.png', '')), undefined);
    assert.equal(await edge.store.put(cacheKey(A, '/css/x.css', ''), meta, Readable.from([Buffer.from('kept')])), 'stored', 'not covered');
    assert.equal(await edge.store.put(cacheKey(B, '/img/x.png', ''), meta, Readable.from([Buffer.from('kept')])), 'stored', 'another customer');
    edge.clock.advance(1);
    assert.equal(await edge.store.put(cacheKey(A, '/img/x.png', ''), { ...meta, fetchedAt: edge.clock.now() }, Readable.from([Buffer.from('new')])), 'stored', 'a fetch begun after the purge');
  });
});

test('purges take effect in seq order, whatever order they are handed over in, and one call after another', async () => {
  await withEdge(async (edge) => {
    const ticking = edge.clock;
    const now = ticking.now.bind(ticking);
    // Every reading of the clock a millisecond later: the order of ban times is the order of application.
    ticking.now = () => (ticking.advance(1), now());
    const applied = await edge.engine.applyMany([
      { purge: edge.purge('TAG', 'c'), seq: 12 },
      { purge: edge.purge('TAG', 'a'), seq: 10 },
      { purge: edge.purge('TAG', 'b'), seq: 11 },
    ]);
    assert.deepEqual(applied.map((a) => a.seq), [10, 11, 12]);
    assert.ok(applied[0]!.appliedAt < applied[1]!.appliedAt && applied[1]!.appliedAt < applied[2]!.appliedAt, 'ban times follow seq');
    // Calls that overlap are applied one after the other, in call order.
    const [x, y] = await Promise.all([edge.engine.apply(edge.purge('PREFIX', '/x/'), 13), edge.engine.apply(edge.purge('PREFIX', '/y/'), 14)]);
    assert.ok(x.appliedAt < y.appliedAt);
  });
});

test('a purge applied again (same id: a repeat on the bus, another process of the edge, a restart) changes nothing', async () => {
  await withEdge(async (edge) => {
    const page = await edge.put(A, '/page');
    // Another process of the edge has the object in its own memory tier.
    const sibling = await edge.sibling();
    await (await sibling.store.get(page))!.release();
    assert.equal(sibling.store.memory.has(page), true);
    edge.clock.advance(1000);
    const purge = edge.purge('URL', '/page');
    const first = await edge.engine.apply(purge, 1);
    assert.deepEqual([first.objectsRemoved, first.duplicate], [1, false]);
    edge.clock.advance(1000);
    const refetched = await edge.put(A, '/page');
    edge.clock.advance(1000);
    const repeat = await edge.engine.apply(purge, 1);
    assert.deepEqual([repeat.objectsRemoved, repeat.duplicate, repeat.appliedAt], [0, true, first.appliedAt], 'reported with the first time');
    assert.equal(await edge.verdict(refetched), undefined, 'what was fetched since is not purged by the repeat');

    const ban = edge.purge('PREFIX', '/img/');
    const [once, twice] = await edge.engine.applyMany([
      { purge: ban, seq: 2 },
      { purge: ban, seq: 2 },
    ]);
    assert.deepEqual([once!.duplicate, twice!.duplicate], [false, true], 'a repeat inside one burst too');
    assert.equal(edge.engine.backlog().bans, 1);

    edge.clock.advance(1000);
    const [urlAgain, banAgain] = await sibling.engine.applyMany([
      { purge, seq: 1 },
      { purge: ban, seq: 2 },
    ]);
    assert.deepEqual([banAgain!.duplicate, banAgain!.appliedAt], [true, once!.appliedAt], 'another process uses the recorded time');
    assert.equal(edge.engine.backlog().bans, 1);
    assert.equal(urlAgain!.duplicate, true);
    assert.equal(sibling.store.memory.has(page), false, 'the other process forgets the purged URL from its memory tier when it applies the repeat');
  });
});

test('a purge handed over while an earlier one is still being written waits for it: effects never overtake each other', async () => {
  await withEdge(async (edge) => {
    let open!: () => void;
    const held = new Promise<void>((resolve) => (open = resolve));
    let calls = 0;
    // The first write is slow (a busy disk); the second would be quick.
    const engine = edge.engineWith((index) =>
      new Proxy(index, {
        get(target, name) {
          const value = Reflect.get(target, name, target) as unknown;
          if (name === 'recordPurgeMany') {
            return async (...args: Parameters<PurgeIndex['recordPurgeMany']>) => {
              calls += 1;
              if (calls === 1) await held;
              return target.recordPurgeMany(...args);
            };
          }
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }),
    );
    const order: number[] = [];
    const first = engine.apply(edge.purge('TAG', 'a'), 1).then(() => void order.push(1));
    const second = engine.apply(edge.purge('TAG', 'b'), 2).then(() => void order.push(2));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(order, [], 'the second waits for the first');
    assert.equal(calls, 1, 'and has not been written yet');
    open();
    await Promise.all([first, second]);
    assert.deepEqual(order, [1, 2]);
  });
});

test('durable() waits for every purge handed over before it', async () => {
  await withEdge(async (edge) => {
    const settled: number[] = [];
    const pending = [1, 2, 3].map((seq) => edge.engine.apply(edge.purge('PREFIX', `/p${seq}/`), seq).then(() => void settled.push(seq)));
    await edge.engine.durable();
    assert.deepEqual(settled, [1, 2, 3]);
    await Promise.all(pending);
  });
});

test('joinable: a fetch begun before a purge of its customer is not joined after it; later fetches and other customers are', async () => {
  await withEdge(async (edge) => {
    const t0 = edge.clock.now();
    assert.equal(edge.engine.joinable(A, t0), true, 'no purge yet');
    // The edge's wiring (server.ts): Flights asks the engine.
    const ctx = flightContext({ clock: edge.clock });
    const flights = new Flights({ joinable: (f) => edge.engine.joinable(f.req.customer.id, f.startedAt) });
    const c = customer(A);
    const key = cacheKey(A, '/hot', '');
    const flight = flights.start({ key, collapseKey: key, customer: c, path: '/hot', requestHeaders: {}, domain: 'cdn.a.test', clientIp: undefined }, ctx);
    flight.attach();
    assert.equal(flights.get(key), flight);
    edge.clock.advance(1000);
    // Any purge of the customer, even of another URL: the fetch may be carrying what it removed.
    const applied = await edge.engine.apply(edge.purge('URL', '/elsewhere'), 1);
    assert.equal(flights.get(key), undefined, 'a request arriving now starts its own fetch');
    assert.equal(edge.engine.joinable(A, t0), false);
    assert.equal(edge.engine.joinable(A, applied.appliedAt), false, 'begun at the purge\'s time: not joined');
    assert.equal(edge.engine.joinable(A, applied.appliedAt + 1), true);
    assert.equal(edge.engine.joinable(B, t0), true, 'another customer\'s fetches are unaffected');
    (await ctx.origin.call(0)).respond(500).finish();
    await flight.result;
  });
});

test('backlog(): active bans, bans held by this process, and the objects they may still cover, until the lurker and the grace are done', async () => {
  await withEdge(async (edge) => {
    assert.deepEqual(edge.engine.backlog(), { bans: 0, held: 0, objects: 0 });
    for (const p of ['/img/1', '/img/2', '/css/3']) await edge.put(A, p, { tags: ['t'] });
    for (const p of ['/x', '/y']) await edge.put(B, p, { tags: ['t'] });
    await edge.put('customer-c', '/z');
    edge.clock.advance(1000);
    await edge.engine.apply(edge.purge('URL', '/css/3'), 1);
    assert.deepEqual(edge.engine.backlog(), { bans: 0, held: 0, objects: 0 }, 'a URL purge is done when applied');
    await edge.engine.apply(edge.purge('PREFIX', '/img/'), 2);
    assert.deepEqual(edge.engine.backlog(), { bans: 1, held: 1, objects: 2 }, 'the customer\'s objects: an upper bound of what is left to scan');
    await edge.engine.apply(edge.purge('TAG', 't', { customerId: B, soft: true }), 3);
    assert.deepEqual(edge.engine.backlog(), { bans: 2, held: 2, objects: 4 });

    await edge.engine.lurk();
    assert.deepEqual(edge.engine.backlog(), { bans: 0, held: 2, objects: 0 }, 'retired, but still checked by lookups for the grace');
    assert.equal(edge.engine.objects(A), 0, 'the lurker removed what the hard ban covers from the disk');
    assert.equal(edge.engine.stats().lurked, 4, 'and marked what the soft one covers');
    assert.equal(await edge.verdict(cacheKey(A, '/img/1', '')), 'hard', 'this process\'s memory tier may still hold it: the ban is still checked');
    edge.clock.advance(GRACE_MS);
    await edge.engine.lurk();
    assert.deepEqual(edge.engine.backlog(), { bans: 0, held: 0, objects: 0 });
    assert.equal(await edge.verdict(cacheKey(A, '/img/1', '')), 'gone', 'the memory tier was swept before the ban was forgotten');
    assert.equal(await edge.verdict(cacheKey(B, '/x', '')), 'soft', 'the soft mark outlives the ban');
    assert.equal(await edge.verdict(cacheKey('customer-c', '/z', '')), undefined);
  });
});
