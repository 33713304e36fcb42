/**
 * Purges through the GraphQL API on real PostgreSQL over real HTTP (and graphql-ws):
 * validation (nothing written on bad input), the purge row and its one outbox change,
 * paging, the snapshot's purge seqs, and delivery as the edges report it. The edges are
 * played by the test, writing heartbeats and acks to the api's MemoryFleet as a real edge
 * would once it applied a purge from the bus.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type Client } from 'graphql-ws';
import { loadApiConfig } from '../../src/api/config';
import { startApi } from '../../src/api/server';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import type { EdgeStatus, PurgeAck } from '../../src/core/fleet.port';
import { PURGE_VALUE_MAX_CHARS } from '../../src/core/purge.types';
import { createLogger } from '../../src/obs/logger.factory';
import { countRows, maxChangeSeq, SECRET_KEY, startTestApi, TOKEN, type GqlResponse, type TestApi, wsClient } from './api.harness';

const PURGE_FIELDS = 'id kind value soft seq requestedAt completedAt edgesTotal edgesApplied customer { id } edges { edgeId live appliedAt objectsRemoved }';
const PURGE_CACHE = `mutation($input: PurgeInput!) { purgeCache(input: $input) { ${PURGE_FIELDS} } }`;
const GET_PURGE = `query($id: ID!) { purge(id: $id) { ${PURGE_FIELDS} } }`;
const LIST = `query($c: ID!, $first: Int, $after: String) { purges(customerId: $c, first: $first, after: $after) { totalCount nodes { id requestedAt } pageInfo { endCursor hasNextPage } } }`;
const EDGES = '{ edges { edgeId host version appliedSeq lastHeartbeat ready cacheObjects cacheBytes role shieldUrl } }';

type PurgeEdge = { edgeId: string; live: boolean; appliedAt: string | null; objectsRemoved: number | null };
type Purge = {
  id: string;
  kind: string;
  value: string | null;
  soft: boolean;
  seq: number;
  requestedAt: string;
  completedAt: string | null;
  edgesTotal: number;
  edgesApplied: number;
  customer: { id: string };
  edges: PurgeEdge[];
};

type PurgePage = { totalCount: number; nodes: Array<{ id: string; requestedAt: string }>; pageInfo: { endCursor: string | null; hasNextPage: boolean } };

let t: TestApi;

before(async () => {
  t = await startTestApi();
  for (const id of ['p-alpha', 'p-beta', 'p-page', 'p-gone']) {
    const res = await t.gql(
      'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }',
      { input: { id, name: id, originUrl: `https://origin.${id}.example`, domains: [`cdn.${id}.example`, `www.${id}.example`] } },
    );
    assert.equal(res.errors, undefined, res.text);
  }
});

after(async () => {
  await t.close();
});

async function purgeCache(input: Record<string, unknown>): Promise<Purge> {
  const res = await t.gql<{ purgeCache: Purge }>(PURGE_CACHE, { input });
  assert.equal(res.errors, undefined, res.text);
  return res.data!.purgeCache;
}

async function getPurge(id: string): Promise<Purge | null> {
  const res = await t.gql<{ purge: Purge | null }>(GET_PURGE, { id });
  assert.equal(res.errors, undefined, res.text);
  return res.data!.purge;
}

/** An edge process as the test plays it: heartbeats (live for a minute) and acks. */
function edge(edgeId: string) {
  const startedAt = new Date().toISOString();
  return {
    edgeId,
    async heartbeat(appliedSeq: number, extra: Partial<EdgeStatus> = {}): Promise<string> {
      const heartbeatAt = new Date().toISOString();
      await t.fleet.heartbeat(
        { edgeId, host: `${edgeId}.test`, pid: 4242, version: '9.9.9-test', appliedSeq, ready: true, startedAt, heartbeatAt, cacheObjects: 12, cacheBytes: 3 * 2 ** 32, ...extra },
        60_000,
      );
      return heartbeatAt;
    },
    async ack(purge: { id: string; seq: number }, objectsRemoved = 3): Promise<PurgeAck> {
      const ack: PurgeAck = { purgeId: purge.id, seq: purge.seq, edgeId, appliedAt: new Date().toISOString(), objectsRemoved };
      await t.fleet.ack([ack]);
      return ack;
    },
    leave: () => t.fleet.leave(edgeId),
  };
}

/** Polls until `check` returns a value other than undefined (the api works in the background). */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function storedAcks(purgeId: string): Promise<number> {
  const rows: Array<{ n: string }> = await t.dataSource.query('SELECT count(*) AS n FROM purge_edge WHERE purge_id = $1', [purgeId]);
  return Number(rows[0]!.n);
}

const waitForStoredAcks = (purgeId: string, n: number): Promise<true> =>
  eventually(`${n} stored acks of ${purgeId}`, async () => ((await storedAcks(purgeId)) >= n ? true : undefined));

describe('purgeCache validation: bad input gets a clear error and writes nothing', () => {
  const cases: Array<[label: string, input: Record<string, unknown>, code: string, fragment: RegExp]> = [
    ['unknown customer', { customerId: 'nobody', kind: 'ALL' }, 'NOT_FOUND', /Customer "nobody" does not exist/],
    ['URL without a value', { customerId: 'p-alpha', kind: 'URL' }, 'BAD_USER_INPUT', /input\.value: is required for kind URL: a path such as \/img\/logo\.png/],
    ['URL that is a relative path', { customerId: 'p-alpha', kind: 'URL', value: 'img/logo.png' }, 'BAD_USER_INPUT', /input\.value: must be a path starting with "\/".*got "img\/logo\.png"/],
    ['URL of another host', { customerId: 'p-alpha', kind: 'URL', value: 'https://evil.example/img/logo.png' }, 'BAD_USER_INPUT', /host "evil\.example" is not a domain of customer "p-alpha" \(its domains: cdn\.p-alpha\.example, www\.p-alpha\.example\)/],
    ['URL of another customer\'s host', { customerId: 'p-alpha', kind: 'PREFIX', value: 'https://cdn.p-beta.example/img/' }, 'BAD_USER_INPUT', /host "cdn\.p-beta\.example" is not a domain of customer "p-alpha"/],
    ['URL with an ftp scheme', { customerId: 'p-alpha', kind: 'URL', value: 'ftp://cdn.p-alpha.example/a' }, 'BAD_USER_INPUT', /must be a path starting with "\/" .* or an http\(s\) URL/],
    ['URL with a space', { customerId: 'p-alpha', kind: 'URL', value: '/a b.png' }, 'BAD_USER_INPUT', /must not contain spaces or control characters; percent-encode/],
    ['URL with a fragment', { customerId: 'p-alpha', kind: 'URL', value: '/a.png#top' }, 'BAD_USER_INPUT', /must not contain a fragment/],
    ['empty PREFIX', { customerId: 'p-alpha', kind: 'PREFIX', value: '' }, 'BAD_USER_INPUT', /an empty prefix matches every object of the customer; to purge every object of the customer, use kind ALL/],
    ['PREFIX "/"', { customerId: 'p-alpha', kind: 'PREFIX', value: '/' }, 'BAD_USER_INPUT', /the prefix "\/" matches every object of the customer; .*use kind ALL/],
    ['PREFIX of a whole site as a URL', { customerId: 'p-alpha', kind: 'PREFIX', value: 'https://cdn.p-alpha.example/' }, 'BAD_USER_INPUT', /\(path "\/"\) matches every object of the customer; .*use kind ALL/],
    ['PREFIX without a value', { customerId: 'p-alpha', kind: 'PREFIX' }, 'BAD_USER_INPUT', /is required for kind PREFIX.*use kind ALL/],
    ['ALL with a value', { customerId: 'p-alpha', kind: 'ALL', value: '/img/' }, 'BAD_USER_INPUT', /input\.value: must be left out for kind ALL/],
    ['empty TAG', { customerId: 'p-alpha', kind: 'TAG', value: '' }, 'BAD_USER_INPUT', /input\.value: must not be empty: a tag such as product-42/],
    ['TAG with a space', { customerId: 'p-alpha', kind: 'TAG', value: 'a b' }, 'BAD_USER_INPUT', /must be one tag, without spaces or commas, got "a b"/],
    ['TAG with a comma', { customerId: 'p-alpha', kind: 'TAG', value: 'a,b' }, 'BAD_USER_INPUT', /must be one tag, without spaces or commas, got "a,b"/],
    ['value too long', { customerId: 'p-alpha', kind: 'URL', value: `/${'a'.repeat(PURGE_VALUE_MAX_CHARS)}` }, 'BAD_USER_INPUT', new RegExp(`is ${PURGE_VALUE_MAX_CHARS + 1} characters long; the most is ${PURGE_VALUE_MAX_CHARS}`)],
    ['wait timeout 0', { customerId: 'p-alpha', kind: 'ALL', waitForEdges: true, waitTimeoutMs: 0 }, 'BAD_USER_INPUT', /input\.waitTimeoutMs: must be a whole number of milliseconds from 1 to 60000, got 0/],
    ['wait timeout over a minute', { customerId: 'p-alpha', kind: 'ALL', waitTimeoutMs: 60_001 }, 'BAD_USER_INPUT', /from 1 to 60000, got 60001/],
    ['unknown kind', { customerId: 'p-alpha', kind: 'BAN', value: '/a' }, 'BAD_USER_INPUT', /"BAN".*PurgeKind/],
  ];
  for (const [label, input, code, fragment] of cases) {
    test(label, async () => {
      const before = [await countRows(t, 'purge'), await countRows(t, 'change_log')];
      const res = await t.gql(PURGE_CACHE, { input });
      assert.equal(res.data ?? null, null);
      assert.equal(res.errors?.length, 1, res.text);
      assert.equal(res.errors![0]!.extensions.code, code, res.text);
      assert.match(res.errors![0]!.message, fragment);
      assert.deepEqual([await countRows(t, 'purge'), await countRows(t, 'change_log')], before, 'nothing written');
    });
  }

  test('every problem is reported at once, with the fields in extensions', async () => {
    const res = await t.gql(PURGE_CACHE, { input: { customerId: 'p-alpha', kind: 'TAG', value: 'x y', waitTimeoutMs: -5 } });
    const err = res.errors![0]!;
    assert.equal(err.extensions.cdnCode, 'CDN_ERR_INPUT_INVALID');
    assert.deepEqual((err.extensions.fields as Array<{ field: string }>).map((f) => f.field), ['input.value', 'input.waitTimeoutMs']);
  });
});

describe('purgeCache writes the purge and its change in one transaction', () => {
  test('one purge row and exactly one outbox row, with the same seq, relayed to the bus', async () => {
    const [purgesBefore, seqBefore, rowsBefore] = [await countRows(t, 'purge'), await maxChangeSeq(t), await countRows(t, 'change_log')];
    const purge = await purgeCache({ customerId: 'p-alpha', kind: 'URL', value: 'https://CDN.p-alpha.example./img/logo.png?v=2', soft: true });
    assert.equal(purge.kind, 'URL');
    assert.equal(purge.value, '/img/logo.png?v=2', 'an absolute URL on a domain of the customer is kept as its path?query');
    assert.equal(purge.soft, true);
    assert.equal(purge.customer.id, 'p-alpha');
    assert.ok(purge.seq > seqBefore);
    assert.equal(await countRows(t, 'purge'), purgesBefore + 1);
    assert.equal(await countRows(t, 'change_log'), rowsBefore + 1);

    const [row] = (await t.dataSource.query('SELECT seq, kind, customer_id, payload FROM change_log WHERE seq > $1', [seqBefore])) as Array<{
      seq: string;
      kind: string;
      customer_id: string;
      payload: Record<string, unknown>;
    }>;
    const event = { kind: 'purge.requested', v: 1, purge: { id: purge.id, customerId: 'p-alpha', kind: 'URL', value: '/img/logo.png?v=2', soft: true, requestedAt: purge.requestedAt } };
    assert.deepEqual({ seq: Number(row!.seq), kind: row!.kind, customerId: row!.customer_id, payload: row!.payload }, { seq: purge.seq, kind: 'purge.requested', customerId: 'p-alpha', payload: event });
    const stored = await t.dataSource.query('SELECT customer_id, seq, kind, value, soft, requested_by FROM purge WHERE id = $1', [purge.id]);
    assert.deepEqual(stored, [{ customer_id: 'p-alpha', seq: String(purge.seq), kind: 'URL', value: '/img/logo.png?v=2', soft: true, requested_by: 'admin' }]);

    await t.waitForBusSeq(purge.seq);
    const read = await t.bus.read(purge.seq - 1, { blockMs: 0 });
    assert.equal(read.kind, 'changes');
    const change = read.kind === 'changes' ? read.changes.find((c) => c.seq === purge.seq) : undefined;
    assert.deepEqual(change?.event, event);
  });

  test('the kinds: a path, a prefix, a tag and ALL are kept as given (ALL without a value)', async () => {
    assert.equal((await purgeCache({ customerId: 'p-alpha', kind: 'URL', value: '/a.png' })).value, '/a.png');
    assert.equal((await purgeCache({ customerId: 'p-alpha', kind: 'PREFIX', value: '/img/' })).value, '/img/');
    assert.equal((await purgeCache({ customerId: 'p-alpha', kind: 'PREFIX', value: 'http://www.p-alpha.example/img' })).value, '/img');
    assert.equal((await purgeCache({ customerId: 'p-alpha', kind: 'TAG', value: 'product-42' })).value, 'product-42');
    const all = await purgeCache({ customerId: 'p-alpha', kind: 'ALL' });
    assert.deepEqual([all.kind, all.value, all.soft], ['ALL', null, false]);
  });

  test('the snapshot carries each existing customer\'s latest purge seq', async () => {
    const a = await purgeCache({ customerId: 'p-alpha', kind: 'TAG', value: 'snap' });
    const b1 = await purgeCache({ customerId: 'p-beta', kind: 'URL', value: '/b' });
    const b2 = await purgeCache({ customerId: 'p-beta', kind: 'ALL' });
    await purgeCache({ customerId: 'p-gone', kind: 'ALL' });
    assert.ok(b2.seq > b1.seq);
    const del = await t.gql('mutation { deleteCustomer(id: "p-gone") }');
    assert.equal(del.errors, undefined);
    const seq = await maxChangeSeq(t);
    await t.waitForBusSeq(seq);
    const snapshot = (await t.bus.readSnapshot())!;
    assert.equal(snapshot.seq, seq);
    // p-page has no purges yet; p-gone's went with it.
    assert.deepEqual(snapshot.purgeSeqs, { 'p-alpha': a.seq, 'p-beta': b2.seq });
  });
});

describe('purge and purges', () => {
  test('purge(id) is null for an unknown id, and for one that is not a UUID', async () => {
    assert.equal(await getPurge(randomUUID()), null);
    assert.equal(await getPurge('not-a-uuid'), null);
  });

  test('purges pages newest first with a cursor, across all of a customer\'s purges and no other\'s', async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await purgeCache({ customerId: 'p-page', kind: 'URL', value: `/page/${i}` })).id);
    const seen: Array<{ id: string; requestedAt: string }> = [];
    let cursor: string | null = null;
    for (let page = 0; ; page++) {
      assert.ok(page < 5, 'paging never ends');
      const res: GqlResponse<{ purges: PurgePage }> = await t.gql<{ purges: PurgePage }>(LIST, { c: 'p-page', first: 2, after: cursor });
      assert.equal(res.errors, undefined, res.text);
      const p = res.data!.purges;
      assert.equal(p.totalCount, 5);
      assert.ok(p.nodes.length <= 2);
      seen.push(...p.nodes);
      if (!p.pageInfo.hasNextPage) break;
      cursor = p.pageInfo.endCursor;
    }
    assert.deepEqual(seen.map((n) => n.id).sort(), [...made].sort(), 'every purge once');
    for (let i = 1; i < seen.length; i++) {
      const [prev, cur] = [seen[i - 1]!, seen[i]!];
      const order = Date.parse(prev.requestedAt) - Date.parse(cur.requestedAt);
      assert.ok(order > 0 || (order === 0 && prev.id < cur.id), `newest first (ties by id): ${JSON.stringify([prev, cur])}`);
    }
    const whole = await t.gql<{ purges: { nodes: Array<{ id: string }> } }>(LIST, { c: 'p-page' });
    assert.equal(whole.data!.purges.nodes[0]!.id, seen[0]!.id);
    assert.equal(whole.data!.purges.nodes.length, 5, 'first defaults to 20');
  });

  test('purges: NOT_FOUND for an unknown customer, BAD_USER_INPUT for a bad cursor or page size', async () => {
    const unknown = await t.gql(LIST, { c: 'nobody' });
    assert.equal(unknown.errors![0]!.extensions.code, 'NOT_FOUND');
    assert.match(unknown.errors![0]!.message, /Customer "nobody" does not exist/);
    const badCursor = await t.gql(LIST, { c: 'p-page', after: 'bm90LWEtY3Vyc29y' });
    assert.equal(badCursor.errors![0]!.extensions.code, 'BAD_USER_INPUT');
    assert.match(badCursor.errors![0]!.message, /after: is not a cursor returned by pageInfo\.endCursor/);
    const badFirst = await t.gql(LIST, { c: 'p-page', first: 0 });
    assert.match(badFirst.errors![0]!.message, /first: must be from 1 to 500, got 0/);
  });
});

describe('delivery as the edges report it', () => {
  test('edges lists each live edge as its heartbeat says', async () => {
    const e1 = edge('edges-q-1');
    const e2 = edge('edges-q-2');
    try {
      const at = await e1.heartbeat(17);
      // An edge older than the shield reports no role; an origin shield says so, with its URL.
      await e2.heartbeat(3, { ready: false, role: 'shield', shieldUrl: 'http://shield-1.internal:8080' });
      const res = await t.gql<{ edges: Array<Record<string, unknown>> }>(EDGES);
      assert.equal(res.errors, undefined, res.text);
      assert.deepEqual(res.data!.edges, [
        { edgeId: 'edges-q-1', host: 'edges-q-1.test', version: '9.9.9-test', appliedSeq: 17, lastHeartbeat: at, ready: true, cacheObjects: 12, cacheBytes: 3 * 2 ** 32, role: 'EDGE', shieldUrl: null },
        {
          edgeId: 'edges-q-2',
          host: 'edges-q-2.test',
          version: '9.9.9-test',
          appliedSeq: 3,
          lastHeartbeat: res.data!.edges[1]!.lastHeartbeat,
          ready: false,
          cacheObjects: 12,
          cacheBytes: 3 * 2 ** 32,
          role: 'SHIELD',
          shieldUrl: 'http://shield-1.internal:8080',
        },
      ]);
      await e2.leave();
      assert.deepEqual((await t.gql<{ edges: Array<{ edgeId: string }> }>(EDGES)).data!.edges.map((e) => e.edgeId), ['edges-q-1']);
    } finally {
      await e1.leave();
      await e2.leave();
    }
  });

  test('with no live edge, a purge is complete at once', async () => {
    const purge = await purgeCache({ customerId: 'p-alpha', kind: 'ALL' });
    assert.deepEqual([purge.edgesTotal, purge.edgesApplied, purge.edges], [0, 0, []]);
    assert.ok(purge.completedAt !== null);
  });

  test('acks count as they arrive; a live silent edge is listed with appliedAt null; complete when every live edge applied it', async () => {
    const e1 = edge('ack-1');
    const e2 = edge('ack-2');
    try {
      await e1.heartbeat(0);
      await e2.heartbeat(0);
      const purge = await purgeCache({ customerId: 'p-alpha', kind: 'PREFIX', value: '/acks/' });
      assert.deepEqual([purge.edgesTotal, purge.edgesApplied, purge.completedAt], [2, 0, null]);
      assert.deepEqual(purge.edges, [
        { edgeId: 'ack-1', live: true, appliedAt: null, objectsRemoved: null },
        { edgeId: 'ack-2', live: true, appliedAt: null, objectsRemoved: null },
      ]);

      const ack1 = await e1.ack(purge, 7);
      await waitForStoredAcks(purge.id, 1);
      const half = (await getPurge(purge.id))!;
      assert.deepEqual([half.edgesTotal, half.edgesApplied, half.completedAt], [2, 1, null]);
      assert.deepEqual(half.edges, [
        { edgeId: 'ack-1', live: true, appliedAt: ack1.appliedAt, objectsRemoved: 7 },
        { edgeId: 'ack-2', live: true, appliedAt: null, objectsRemoved: null },
      ]);

      await e2.ack(purge, 0);
      // The collector stamps completion itself, without anyone asking.
      const [{ completed_at: stamped }] = await eventually('the completion stamp', async () => {
        const rows: Array<{ completed_at: Date | null }> = await t.dataSource.query('SELECT completed_at FROM purge WHERE id = $1', [purge.id]);
        return rows[0]!.completed_at === null ? undefined : rows;
      });
      const done = (await getPurge(purge.id))!;
      assert.deepEqual([done.edgesTotal, done.edgesApplied, done.completedAt], [2, 2, stamped!.toISOString()]);

      // An edge that acked and left stays listed, applied, no longer live; completion stands.
      await e1.leave();
      const later = (await getPurge(purge.id))!;
      assert.deepEqual(later.edges.map((e) => [e.edgeId, e.live, e.appliedAt !== null]), [['ack-1', false, true], ['ack-2', true, true]]);
      assert.equal(later.completedAt, done.completedAt);
    } finally {
      await e1.leave();
      await e2.leave();
    }
  });

  test('a heartbeat whose appliedSeq reaches the purge\'s seq counts as applied before its ack arrives', async () => {
    const e = edge('seq-1');
    try {
      await e.heartbeat(0);
      const purge = await purgeCache({ customerId: 'p-alpha', kind: 'URL', value: '/seq' });
      assert.equal(purge.edgesApplied, 0);
      await e.heartbeat(purge.seq - 1);
      assert.equal((await getPurge(purge.id))!.edgesApplied, 0, 'one below is not applied');
      const at = await e.heartbeat(purge.seq);
      const applied = (await getPurge(purge.id))!;
      assert.deepEqual(applied.edges, [{ edgeId: 'seq-1', live: true, appliedAt: at, objectsRemoved: null }]);
      assert.equal(applied.edgesApplied, 1);
      assert.ok(applied.completedAt !== null);
    } finally {
      await e.leave();
    }
  });

  test('acks of unknown purges, malformed or repeated, are skipped without stopping the collector', async () => {
    const e = edge('odd-1');
    try {
      await e.heartbeat(0);
      const purge = await purgeCache({ customerId: 'p-alpha', kind: 'URL', value: '/odd' });
      await t.fleet.ack([
        { purgeId: randomUUID(), seq: 1, edgeId: 'odd-1', appliedAt: new Date().toISOString(), objectsRemoved: 0 },
        { purgeId: 'not-a-uuid', seq: 1, edgeId: 'odd-1', appliedAt: new Date().toISOString(), objectsRemoved: 0 },
      ]);
      await e.ack(purge, 1);
      await e.ack(purge, 1);
      await waitForStoredAcks(purge.id, 1);
      assert.equal(await storedAcks(purge.id), 1);
      assert.equal((await getPurge(purge.id))!.edgesApplied, 1);
    } finally {
      await e.leave();
    }
  });

  test('waitForEdges answers once the edge applied the purge it read from the bus', async () => {
    const e = edge('wait-1');
    try {
      await e.heartbeat(0);
      const seqBefore = await maxChangeSeq(t);
      let answered = false;
      const mutation = t
        .gql<{ purgeCache: Purge }>(PURGE_CACHE, { input: { customerId: 'p-alpha', kind: 'TAG', value: 'waited', waitForEdges: true, waitTimeoutMs: 60_000 } })
        .finally(() => (answered = true));
      // The edge: reads the purge from the bus, applies it, acks, heartbeats its new seq.
      const change = await eventually('the purge on the bus', async () => {
        const read = await t.bus.read(seqBefore, { blockMs: 200 });
        return read.kind === 'changes' ? read.changes.find((c) => c.event.kind === 'purge.requested') : undefined;
      });
      assert.equal(answered, false, 'no answer before the only live edge applied it');
      const request = change.event.kind === 'purge.requested' ? change.event.purge : assert.fail();
      const ack = await e.ack({ id: request.id, seq: change.seq }, 5);
      await e.heartbeat(change.seq);
      const res = await mutation;
      assert.equal(res.errors, undefined, res.text);
      const purge = res.data!.purgeCache;
      assert.equal(purge.id, request.id);
      assert.ok(purge.completedAt !== null);
      assert.deepEqual(purge.edges, [{ edgeId: 'wait-1', live: true, appliedAt: ack.appliedAt, objectsRemoved: 5 }]);
    } finally {
      await e.leave();
    }
  });

  test('waitForEdges gives up after waitTimeoutMs and names the live edges that did not apply it', async () => {
    const fast = edge('wait-fast');
    const silent = edge('wait-silent');
    try {
      await fast.heartbeat(1_000_000);
      await silent.heartbeat(0);
      const purge = await purgeCache({ customerId: 'p-alpha', kind: 'URL', value: '/slow', waitForEdges: true, waitTimeoutMs: 300 });
      assert.equal(purge.completedAt, null);
      assert.equal(purge.edgesApplied, 1);
      assert.deepEqual(purge.edges.filter((e) => e.appliedAt === null).map((e) => [e.edgeId, e.live]), [['wait-silent', true]]);
    } finally {
      await fast.leave();
      await silent.leave();
    }
  });

  test('acks that reached the fleet while no api ran are stored when an api starts', async () => {
    const purge = await purgeCache({ customerId: 'p-beta', kind: 'URL', value: '/offline' });
    const fleet = new MemoryFleet();
    await fleet.ack([{ purgeId: purge.id, seq: purge.seq, edgeId: 'offline-1', appliedAt: new Date().toISOString(), objectsRemoved: 9 }]);
    const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: t.databaseUrl });
    const second = await startApi(config, { dataSource: t.dataSource, bus: t.bus, fleet, stats: t.stats, revocations: t.revocations, logger: createLogger({ name: 'api-2', level: 'silent' }) });
    try {
      await waitForStoredAcks(purge.id, 1);
      const rows = await t.dataSource.query('SELECT edge_id, objects_removed FROM purge_edge WHERE purge_id = $1', [purge.id]);
      assert.deepEqual(rows, [{ edge_id: 'offline-1', objects_removed: '9' }]);
    } finally {
      await second.close();
      await fleet.close();
    }
  });
});

describe('purgeStatus subscription', () => {
  function client(): Client {
    return wsClient(t.api.url);
  }
  const STATUS = 'subscription($id: ID!) { purgeStatus(id: $id) { edge { edgeId appliedAt objectsRemoved } purge { id completedAt edgesApplied edgesTotal } } }';
  type StatusEvent = { edge: { edgeId: string; appliedAt: string; objectsRemoved: number | null } | null; purge: { id: string; completedAt: string | null; edgesApplied: number; edgesTotal: number } };

  test('the state on subscribe, one event per edge that applies it, then the server completes it', async () => {
    const e1 = edge('sub-1');
    const e2 = edge('sub-2');
    const ws = client();
    try {
      await e1.heartbeat(0);
      await e2.heartbeat(0);
      const purge = await purgeCache({ customerId: 'p-alpha', kind: 'URL', value: '/sub' });
      const events = ws.iterate<{ purgeStatus: StatusEvent }>({ query: STATUS, variables: { id: purge.id } });
      const next = async (): Promise<StatusEvent> => {
        const r = await events.next();
        assert.equal(r.done, false, 'the subscription ended early');
        assert.equal(r.value!.errors, undefined, JSON.stringify(r.value));
        return r.value!.data!.purgeStatus;
      };

      const first = await next();
      assert.deepEqual(first, { edge: null, purge: { id: purge.id, completedAt: null, edgesApplied: 0, edgesTotal: 2 } });
      const ack1 = await e1.ack(purge, 4);
      const second = await next();
      assert.deepEqual(second, { edge: { edgeId: 'sub-1', appliedAt: ack1.appliedAt, objectsRemoved: 4 }, purge: { id: purge.id, completedAt: null, edgesApplied: 1, edgesTotal: 2 } });
      const ack2 = await e2.ack(purge, 0);
      const third = await next();
      assert.deepEqual(third.edge, { edgeId: 'sub-2', appliedAt: ack2.appliedAt, objectsRemoved: 0 });
      assert.equal(third.purge.edgesApplied, 2);
      assert.ok(third.purge.completedAt !== null);
      assert.deepEqual(await events.next(), { done: true, value: undefined }, 'completed by the server');
    } finally {
      await ws.dispose();
      await e1.leave();
      await e2.leave();
    }
  });

  test('a complete purge gives one event and completes', async () => {
    const purge = await purgeCache({ customerId: 'p-alpha', kind: 'URL', value: '/sub-done' });
    assert.ok(purge.completedAt !== null, 'no live edge: complete at once');
    const ws = client();
    try {
      const got: StatusEvent[] = [];
      for await (const r of ws.iterate<{ purgeStatus: StatusEvent }>({ query: STATUS, variables: { id: purge.id } })) got.push(r.data!.purgeStatus);
      assert.deepEqual(got, [{ edge: null, purge: { id: purge.id, completedAt: purge.completedAt, edgesApplied: 0, edgesTotal: 0 } }]);
    } finally {
      await ws.dispose();
    }
  });

  test('an unknown purge id is NOT_FOUND', async () => {
    const ws = client();
    try {
      for (const id of [randomUUID(), 'not-a-uuid']) {
        const results = [];
        for await (const r of ws.iterate({ query: STATUS, variables: { id } })) results.push(r);
        assert.equal(results.length, 1);
        const errors = results[0]!.errors as unknown as Array<{ message: string; extensions: { code: string } }>;
        assert.equal(errors[0]!.extensions.code, 'NOT_FOUND');
        assert.match(errors[0]!.message, new RegExp(`Purge "${id}" does not exist`));
      }
    } finally {
      await ws.dispose();
    }
  });
});

describe('while the live edges cannot be read', () => {
  /** A fleet whose heartbeat side can fail, as Redis down would make it. */
  class FlakyFleet extends MemoryFleet {
    down = false;
    override async liveEdges(): Promise<EdgeStatus[]> {
      if (this.down) throw new Error('fleet channel unreachable (test)');
      return super.liveEdges();
    }
  }
  let flaky: TestApi;
  let fleet: FlakyFleet;

  before(async () => {
    fleet = new FlakyFleet();
    flaky = await startTestApi({}, { fleet });
    const res = await flaky.gql('mutation { createCustomer(input: { id: "f-one", name: "F", originUrl: "https://origin.f.example", domains: ["cdn.f.example"] }) { id } }');
    assert.equal(res.errors, undefined, res.text);
  });

  after(async () => {
    await flaky.close();
  });

  test('a purge is accepted and shows its acks, but does not complete until the live edges are known', async () => {
    fleet.down = true;
    const res = await flaky.gql<{ purgeCache: Purge }>(PURGE_CACHE, { input: { customerId: 'f-one', kind: 'ALL' } });
    assert.equal(res.errors, undefined, res.text);
    const purge = res.data!.purgeCache;
    assert.deepEqual([purge.completedAt, purge.edgesTotal], [null, 0], 'no live edge known is not "no live edge"');
    await fleet.ack([{ purgeId: purge.id, seq: purge.seq, edgeId: 'f-edge', appliedAt: new Date().toISOString(), objectsRemoved: 1 }]);
    const shown = await eventually('the ack shown', async () => {
      const p = (await flaky.gql<{ purge: Purge }>(GET_PURGE, { id: purge.id })).data!.purge;
      return p.edgesApplied === 1 ? p : undefined;
    });
    assert.deepEqual(shown.edges.map((e) => [e.edgeId, e.live]), [['f-edge', false]]);
    assert.equal(shown.completedAt, null);

    fleet.down = false;
    const known = (await flaky.gql<{ purge: Purge }>(GET_PURGE, { id: purge.id })).data!.purge;
    assert.ok(known.completedAt !== null, 'complete once the fleet says no edge is live');
  });
});
