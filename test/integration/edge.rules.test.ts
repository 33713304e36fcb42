/**
 * Delivery rules at the edge, each action through real sockets: a real origin that records
 * what it receives, rules arriving over the change bus as the api sends them, and for every
 * refusal the attack itself (a forged signature, a spoofed X-Forwarded-For, a foreign
 * Referer, a flood) followed by a clean request that must get the clean answer. Cache TTLs
 * (override, default, never over private), the browser TTL, the key's query policy (tracking
 * parameters, signature parameters never reach the origin), header values in the key, bypass,
 * response and origin fields (on the hit lane too), address and Referer rules, signed URLs
 * with clock skew and key rotation, the per-client rate limit, redirects, a rule change
 * taking effect with the customer's next change, URL purges keyed by the rules, and a rule
 * list this edge cannot compile failing closed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus';
import type { CustomerConfig } from '../../src/core/customer.types';
import type { DeliveryRule } from '../../src/core/delivery-rules.types';
import { SecretBox } from '../../src/core/secret-box';
import { signPath } from '../../src/core/signed-url';
import type { TieredStore } from '../../src/edge/cache/tiered.store';
import type { EdgeHandle } from '../../src/edge/server';
import { Relay } from '../support/bus-relay';
import { customer, edgeConfig, edgeStore, eventually, http, SECRET, startBusEdge, startScriptedOrigin, tempDir, type HttpResult, type ScriptedOrigin } from './edge.harness';

const HOST = 'cdn.r.test';
const OTHER = 'cdn.o.test';
const KEY_OLD = { id: '0a0a0a0a', secret: 'old-secret-of-customer-r-0123456789' };
const KEY_NEW = { id: '0b0b0b0b', secret: 'new-secret-of-customer-r-0123456789' };
const box = new SecretBox(SECRET);

const RULES: DeliveryRule[] = [
  { name: 'static', match: { extensions: ['css'] }, actions: { cache: { edgeTtl: { seconds: 3600, mode: 'override' }, browserTtl: 600 } } },
  { name: 'defaults', match: { pathPrefixes: ['/d/'] }, actions: { cache: { edgeTtl: { seconds: 3600, mode: 'default' } } } },
  { name: 'tracking', actions: { cacheKey: { query: { mode: 'deny', names: ['utm_*', 'fbclid'] } } } },
  { name: 'private', match: { pathPrefixes: ['/account/'] }, actions: { cache: { bypass: true } } },
  { name: 'lang', match: { pathPrefixes: ['/i18n/'] }, actions: { cacheKey: { headers: ['accept-language'] } } },
  {
    name: 'cors',
    match: { globs: ['/api/**'] },
    actions: {
      responseHeaders: [
        { op: 'set', name: 'access-control-allow-origin', value: '*' },
        { op: 'remove', name: 'x-powered-by' },
        { op: 'append', name: 'link', value: '</style.css>; rel=preload' },
      ],
      originHeaders: [{ op: 'set', name: 'x-edge-rule', value: 'cors' }, { op: 'remove', name: 'user-agent' }],
    },
  },
  { name: 'intranet', match: { pathPrefixes: ['/intranet/'] }, actions: { access: { allowCidrs: ['10.0.0.0/8'] } } },
  { name: 'local', match: { pathPrefixes: ['/local/'] }, actions: { access: { allowCidrs: ['127.0.0.0/8', '::1/128'] } } },
  { name: 'hotlink', match: { pathPrefixes: ['/img/'] }, actions: { access: { referers: { allow: ['www.r.test', '*.r.test'] } } } },
  { name: 'paid', match: { pathPrefixes: ['/paid/'] }, actions: { access: { signedUrl: true } } },
  { name: 'limited', match: { pathPrefixes: ['/limited/'] }, actions: { access: { rateLimit: { perSecond: 1, burst: 3 } } } },
  { name: 'old', match: { pathPrefixes: ['/old/'] }, actions: { redirect: { status: 301, location: 'https://{host}/new{path}{search}' } } },
  { name: 'closed', match: { pathPrefixes: ['/closed/'] }, actions: { access: { deny: true } } },
];

function ruled(rules: DeliveryRule[] = RULES, extra: Partial<CustomerConfig> = {}): CustomerConfig {
  return {
    ...customer('customer-r', origin.url, [HOST], { cacheTtl: 0 }),
    rules,
    signingKeys: [KEY_OLD, KEY_NEW].map((k) => ({ id: k.id, secretCiphertext: box.seal(k.secret), createdAt: new Date().toISOString() })),
    ...extra,
  };
}

type Raw = HttpResult;

/** One request with exactly these fields (Host first), optionally from another loopback address. */
function get(path: string, headers: Record<string, string> = {}, options: { method?: string; host?: string; localAddress?: string } = {}): Promise<Raw> {
  return http(edge.url, path, { host: options.host ?? HOST, headers, ...options });
}

let origin: ScriptedOrigin;
let edge: EdgeHandle;
let store: TieredStore;
let bus: MemoryBus;
let relay: Relay;
const dirs: Array<{ remove(): Promise<void> }> = [];
let fetchNo = 0;

function asked(path: string): number {
  return origin.requests.filter((r) => r.url.split('?')[0] === path).length;
}

async function applied(): Promise<void> {
  await eventually(() => edge.appliedSeq() >= relay.seq, 3000, `seq ${relay.seq} applied`);
}

async function refusals(reason: string): Promise<number> {
  const text = await edge.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`cdn_edge_rule_refusals_total{customer="customer-r",reason="${reason}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

before(async () => {
  origin = await startScriptedOrigin((req, res) => {
    const path = new URL(req.url!, 'http://origin.test').pathname;
    fetchNo += 1;
    const body = `fetch ${fetchNo} of ${req.url} lang=${String(req.headers['accept-language'])}`;
    const cc = path.startsWith('/css-private/') ? 'private, max-age=0' : path.endsWith('.css') ? 'max-age=0, must-revalidate' : path.startsWith('/d/fresh0') ? 'max-age=0' : path.startsWith('/d/') ? undefined : 'public, max-age=3600';
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)), 'x-powered-by': 'origin', link: '</app.js>; rel=preload', ...(cc === undefined ? {} : { 'cache-control': cc }) });
    res.end(body);
  });
  const tmp = await tempDir();
  dirs.push(tmp);
  bus = new MemoryBus();
  relay = new Relay(bus);
  await relay.upsert(ruled(), customer('customer-o', origin.url, [OTHER]));
  const config = edgeConfig(tmp.dir, { CDN_EDGE_SIGNED_URL_LEEWAY_SECONDS: '30' });
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

describe('cache', () => {
  test('edge TTL override stores what the origin says is stale at once; never a private answer; browser TTL replaces what clients get', async () => {
    const first = await get('/s/app.css');
    const second = await get('/s/app.css');
    assert.equal(first.headers['x-cache'], 'MISS');
    assert.equal(second.headers['x-cache'], 'HIT');
    assert.equal(second.body, first.body);
    assert.equal(asked('/s/app.css'), 1);
    assert.equal(second.headers['cache-control'], 'max-age=600', 'the rule\'s browser TTL, not the origin\'s max-age=0');
    await get('/css-private/me.css');
    const again = await get('/css-private/me.css');
    assert.equal(asked('/css-private/me.css'), 2, 'an override never makes a private answer shared');
    assert.equal(again.headers['cache-control'], 'private, max-age=600');
  });

  test('edge TTL default applies only when the origin gives no freshness', async () => {
    await get('/d/plain.txt');
    assert.equal((await get('/d/plain.txt')).headers['x-cache'], 'HIT');
    assert.equal(asked('/d/plain.txt'), 1);
    await get('/d/fresh0.txt');
    await get('/d/fresh0.txt');
    assert.equal(asked('/d/fresh0.txt'), 2, "the origin's max-age=0 stands");
  });

  test('tracking parameters leave the key and the origin request: one object for every campaign link', async () => {
    const a = await get('/t/page?utm_source=mail&v=2&fbclid=x1');
    const b = await get('/t/page?v=2&utm_medium=social');
    assert.equal(a.status, 200);
    assert.equal(b.headers['x-cache'], 'HIT');
    assert.equal(asked('/t/page'), 1);
    assert.equal(origin.requests.find((r) => r.url.startsWith('/t/page'))!.url, '/t/page?v=2');
    const other = await get('/t/page?v=3&utm_source=mail');
    assert.equal(other.headers['x-cache'], 'MISS', 'a parameter the rule keeps still splits the key');
  });

  test('header values in the key: one object per Accept-Language, each a hit for its own language', async () => {
    const en = await get('/i18n/strings.json', { 'Accept-Language': 'en' });
    const fr = await get('/i18n/strings.json', { 'Accept-Language': 'fr' });
    const en2 = await get('/i18n/strings.json', { 'Accept-Language': 'en' });
    assert.match(en.body, /lang=en/);
    assert.match(fr.body, /lang=fr/);
    assert.equal(fr.headers['x-cache'], 'MISS');
    assert.equal(en2.headers['x-cache'], 'HIT');
    assert.equal(en2.body, en.body);
  });

  test('bypass: never stored, the origin asked every time', async () => {
    const a = await get('/account/orders');
    const b = await get('/account/orders');
    assert.equal(a.headers['x-cache'], 'BYPASS');
    assert.equal(b.headers['x-cache'], 'BYPASS');
    assert.equal(asked('/account/orders'), 2);
  });
});

describe('fields', () => {
  test('response fields on misses and hits (hit lane included), origin fields on the origin request', async () => {
    const lane = edge.hitLaneServed();
    const miss = await get('/api/items');
    const hit = await get('/api/items');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.ok(edge.hitLaneServed() > lane, 'the hit lane served the hit (path-only rules are judged there)');
    for (const res of [miss, hit]) {
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['x-powered-by'], undefined);
      assert.equal(res.headers.link, '</app.js>; rel=preload, </style.css>; rel=preload');
    }
    const seen = origin.requests.find((r) => r.url === '/api/items')!;
    assert.equal(seen.headers['x-edge-rule'], 'cors');
    assert.equal(seen.headers['user-agent'], undefined);
    // A path the rule does not cover gets the origin's fields as they are.
    const plain = await get('/t/plain');
    assert.equal(plain.headers['x-powered-by'], 'origin');
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
  });
});

describe('access', () => {
  test('an allow-list by address: refused from loopback, whatever X-Forwarded-For claims; served where allowed', async () => {
    const before = await refusals('access');
    const spoofed = await get('/intranet/wiki', { 'X-Forwarded-For': '10.1.2.3', Forwarded: 'for=10.1.2.3' });
    assert.equal(spoofed.status, 403);
    assert.equal(JSON.parse(spoofed.body).code, 'CDN_ERR_EDGE_ACCESS_DENIED');
    assert.doesNotMatch(spoofed.body, /10\.0\.0\.0/, 'the configured blocks are not revealed');
    assert.equal(asked('/intranet/wiki'), 0);
    assert.equal(await refusals('access'), before + 1);
    const local = await get('/local/page');
    assert.equal(local.status, 200);
  });

  test('deny is 403 and never asks the origin', async () => {
    const res = await get('/closed/x');
    assert.equal(res.status, 403);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(asked('/closed/x'), 0);
  });

  test('hotlinking: a foreign Referer is refused, the site itself and direct visits are served', async () => {
    assert.equal((await get('/img/logo.png', { Referer: 'https://evil.test/page' })).status, 403);
    assert.equal((await get('/img/logo.png', { Referer: 'https://r.test.evil.test/' })).status, 403);
    assert.equal((await get('/img/logo.png', { Referer: 'not a url' })).status, 403);
    const own = await get('/img/logo.png', { Referer: 'https://www.r.test/index.html' });
    assert.equal(own.status, 200);
    assert.equal((await get('/img/logo.png', { Referer: 'https://shop.r.test/' })).status, 200);
    const direct = await get('/img/logo.png');
    assert.equal(direct.status, 200);
    assert.equal(direct.headers['x-cache'], 'HIT');
    assert.equal(asked('/img/logo.png'), 1);
  });

  test('signed URLs: valid links of both keys are one object, the origin never sees the signature; forged, moved, missing and expired ones are refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const a = signPath({ path: '/paid/file.zip', keyId: KEY_NEW.id, secret: KEY_NEW.secret, expiresAt: now + 60 });
    const b = signPath({ path: '/paid/file.zip', keyId: KEY_OLD.id, secret: KEY_OLD.secret, expiresAt: now + 120 });
    const first = await get(a);
    const second = await get(b);
    assert.equal(first.status, 200, first.body);
    assert.equal(second.status, 200, second.body);
    assert.equal(second.headers['x-cache'], 'HIT', 'signature parameters are not part of the key');
    assert.equal(asked('/paid/file.zip'), 1);
    assert.equal(origin.requests.find((r) => r.url.startsWith('/paid/file.zip'))!.url, '/paid/file.zip');

    const before = await refusals('signature');
    const forged = signPath({ path: '/paid/file.zip', keyId: KEY_NEW.id, secret: 'guessed-secret-0123456789abcdef', expiresAt: now + 60 });
    const refused = [
      await get(forged),
      await get(a.replace('/paid/file.zip', '/paid/other.zip')),
      await get('/paid/file.zip'),
      await get(signPath({ path: '/paid/file.zip', keyId: KEY_NEW.id, secret: KEY_NEW.secret, expiresAt: now - 120 })),
      await get(signPath({ path: '/paid/file.zip', keyId: 'ffffffff', secret: KEY_NEW.secret, expiresAt: now + 60 })),
    ];
    for (const res of refused) {
      assert.equal(res.status, 403, res.body);
      assert.equal(JSON.parse(res.body).code, 'CDN_ERR_EDGE_SIGNATURE_INVALID');
    }
    assert.equal(await refusals('signature'), before + refused.length);
    // Expired 10 s ago on the signer's clock: within the edge's 30 s leeway for clock skew.
    const skewed = await get(signPath({ path: '/paid/file.zip', keyId: KEY_NEW.id, secret: KEY_NEW.secret, expiresAt: now - 10 }));
    assert.equal(skewed.status, 200);
    // A prefix signature covers the paths under it, an address-bound one only its address.
    const prefixed = signPath({ path: '/paid/dir/x.zip', pathPrefix: '/paid/dir/', keyId: KEY_NEW.id, secret: KEY_NEW.secret, expiresAt: now + 60 });
    assert.equal((await get(prefixed.replace('/paid/dir/x.zip', '/paid/dir/y.zip'))).status, 200);
    assert.equal((await get(prefixed.replace('/paid/dir/x.zip', '/paid/z.zip'))).status, 403);
    const bound = signPath({ path: '/paid/file.zip', clientIp: '127.0.0.1', keyId: KEY_NEW.id, secret: KEY_NEW.secret, expiresAt: now + 60 });
    assert.equal((await get(bound)).status, 200);
    assert.equal((await get(bound, {}, { localAddress: '127.0.0.2' })).status, 403);
    // The clean request after the attacks still gets the object.
    assert.equal((await get(a)).body, first.body);
  });

  test('rate limit per client address: the burst, then 429 with Retry-After; another address is not affected', async () => {
    const statuses: number[] = [];
    let limited: Raw | undefined;
    for (let i = 0; i < 5; i++) {
      const res = await get('/limited/api');
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(JSON.parse(limited!.body).code, 'CDN_ERR_EDGE_TOO_MANY_REQUESTS');
    assert.ok(Number(limited!.headers['retry-after']) >= 1, String(limited!.headers['retry-after']));
    assert.equal((await get('/limited/api', {}, { localAddress: '127.0.0.2' })).status, 200);
    assert.ok((await refusals('rate')) >= 2);
  });

  test('redirect: the rule\'s status and Location, the origin never asked; a path cannot point elsewhere', async () => {
    const res = await get('/old/page.html?x=1');
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, `https://${HOST}/new/old/page.html?x=1`);
    assert.equal(asked('/old/page.html'), 0);
    const sneaky = await get('/old//evil.test/x');
    assert.equal(sneaky.status, 301);
    assert.ok(String(sneaky.headers.location).startsWith(`https://${HOST}/`), String(sneaky.headers.location));
  });
});

describe('changes', () => {
  test('a rule change reaches the edge with the customer\'s next change; a URL purge is keyed by the rules', async () => {
    assert.equal((await get('/closed/y')).status, 403);
    await relay.upsert(ruled(RULES.filter((r) => r.name !== 'closed')));
    await applied();
    assert.equal((await get('/closed/y')).status, 200);

    await get('/t/purged?utm_source=a&v=1');
    assert.equal((await get('/t/purged?v=1')).headers['x-cache'], 'HIT');
    // The purge names the campaign link: the rules reduce it to the object's key.
    await relay.purge({ customerId: 'customer-r', kind: 'URL', value: '/t/purged?v=1&utm_campaign=z' });
    await applied();
    assert.equal((await get('/t/purged?v=1')).headers['x-cache'], 'MISS');
  });

  test('rules this edge cannot compile fail closed for their customer only, and say why in the log', async () => {
    const broken = ruled([{ name: 'future', actions: { cache: { bypass: true } }, someFutureField: true } as unknown as DeliveryRule]);
    await relay.upsert(broken);
    await applied();
    const res = await get('/t/anything');
    assert.equal(res.status, 500);
    assert.equal((await get('/x', {}, { host: OTHER })).status, 200, 'other customers are served');
    await relay.upsert(ruled());
    await applied();
    assert.equal((await get('/t/anything')).status, 200);
  });
});
