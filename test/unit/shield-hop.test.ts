/**
 * The hop between an edge and an origin shield (core/shield-hop.ts): the signed field that
 * lets a shield trust an edge's claims, each way a field can be wrong refused with its
 * reason, and the rendezvous hashing that spreads keys over the shields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOP_WINDOW_MS, hopKey, rendezvousOrder, signHop, verifyHop, type HopClaims, type HopRequest } from '../../src/core/shield-hop';
import { compileRules } from '../../src/core/delivery-rules.compile';
import { shieldRequestHeaders } from '../../src/edge/origin/origin-headers';

const KEY = hopKey('fleet-secret-key-0123456789abcdefghijkl');
const NOW = 1_800_000_000_000;
const CLAIMS: HopClaims = { edge: 'edge-1#2', seq: 41, client: '2001:db8::7', proto: 'https' };
const REQUEST: HopRequest = { method: 'GET', host: 'cdn.example.test', target: '/img/a.png?w=100' };

test('a hop signed by the fleet verifies, with its claims', () => {
  const field = signHop(KEY, CLAIMS, REQUEST, NOW);
  assert.match(field, /^v1; edge=edge-1#2; t=1800000000000; seq=41; client=2001:db8::7; proto=https; sig=[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(verifyHop(KEY, field, REQUEST, NOW + 5_000), { ok: true, claims: CLAIMS });
});

test('the key is derived from CDN_SECRET_KEY, never the secret itself, and differs per secret', () => {
  assert.equal(KEY.length, 32);
  assert.notDeepEqual(KEY, Buffer.from('fleet-secret-key-0123456789abcdefghijkl').subarray(0, 32));
  assert.notDeepEqual(hopKey('another-secret-key-0123456789abcdefghij'), KEY);
  assert.deepEqual(hopKey('fleet-secret-key-0123456789abcdefghijkl'), KEY);
});

test('every part of the request and of the claims is covered by the signature', () => {
  const field = signHop(KEY, CLAIMS, REQUEST, NOW);
  const refused = (f: string, r: HopRequest = REQUEST): string => {
    const v = verifyHop(KEY, f, r, NOW);
    assert.equal(v.ok, false, `accepted ${f} for ${JSON.stringify(r)}`);
    return (v as { reason: string }).reason;
  };
  assert.match(refused(field, { ...REQUEST, target: '/img/b.png?w=100' }), /does not match/);
  assert.match(refused(field, { ...REQUEST, host: 'cdn.other.test' }), /does not match/);
  assert.match(refused(field, { ...REQUEST, method: 'POST' }), /does not match/);
  assert.match(refused(field.replace('seq=41', 'seq=40')), /does not match/);
  assert.match(refused(field.replace('client=2001:db8::7', 'client=2001:db8::8')), /does not match/);
  assert.match(refused(field.replace('proto=https', 'proto=http')), /does not match/);
  assert.match(refused(field.replace('edge=edge-1#2', 'edge=edge-9')), /does not match/);
  assert.match(refused(field.replace(`t=${NOW}`, `t=${NOW + 1}`)), /does not match/);
  assert.match(refused(signHop(hopKey('another-secret-key-0123456789abcdefghij'), CLAIMS, REQUEST, NOW)), /another CDN_SECRET_KEY/);
});

test('a hop is good only within the window, both ways', () => {
  const field = signHop(KEY, CLAIMS, REQUEST, NOW);
  assert.equal(verifyHop(KEY, field, REQUEST, NOW + HOP_WINDOW_MS).ok, true);
  assert.equal(verifyHop(KEY, field, REQUEST, NOW - HOP_WINDOW_MS).ok, true);
  const late = verifyHop(KEY, field, REQUEST, NOW + HOP_WINDOW_MS + 1);
  assert.equal(late.ok, false);
  assert.match((late as { reason: string }).reason, /-?\d+ s from now, beyond the 60 s window/);
  assert.equal(verifyHop(KEY, field, REQUEST, NOW - HOP_WINDOW_MS - 1).ok, false);
});

test('malformed fields are refused with what is wrong, never thrown', () => {
  const cases: Array<[string | string[] | undefined, RegExp]> = [
    [undefined, /no edgeplane-hop field/],
    [['v1', 'v1'], /more than one/],
    ['', /not version v1/],
    ['v2; edge=a', /not version v1/],
    ['v1; edge', /malformed/],
    ['v1; edge=a; edge=b', /malformed/],
    ['v1; edge=a; t=x; seq=1; client=127.0.0.1; proto=http; sig=' + 'A'.repeat(43), /no valid time/],
    ['v1; edge=a; t=1; seq=-1; client=127.0.0.1; proto=http; sig=' + 'A'.repeat(43), /no valid seq/],
    ['v1; edge=a; t=1; seq=1; client=localhost; proto=http; sig=' + 'A'.repeat(43), /no valid client/],
    ['v1; edge=a; t=1; seq=1; client=127.0.0.1; proto=ftp; sig=' + 'A'.repeat(43), /no valid proto/],
    ['v1; edge=a; t=1; seq=1; client=127.0.0.1; proto=http; sig=short', /no valid signature/],
    ['v1; t=1; seq=1; client=127.0.0.1; proto=http; sig=' + 'A'.repeat(43), /no valid edge id/],
  ];
  for (const [field, reason] of cases) {
    const v = verifyHop(KEY, field, REQUEST, NOW);
    assert.equal(v.ok, false, String(field));
    assert.match((v as { reason: string }).reason, reason, String(field));
  }
});

test('an edge never signs claims that could not travel (an id with ";", a client that is not an address)', () => {
  assert.throws(() => signHop(KEY, { ...CLAIMS, edge: 'a; seq=0' }, REQUEST, NOW), /cannot travel/);
  assert.throws(() => signHop(KEY, { ...CLAIMS, client: 'evil.example' }, REQUEST, NOW), /not an IP address/);
});

test('rendezvous: every edge picks the same shield for a key; a shield leaving moves only its own keys; spread is even', () => {
  const nodes = ['http://s1:8080', 'http://s2:8080', 'http://s3:8080', 'http://s4:8080'].map((url) => ({ url }));
  const keys = Array.from({ length: 4000 }, (_, i) => `customer-${i % 7}\n/assets/${i}.js`);
  const owner = new Map(keys.map((k) => [k, rendezvousOrder(nodes, k)[0]!.url]));
  // Same answer whatever order the list comes in.
  for (const k of keys.slice(0, 200)) assert.equal(rendezvousOrder([...nodes].reverse(), k)[0]!.url, owner.get(k));
  const counts = new Map<string, number>();
  for (const url of owner.values()) counts.set(url, (counts.get(url) ?? 0) + 1);
  for (const [url, n] of counts) assert.ok(n > 800 && n < 1200, `${url} got ${n} of 4000 keys`);
  const without = nodes.filter((n) => n.url !== 'http://s2:8080');
  for (const k of keys) {
    const now = rendezvousOrder(without, k)[0]!.url;
    if (owner.get(k) !== 'http://s2:8080') assert.equal(now, owner.get(k), 'a key of a shield that stayed did not move');
    else assert.equal(now, rendezvousOrder(nodes, k)[1]!.url, "s2's keys go to their second choice");
  }
});

test('a fill to a shield carries, by allow-list, the fields the customer rules read, and nothing a client could claim itself', () => {
  const rules = compileRules({
    cacheTtl: 60,
    queryString: { mode: 'keep', allow: [] },
    staleIfErrorSeconds: null,
    rules: [
      { name: 'mobile', match: { headers: [{ name: 'X-Device', values: ['mobile'] }] }, actions: { cacheKey: { headers: ['x-device'] } } },
      { name: 'beta', match: { cookies: [{ name: 'beta' }] }, actions: { cache: { edgeTtl: { seconds: 5, mode: 'override' } } } },
    ],
  });
  assert.deepEqual(rules.headersRead, ['cookie', 'x-device']);
  const out = shieldRequestHeaders(
    {
      host: 'cdn.example.test:8080',
      'x-device': 'mobile',
      cookie: 'beta=1',
      accept: 'image/avif',
      'x-forwarded-for': '198.51.100.1',
      forwarded: 'for=198.51.100.1',
      'x-original-url': '/admin',
      range: 'bytes=0-1',
      'if-none-match': '"client"',
      connection: 'keep-alive, x-device',
      'cdn-loop': 'other-cdn',
      'edgeplane-hop': 'v1; forged',
    },
    { domain: 'cdn.example.test', headersRead: rules.headersRead, validators: { 'if-none-match': '"stored"' }, cdnId: 'edgeplane', hop: 'v1; signed' },
  );
  assert.deepEqual(out, {
    accept: 'image/avif',
    cookie: 'beta=1',
    host: 'cdn.example.test',
    'if-none-match': '"stored"',
    via: '1.1 edgeplane',
    'cdn-loop': 'other-cdn, edgeplane',
    'edgeplane-hop': 'v1; signed',
  });
});
