/**
 * A property of the cache key under delivery rules, checked at a real edge: two requests the
 * rules key differently never share an entry, and requests the rules key alike share one.
 * Hundreds of seeded random requests (paths several rules match, query strings with kept,
 * dropped and signature parameters in any order, Accept-Language and Cookie values, noise
 * cookies) go to an edge whose origin answers each with what it received; every answer must
 * come from an origin request that this test's own model of the rules (written here, not the
 * edge's code) keys exactly as the request it answers. The origin is asked once per key.
 */
import assert from 'node:assert/strict';
import { request, type OutgoingHttpHeaders } from 'node:http';
import { after, before, test } from 'node:test';
import type { CustomerConfig } from '../../src/core/customer.types';
import type { DeliveryRule } from '../../src/core/delivery-rules.types';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { customer, edgeConfig, silentLogger, startScriptedOrigin, tempDir, type ScriptedOrigin } from './edge.harness';

const HOST = 'cdn.k.test';
const RULES: DeliveryRule[] = [
  { name: 'campaigns', match: { pathPrefixes: ['/q/'] }, actions: { cacheKey: { query: { mode: 'deny', names: ['utm_*', 'ref'] } } } },
  { name: 'languages', match: { extensions: ['json'] }, actions: { cacheKey: { headers: ['accept-language'] } } },
  { name: 'sessions', match: { pathPrefixes: ['/c/'] }, actions: { cacheKey: { cookies: ['session'] } } },
  { name: 'assets', match: { globs: ['/a/**'] }, actions: { cacheKey: { query: { mode: 'allow', names: ['v', 'p*'] } } } },
];

const PATHS = ['/q/x', '/q/y.json', '/c/x', '/c/y.json', '/a/b/c', '/a/z.json', '/plain', '/plain.json'];
const PARAMS = ['v=1', 'v=2', 'p1=a', 'page=3', 'utm_source=mail', 'utm_medium=x', 'ref=home', 'other=o', 'ep_sig=forged', 'ep_exp=1'];
const LANGS = [undefined, 'en', 'fr'];
const SESSIONS = [undefined, 's1', 's2'];

interface Req {
  path: string;
  params: string[];
  lang: string | undefined;
  session: string | undefined;
  noise: string | undefined;
}

/** The rules as this test reads them: path, the query they keep (sorted), and the values they add. */
function modelKey(path: string, params: readonly string[], lang: string | undefined, session: string | undefined): string {
  const name = (p: string) => p.slice(0, p.indexOf('='));
  let kept = params.filter((p) => !name(p).startsWith('ep_'));
  if (path.startsWith('/q/')) kept = kept.filter((p) => !name(p).startsWith('utm_') && name(p) !== 'ref');
  if (path.startsWith('/a/')) kept = kept.filter((p) => name(p) === 'v' || name(p).startsWith('p'));
  // Sorted by name, stable for repeated names.
  kept = kept.map((p, i) => ({ p, i })).sort((a, b) => (name(a.p) < name(b.p) ? -1 : name(a.p) > name(b.p) ? 1 : a.i - b.i)).map((x) => x.p);
  const parts = [path, kept.join('&')];
  if (path.endsWith('.json')) parts.push(`lang=${lang ?? ''}`);
  if (path.startsWith('/c/')) parts.push(`session=${session ?? ''}`);
  return parts.join(' | ');
}

/** A seeded generator (LCG): the same requests on every run, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function pick<T>(rnd: () => number, items: readonly T[]): T {
  return items[Math.floor(rnd() * items.length)]!;
}

function requests(count: number, seed: number): Req[] {
  const rnd = random(seed);
  return Array.from({ length: count }, () => {
    const params = PARAMS.filter(() => rnd() < 0.3);
    // Any order, and never the same parameter name twice (v=1 and v=2 would make the order matter).
    const unique = [...new Map(params.map((p) => [p.slice(0, p.indexOf('=')), p])).values()].sort(() => rnd() - 0.5);
    return { path: pick(rnd, PATHS), params: unique, lang: pick(rnd, LANGS), session: pick(rnd, SESSIONS), noise: rnd() < 0.5 ? `n${Math.floor(rnd() * 5)}` : undefined };
  });
}

function send(req: Req): Promise<{ status: number; cache: string; seen: { url: string; lang?: string; cookie?: string } }> {
  const url = new URL(edge.url);
  const fields: string[] = ['Host', HOST];
  if (req.lang !== undefined) fields.push('Accept-Language', req.lang);
  const cookies = [req.session === undefined ? undefined : `session=${req.session}`, req.noise === undefined ? undefined : `noise=${req.noise}`].filter((c) => c !== undefined);
  if (cookies.length > 0) fields.push('Cookie', cookies.join('; '));
  const target = req.path + (req.params.length > 0 ? `?${req.params.join('&')}` : '');
  return new Promise((resolve, reject) => {
    const r = request({ host: url.hostname, port: url.port, path: target, headers: fields as unknown as OutgoingHttpHeaders, setHost: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, cache: String(res.headers['x-cache']), seen: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end();
  });
}

/** The origin request an answer came from, keyed by the same model. */
function seenKey(seen: { url: string; lang?: string; cookie?: string }): string {
  const [path, query] = seen.url.split('?') as [string, string | undefined];
  const session = /(?:^|;\s*)session=([^;]*)/.exec(seen.cookie ?? '')?.[1];
  return modelKey(path, query === undefined || query === '' ? [] : query.split('&'), seen.lang, session);
}

let origin: ScriptedOrigin;
let edge: EdgeHandle;
const dirs: Array<{ remove(): Promise<void> }> = [];

before(async () => {
  origin = await startScriptedOrigin((req, res) => {
    const body = JSON.stringify({ url: req.url, lang: req.headers['accept-language'], cookie: req.headers.cookie });
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=3600', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
  const tmp = await tempDir();
  dirs.push(tmp);
  const c: CustomerConfig = { ...customer('customer-k', origin.url, [HOST]), rules: RULES };
  edge = await startEdge(edgeConfig(tmp.dir), { customers: createStaticCustomerFeed([c]), logger: silentLogger });
});

after(async () => {
  await edge?.close();
  await origin?.close();
  for (const d of dirs) await d.remove();
});

test('requests the rules key differently never share an entry; requests keyed alike share one, fetched once', async () => {
  const all = requests(400, 20261207);
  const keys = new Set<string>();
  let hits = 0;
  for (const [i, req] of all.entries()) {
    const res = await send(req);
    assert.equal(res.status, 200);
    const expected = modelKey(req.path, req.params, req.lang, req.session);
    assert.equal(seenKey(res.seen), expected, `request #${i} ${JSON.stringify(req)} was answered with the origin's answer to ${JSON.stringify(res.seen)}`);
    if (keys.has(expected)) {
      assert.equal(res.cache, 'HIT', `request #${i} ${JSON.stringify(req)}: its key was fetched before`);
      hits += 1;
    }
    keys.add(expected);
  }
  assert.equal(origin.requests.length, keys.size, 'the origin is asked once per key');
  // The run means something only if keys both split and merge requests.
  assert.ok(keys.size > 40 && hits > 100, `${keys.size} keys, ${hits} hits`);
  // Signature parameters never reach the origin.
  assert.ok(origin.requests.every((r) => !/[?&]ep_/.test(r.url)));
});
