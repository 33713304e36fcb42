/**
 * The live dashboard (/dashboard) in a real browser (Debian chromium through playwright-core)
 * against real processes: a `cdn api` and a `cdn edge` on the real PostgreSQL and Redis, a
 * demo origin, and requests through the edge. The page is read through what it displays
 * (text and data-value attributes), never through pixels. Saves test-artifacts/dashboard.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createRedisFleet } from '../../src/bus/redis-fleet';
import { startDemoOrigin, type DemoOrigin } from '../../src/demo/demo-origin';
import { launchChromium } from '../support/chromium';
import { graphqlRequest, httpGet, ROOT, spawnCdn, stackEnv, type CdnProcess } from '../support/processes';
import { createTestDatabase, createTestRedisPrefix, type TestDatabase, type TestRedis } from '../support/services';

const TOKEN = 'dashboard-admin-token-0123456789abcdef';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const HOST_A = 'cdn.customer-a.local';

let db: TestDatabase;
let redis: TestRedis;
let dataDir: string;
let origin: DemoOrigin;
let api: CdnProcess;
let edge: CdnProcess;
let apiUrl: string;
/** The api's environment, kept to restart it on the same port. */
let apiEnv: Record<string, string>;
let edgeUrl: string;
let browser: Browser;

before(async () => {
  db = await createTestDatabase();
  redis = createTestRedisPrefix();
  dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-dashboard-'));
  origin = await startDemoOrigin({ customerId: 'customer-a' });
  const env = stackEnv(
    { databaseUrl: db.url, redisUrl: redis.url, redisPrefix: redis.prefix, adminToken: TOKEN, secretKey: 'dashboard-secret-key-0123456789abcdef-xyz' },
    // A fixed (free) port, so the api can be restarted where the page expects it.
    { CDN_API_PORT: String(await freePort()), CDN_EDGE_WORKERS: '1', CDN_DATA_DIR: dataDir, CDN_LOG_LEVEL: 'warn' },
  );
  // Alerts evaluated twice a second, so the alerts test sees a transition promptly.
  apiEnv = { ...env, CDN_LOG_LEVEL: 'info', CDN_ALERT_EVAL_INTERVAL_MS: '500' };
  api = spawnCdn(['api'], apiEnv);
  apiUrl = String((await api.waitForLog('api listening')).url).replace(/\/graphql$/, '');
  edge = spawnCdn(['edge'], { ...env, CDN_LOG_LEVEL: 'info' });
  edgeUrl = String((await edge.waitForLog('edge listening')).url);
  const customers = [
    { id: 'customer-a', name: 'Shop A', originUrl: origin.url, domains: [HOST_A] },
    { id: 'customer-b', name: 'Blog B', originUrl: 'http://origin.customer-b.example', domains: ['cdn.customer-b.local'] },
  ];
  for (const input of customers) {
    const res = await graphqlRequest(apiUrl, TOKEN, 'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input });
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  }
  // The edge serves customer-a once the change has reached it over the bus.
  for (let i = 0; ; i++) {
    const res = await httpGet(`${edgeUrl}/warm`, HOST_A);
    if (res.status === 200) break;
    if (i > 200) throw new Error(`the edge never served ${HOST_A} (last status ${res.status})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  const codes = await Promise.all([edge?.stop(), api?.stop()]);
  await origin?.close();
  await db?.drop();
  await redis?.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  assert.deepEqual(codes, [0, 0], 'edge and api exit 0 on SIGTERM');
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A new tab on the dashboard that records requests leaving the api's origin and script errors. */
async function openDashboard(hash = ''): Promise<{ page: Page; outside: string[]; pageErrors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
  const outside: string[] = [];
  const pageErrors: string[] = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.protocol !== 'data:' && url.host !== new URL(apiUrl).host) outside.push(req.url());
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${apiUrl}/dashboard${hash}`);
  return { page, outside, pageErrors };
}

async function connect(page: Page, token: string): Promise<void> {
  await page.getByLabel('Api token').fill(token);
  await page.getByRole('button', { name: 'Connect' }).click();
}

/** The number a chart (or other output) displays, from its data-value; null while it shows none. */
async function shown(page: Page, selector: string): Promise<number | null> {
  const v = await page.locator(selector).getAttribute('data-value');
  return v === null || v === '' ? null : Number(v);
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: last seen ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the page is one HTML document and two local scripts, small, cacheable, with a CSP that forbids anything else', async () => {
  const res = await fetch(`${apiUrl}/dashboard`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  const html = await res.text();
  assert.doesNotMatch(html, new RegExp(TOKEN), 'the page holds no token');
  const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]!);
  assert.equal(scripts.length, 2);
  const host = new URL(apiUrl).host;
  let wire = 0;
  for (const target of ['/dashboard', ...scripts]) {
    // What a browser transfers (brotli), and what a client without Accept-Encoding gets.
    const gzipped = await httpGet(`${apiUrl}${target}`, host, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    assert.equal(gzipped.status, 200, target);
    assert.equal(gzipped.headers['content-encoding'], 'br', target);
    wire += Number(gzipped.headers['content-length']);
    const plain = await httpGet(`${apiUrl}${target}`, host);
    assert.equal(plain.headers['content-encoding'], undefined, target);
    if (target !== '/dashboard') {
      assert.match(target, /^\/dashboard\/[a-z-]+\.js\?v=[0-9a-f]{16}$/);
      assert.match(String(plain.headers['content-type']), /javascript/);
      assert.match(String(plain.headers['cache-control']), /immutable/, 'the hashed URL is cached for good');
      const stale = await httpGet(`${apiUrl}${target.replace(/v=[0-9a-f]+/, 'v=0000000000000000')}`, host);
      assert.equal(stale.headers['cache-control'], 'no-cache', 'another version\'s URL is not');
    }
  }
  assert.ok(wire < 25_000, `the page and its scripts take ${wire} bytes on the wire`);
});

test('a wrong token shows the api refusing it and keeps asking for the token', async () => {
  const { page, pageErrors } = await openDashboard();
  await connect(page, 'not-the-token');
  const alert = page.getByRole('alert');
  await alert.getByText('The api refused this token').waitFor({ timeout: 15_000 });
  // The api's own explanation, word for word, and what to do.
  const refused = await graphqlRequest(apiUrl, 'not-the-token', '{ customers { totalCount } }');
  const text = await alert.innerText();
  assert.ok(text.includes(refused.errors![0]!.message), `${text} includes the api's message`);
  assert.match(text, /Paste a valid token and connect again/);
  assert.equal(await page.getByLabel('Api token').isVisible(), true);
  assert.equal(await page.locator('#main').isVisible(), false);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('edgeplane.dashboard.token')), null, 'a refused token is not kept');
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('an unknown customer in the address shows NOT_FOUND and what to do', async () => {
  const { page, pageErrors } = await openDashboard('#customer=no-such-customer');
  await connect(page, TOKEN);
  const alert = page.getByRole('alert');
  await alert.getByText('Pick another customer').waitFor({ timeout: 15_000 });
  assert.match(await alert.innerText(), /no-such-customer/);
  // Picking a real customer clears the error.
  await page.getByLabel('Customer', { exact: true }).selectOption('customer-b');
  await until('alert hidden', () => alert.isVisible(), (v) => !v);
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('with the token, the charts of the chosen customer follow the traffic through the edge, with fleet totals and purges', async () => {
  const { page, outside, pageErrors } = await openDashboard();
  await connect(page, TOKEN);
  await page.locator('#conn').getByText('Live').waitFor({ timeout: 15_000 });
  assert.equal(await page.getByLabel('Api token').isVisible(), false, 'the token form is gone once connected');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('edgeplane.dashboard.token')), TOKEN);
  const select = page.getByLabel('Customer', { exact: true });
  assert.deepEqual(await select.locator('option').allTextContents(), ['Shop A (customer-a)', 'Blog B (customer-b)']);
  await select.selectOption('customer-a');
  // The history query drew the last minutes (one point per second) before any live event.
  const points = await until('history points drawn', async () => Number(await page.locator('#chart-rps').getAttribute('data-points')), (n) => n >= 60);
  assert.ok(points <= 300, `at most 5 minutes of points, got ${points}`);
  const edgeIds = await graphqlRequest<{ edges: { edgeId: string }[] }>(apiUrl, TOKEN, '{ edges { edgeId } }');
  const edgeId = edgeIds.data!.edges[0]!.edgeId;

  // Traffic until stopped (at most 30 s): a few paths, so the first request of each misses (origin latency) and the rest hit.
  let sent = 0;
  const paths = ['/a.json', '/b.json', '/c.json', '/d.json'];
  let stop = false;
  const traffic = (async () => {
    const end = Date.now() + 30_000;
    while (!stop && Date.now() < end) {
      await Promise.all(
        paths.map(async (p) => {
          const res = await httpGet(`${edgeUrl}${p}`, HOST_A);
          assert.equal(res.status, 200);
        }),
      );
      sent += paths.length;
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  try {
    // While it flows: the live values, the per-edge row and the fleet's top customers.
    await until('requests/s shown', () => shown(page, '#chart-rps .v[data-key=requestsPerSecond]'), (v) => v !== null && v > 0);
    await until('hit ratio shown', () => shown(page, '#chart-hit .v[data-key=hitRatio]'), (v) => v !== null && v > 0.5 && v <= 1);
    await until('bandwidth shown', () => shown(page, '#chart-bw .v[data-key=bytesPerSecond]'), (v) => v !== null && v > 0);
    await until('edge row', () => page.locator('#edges tbody').innerText(), (t) => t.includes(edgeId));
    await until('top customers', () => page.locator('#top tbody').innerText(), (t) => /Shop A \(customer-a\)/.test(t));
    await until('active customers', async () => Number(await page.locator('#fleet dd[data-key=activeCustomers]').innerText()), (n) => n >= 1);

    // A purge (the /a objects miss again afterwards) appears in the purge list with the edge that applied it.
    const purge = await graphqlRequest(apiUrl, TOKEN, 'mutation { purgeCache(input: { customerId: "customer-a", kind: PREFIX, value: "/a" }) { id } }');
    assert.equal(purge.errors, undefined, JSON.stringify(purge.errors));
    const purges = page.locator('#purges tbody');
    await until('purge listed as complete', () => purges.innerText(), (t) => /PREFIX\s+\/a\s+complete/.test(t) && t.includes(`${edgeId} ✓`));

    // A few seconds of traffic on the charts, for the screenshot only.
    await page.waitForTimeout(3000);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  } finally {
    stop = true;
    await traffic;
  }
  // Every request customer-a was answered in these 5 minutes is counted once: the one warm-up
  // request of before() (the 404s before it were for a host not known yet) and the traffic. Not
  // "the total read before the traffic + sent": the warm-up's second can reach the api's history
  // after the page's first history query and arrive with the live events (seen: 0 before, sent + 1 after).
  await until(`requests total matches the warm-up request and the traffic (${sent} sent)`, async () => Number(await page.locator('#requests-total').getAttribute('data-value')), (v) => v === 1 + sent);
  const peakRps = Number(await page.locator('#chart-rps').getAttribute('data-peak'));
  assert.ok(peakRps > 0 && peakRps <= sent, `peak requests/s ${peakRps} is positive and at most the ${sent} requests sent`);
  // The misses went to the origin: some second of the window has an origin latency.
  const peakLatency = await page.locator('#chart-latency').getAttribute('data-peak');
  assert.ok(Number(peakLatency) > 0, `origin latency peak ${peakLatency}`);
  // After the traffic, the live values fall back to zero.
  await until('requests/s back to 0', () => shown(page, '#chart-rps .v[data-key=requestsPerSecond]'), (v) => v === 0);

  assert.deepEqual(outside, [], 'the dashboard makes no request outside the api');
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('a pending purge shows the edge that has not applied it, and turns complete live when that edge does', async () => {
  // The test plays a second, lagging edge on the fleet channel, beside the real one.
  const fleet = createRedisFleet({ url: redis.url, prefix: redis.prefix });
  const lagging = 'edge-test-lagging';
  const now = new Date().toISOString();
  await fleet.heartbeat({ edgeId: lagging, host: 'lagging.test', pid: 4242, version: '9.9.9-test', appliedSeq: 0, ready: true, startedAt: now, heartbeatAt: now, cacheObjects: 0, cacheBytes: 0 }, 60_000);
  try {
    const { page, pageErrors } = await openDashboard('#customer=customer-a');
    await connect(page, TOKEN);
    await page.locator('#conn').getByText('Live').waitFor({ timeout: 15_000 });
    const res = await graphqlRequest<{ purgeCache: { id: string; seq: number } }>(
      apiUrl,
      TOKEN,
      'mutation { purgeCache(input: { customerId: "customer-a", kind: URL, value: "/lagging.json" }) { id seq } }',
    );
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    const row = page.locator('#purges tbody tr').filter({ hasText: '/lagging.json' });
    await until('pending with the lagging edge waiting', () => row.innerText().catch(() => ''), (t) => /pending: 1 of 2 edges/.test(t) && t.includes(`${lagging} waiting`), 20_000);

    await fleet.ack([{ purgeId: res.data!.purgeCache.id, seq: res.data!.purgeCache.seq, edgeId: lagging, appliedAt: new Date().toISOString(), objectsRemoved: 7 }]);
    await until('complete once the lagging edge applied it', () => row.innerText(), (t) => /complete/.test(t) && t.includes(`${lagging} ✓`) && t.includes('(7 removed)'), 20_000);
    assert.equal(await page.getByRole('alert').isVisible(), false);
    assert.deepEqual(pageErrors, []);
    await page.close();
  } finally {
    await fleet.leave(lagging);
    await fleet.close();
  }
});

test('origin health: the origins of the customer with their edges up, and one going down on an edge shown live with its reason', async () => {
  // The test plays a second edge on the fleet channel, beside the real one, and reports its origin going down.
  const fleet = createRedisFleet({ url: redis.url, prefix: redis.prefix });
  const played = 'edge-test-origins';
  const now = new Date().toISOString();
  await fleet.heartbeat({ edgeId: played, host: 'origins.test', pid: 4243, version: '9.9.9-test', appliedSeq: 0, ready: true, startedAt: now, heartbeatAt: now, cacheObjects: 0, cacheBytes: 0, originsDown: [] }, 60_000);
  try {
    const { page, pageErrors } = await openDashboard('#customer=customer-a');
    await connect(page, TOKEN);
    await page.locator('#conn').getByText('Live').waitFor({ timeout: 15_000 });
    const row = page.locator('#origins tbody tr').filter({ hasText: 'primary' });
    const cells = async () => (await row.locator('td').allInnerTexts()).map((t) => t.trim());
    const up = await until('primary up on both edges', cells, (c) => c.length === 5 && c[2] === '2' && c[3] === '0');
    assert.equal(up[1], origin.url);

    await page.waitForTimeout(300);
    await fleet.reportOriginHealth([{ edgeId: played, customerId: 'customer-a', origin: 'primary', state: 'down', reason: 'connect ECONNREFUSED (played)', at: new Date().toISOString() }]);
    const down = await until('primary down on the played edge, live', cells, (c) => c[2] === '1' && c[3] === '1');
    assert.match(down[4]!, new RegExp(`${played} since .*: connect ECONNREFUSED \\(played\\)`));
    assert.equal(await page.getByRole('alert').isVisible(), false);
    assert.deepEqual(pageErrors, []);
    await page.close();
  } finally {
    await fleet.leave(played);
    await fleet.close();
  }
});

test('alerts: the customer\'s rules with their states, one firing shown live when an edge holds its origin down, and back to OK', async () => {
  const set = await graphqlRequest(apiUrl, TOKEN, 'mutation { setAlertRules(customerId: "customer-a", rules: [{ name: "origin-down", kind: ORIGIN_DOWN, forSeconds: 0 }, { name: "hit-ratio", kind: HIT_RATIO_BELOW, threshold: 0.1 }]) { id } }');
  assert.equal(set.errors, undefined, JSON.stringify(set.errors));
  const fleet = createRedisFleet({ url: redis.url, prefix: redis.prefix });
  const played = 'edge-test-alerts';
  const now = new Date().toISOString();
  await fleet.heartbeat({ edgeId: played, host: 'alerts.test', pid: 4244, version: '9.9.9-test', appliedSeq: 0, ready: true, startedAt: now, heartbeatAt: now, cacheObjects: 0, cacheBytes: 0, originsDown: [] }, 60_000);
  try {
    const { page, pageErrors } = await openDashboard('#customer=customer-a');
    await connect(page, TOKEN);
    await page.locator('#conn').getByText('Live').waitFor({ timeout: 15_000 });
    const row = page.locator('#alerts tbody tr').filter({ hasText: 'origin-down' });
    const cells = async () => (await row.locator('td').allInnerTexts()).map((t) => t.trim());
    const ok = await until('origin-down listed OK', cells, (c) => c.length === 6 && c[2] === 'OK');
    assert.equal(ok[1], 'ORIGIN_DOWN');
    await page.waitForTimeout(300);
    const downAt = new Date().toISOString();
    await fleet.reportOriginHealth([{ edgeId: played, customerId: 'customer-a', origin: 'primary', state: 'down', reason: 'connect ECONNREFUSED (played)', at: downAt }]);
    const firing = await until('origin-down FIRING, live', cells, (c) => c[2] === 'FIRING');
    assert.equal(firing[4], '1');
    assert.match(await page.locator('#alerts tbody tr').first().innerText(), /origin-down/, 'firing alerts come first');
    await fleet.reportOriginHealth([{ edgeId: played, customerId: 'customer-a', origin: 'primary', state: 'up', reason: 'health check passed', at: new Date(Date.parse(downAt) + 1).toISOString() }]);
    await until('origin-down back to OK, live', cells, (c) => c[2] === 'OK');
    assert.equal(await page.getByRole('alert').isVisible(), false);
    assert.deepEqual(pageErrors, []);
    await page.close();
  } finally {
    await fleet.leave(played);
    await fleet.close();
    await graphqlRequest(apiUrl, TOKEN, 'mutation { setAlertRules(customerId: "customer-a", rules: []) { id } }');
  }
});

test('a token scoped to one customer sees that customer only, without the fleet section it may not read', async () => {
  const created = await graphqlRequest<{ createToken: { secret: string } }>(
    apiUrl,
    TOKEN,
    'mutation { createToken(input: { name: "dashboard test viewer", role: CUSTOMER_VIEWER, customerId: "customer-a", expiresIn: "1h" }) { secret } }',
  );
  assert.equal(created.errors, undefined, JSON.stringify(created.errors));
  const { page, pageErrors } = await openDashboard();
  await connect(page, created.data!.createToken.secret);
  await page.locator('#conn').getByText('Live').waitFor({ timeout: 15_000 });
  assert.deepEqual(await page.getByLabel('Customer', { exact: true }).locator('option').allTextContents(), ['Shop A (customer-a)']);
  await until('history points drawn', async () => Number(await page.locator('#chart-rps').getAttribute('data-points')), (n) => n > 0);
  await until('fleet section hidden', () => page.locator('#fleet-section').isVisible(), (v) => !v);
  assert.equal(await page.getByRole('alert').isVisible(), false);
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('when the api goes away the page says so, retries with growing waits, and is live again once it is back', async () => {
  const { page, pageErrors } = await openDashboard('#customer=customer-a');
  await connect(page, TOKEN);
  const status = page.locator('#conn');
  await status.getByText('Live').waitFor({ timeout: 15_000 });
  await until('history points drawn', async () => Number(await page.locator('#chart-rps').getAttribute('data-points')), (n) => n > 0);

  // Every message the alert shows, in order (the api's drain can take longer than the first waits).
  await page.evaluate(() => {
    const alert = document.getElementById('alert')!;
    const seen: string[] = [];
    (window as unknown as { alerts: string[] }).alerts = seen;
    new MutationObserver(() => seen.push(alert.textContent ?? '')).observe(alert, { childList: true, characterData: true, subtree: true });
  });
  const alerts = (): Promise<string[]> => page.evaluate(() => (window as unknown as { alerts: string[] }).alerts);
  assert.equal(await api.stop(), 0);
  const retries = await until('two retries announced', alerts, (seen) => seen.some((t) => t.includes('(attempt 2)')), 20_000);
  const waits = [1, 2].map((n) => {
    const message = retries.find((t) => t.includes(`(attempt ${n})`));
    assert.match(message ?? '', /^Connection to the api lost\. Reconnecting in \d+ s \(attempt \d\)…$/, JSON.stringify(retries));
    return Number(/in (\d+) s/.exec(message!)![1]);
  });
  assert.ok(waits[1]! > waits[0]!, `the second wait (${waits[1]} s) is longer than the first (${waits[0]} s)`);
  assert.equal(await status.innerText(), 'Reconnecting…');
  const alert = page.getByRole('alert');
  assert.equal(await alert.isVisible(), true);

  api = spawnCdn(['api'], apiEnv);
  await api.waitForLog('api listening');
  await status.getByText('Live').waitFor({ timeout: 30_000 });
  await until('alert cleared', () => alert.isVisible(), (v) => !v);
  // The subscription is back: new traffic shows.
  await until(
    'requests/s after the reconnect',
    async () => {
      await httpGet(`${edgeUrl}/after-reconnect.json`, HOST_A);
      return shown(page, '#chart-rps .v[data-key=requestsPerSecond]');
    },
    (v) => v !== null && v > 0,
  );
  assert.deepEqual(pageErrors, []);
  await page.close();
});
