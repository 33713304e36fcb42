/**
 * The customer portal (/portal) in a real browser (Debian chromium through playwright-core)
 * against a real api (the api harness: its own PostgreSQL database, port 0) whose edges are
 * played on its in-process fleet and stats channel (playEdge, acks, stats reports), so a purge's
 * progress per edge is driven step by step. The page is read through what it shows (roles,
 * labels, text, data attributes). Screenshots go to test-artifacts/portal-*.png (ignored by
 * git), as dashboard.browser.test.ts keeps test-artifacts/dashboard.png.
 *
 * A webhook's test delivery goes to a real receiver on loopback, which checks its signature.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ORIGIN_LATENCY_BUCKETS_MS, type CustomerStatsDelta } from '../../src/core/stats.port';
import { verifyWebhook, WEBHOOK_HEADERS } from '../../src/core/webhook.signature';
import { playEdge, startTestApi, TOKEN, tokenFor, type TestApi } from '../integration/api.harness';
import { launchChromium } from '../support/chromium';
import { httpGet, ROOT } from '../support/processes';

const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const CUSTOMER = 'customer-a';

let t: TestApi;
let browser: Browser;
let adminOfA: string;
let viewerOfA: string;

before(async () => {
  // Webhook receivers of these tests listen on loopback; alerts are judged every half second.
  t = await startTestApi({ CDN_ALLOW_PRIVATE_WEBHOOKS: 'true', CDN_ALERT_EVAL_INTERVAL_MS: '500' });
  for (const input of [
    { id: CUSTOMER, name: 'Shop A', originUrl: 'http://127.0.0.1:9', domains: ['cdn.customer-a.test'] },
    { id: 'customer-b', name: 'Blog B', originUrl: 'http://127.0.0.1:9', domains: ['cdn.customer-b.test'] },
  ]) {
    const res = await t.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input });
    assert.equal(res.errors, undefined, res.text);
  }
  await playEdge(t, 'edge-1');
  await playEdge(t, 'edge-2');
  adminOfA = await tokenFor(t, 'CUSTOMER_ADMIN', CUSTOMER);
  viewerOfA = await tokenFor(t, 'CUSTOMER_VIEWER', CUSTOMER);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await t?.close();
});

interface Tab {
  page: Page;
  /** Requests that left the api's origin. */
  outside: string[];
  /** Script errors and console errors (a CSP violation is one), but the 401 of a refused token. */
  problems: string[];
}

async function openPortal(): Promise<Tab> {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
  const outside: string[] = [];
  const problems: string[] = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.protocol !== 'data:' && url.host !== new URL(t.api.url).host) outside.push(req.url());
  });
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (msg) => {
    // A refused token's 401 is logged by the browser as a failed load: expected, not a fault of the page.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource: the server responded with a status of 401')) problems.push(msg.text());
  });
  await page.goto(`${t.api.url}/portal`);
  return { page, outside, problems };
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Api token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `portal-${name}.png`), fullPage: true });
}

async function focusedText(page: Page): Promise<string> {
  return page.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement?.textContent?.trim()}`);
}

function done(tab: Tab): void {
  assert.deepEqual(tab.outside, [], 'the portal asks nothing outside the api');
  assert.deepEqual(tab.problems, [], 'no script or CSP error');
}

test('the portal is one HTML document, graphql-ws and ES modules under content-hashed URLs, compressed, with a CSP that forbids anything else', async () => {
  const res = await fetch(`${t.api.url}/portal`);
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy') ?? '';
  for (const part of ["default-src 'none'", "script-src 'self'", "connect-src 'self' ws: wss:", "frame-ancestors 'none'"]) assert.ok(csp.includes(part), `${csp} has ${part}`);
  assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/=]+'/);
  const html = await res.text();
  const scripts = [...html.matchAll(/<script (?:type="module" )?src="([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(scripts.length >= 9, `graphql-ws, the pages and the app: ${scripts.join(' ')}`);
  const host = new URL(t.api.url).host;
  let wire = 0;
  for (const target of scripts) {
    assert.match(target, /^\/portal\/[a-z-]+\.js\?v=[0-9a-f]{16}$/);
    const br = await httpGet(`${t.api.url}${target}`, host, { headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(br.status, 200, target);
    assert.equal(br.headers['content-encoding'], 'br', target);
    wire += Number(br.headers['content-length']);
    assert.match(String(br.headers['cache-control']), /immutable/, target);
    const stale = await httpGet(`${t.api.url}${target.replace(/v=[0-9a-f]+/, 'v=0000000000000000')}`, host);
    assert.equal(stale.headers['cache-control'], 'no-cache', 'another version\'s URL is not cached for good');
  }
  assert.ok(wire < 40_000, `the scripts take ${wire} bytes on the wire`);
  // A page module imports the core under its hashed URL, so both change together.
  const purge = await (await fetch(`${t.api.url}${scripts.find((s) => s.includes('portal-purge'))}`)).text();
  assert.match(purge, /from '\/portal\/portal-core\.js\?v=[0-9a-f]{16}'/);
});

test('a bad token is refused with the api\'s own words and is not kept', async () => {
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, 'not-a-token');
  const alert = page.getByRole('alert');
  await alert.waitFor();
  const refused = await t.gql('{ customers { totalCount } }', {}, 'not-a-token');
  const text = await alert.innerText();
  assert.ok(text.includes(refused.errors![0]!.message), `${text} has the api's message`);
  assert.match(text, /UNAUTHENTICATED/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('edgeplane.portal.token')), null);
  assert.equal(await page.getByLabel('Api token').isVisible(), true);
  await screenshot(page, 'refused');
  done(tab);
  await page.close();
});

test('a customer admin signs in straight to its customer; the overview follows its traffic live', async () => {
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, adminOfA);
  await page.getByRole('heading', { name: 'Overview', level: 2 }).waitFor();
  assert.equal(await focusedText(page), 'H2 Overview', 'focus moves to the page heading');
  assert.match(await page.locator('#who').innerText(), /Shop A.*customer-a.*CUSTOMER_ADMIN/);
  assert.equal(await page.getByLabel('Customer', { exact: true }).isVisible(), false, 'no customer to pick');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('edgeplane.portal.token')), adminOfA);
  const nav = await page.getByRole('navigation', { name: 'Portal' }).getByRole('link').allInnerTexts();
  assert.deepEqual(nav, ['Overview', 'Top URLs', 'Alerts', 'Purge', 'Domains and certificates', 'Delivery rules', 'Tokens', 'Signing keys', 'Webhooks', 'Audit log']);

  // Traffic from both edges, one report per edge per second, until the page shows it.
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      const second = Math.floor(Date.now() / 1000) - 1;
      for (const edgeId of ['edge-1', 'edge-2']) {
        await t.stats.publish({ edgeId, at: new Date((second + 1) * 1000).toISOString(), intervalMs: 1000, customers: [delta({ requests: 10, results: { HIT: 8, MISS: 2 }, bytesSent: 20_000, originResponses: 2 })] });
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  try {
    await page.locator('#overview-state[data-live=true]').waitFor({ timeout: 15_000 });
    await until('requests shown', async () => Number(await page.locator('.v[data-key=requestsPerSecond]').getAttribute('data-value')), (v) => v === 20);
    assert.equal(Number(await page.locator('.v[data-key=hitRatio]').getAttribute('data-value')), 0.8);
    assert.equal(Number(await page.locator('.v[data-key=bytesPerSecond]').getAttribute('data-value')), 40_000);
    assert.equal(Number(await page.locator('.v[data-key=errorRatio]').getAttribute('data-value')), 0);
    const p95 = Number(await page.locator('.v[data-key=originP95Ms]').getAttribute('data-value'));
    assert.ok(p95 > 25 && p95 <= 50, `origin p95 ${p95} ms, inside the 25-50 ms bucket every origin response was counted in`);
    assert.ok(Number(await page.locator('#requests-total').getAttribute('data-value')) >= 20);
    assert.match((await page.locator('#chart-rps canvas').getAttribute('aria-label'))!, /^Requests per second over the last 5 minutes: now 20/);
    await until('per-edge rows', () => page.locator('#page table').innerText(), (s) => s.includes('edge-1') && s.includes('edge-2'));
    await screenshot(page, 'overview');
  } finally {
    stop = true;
    await traffic;
  }
  done(tab);
  await page.close();
});

test('a purge shows its progress per edge live, and completes when both edges applied it', async () => {
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, adminOfA);
  await page.getByRole('link', { name: 'Purge' }).click();
  await page.getByRole('heading', { name: 'Purge', level: 2 }).waitFor();
  await page.getByLabel('Prefix').check();
  await page.getByLabel(/Path prefix/).fill('/img/');
  await page.getByRole('button', { name: 'Purge', exact: true }).click();
  const live = page.locator('#purge-live');
  await until('pending on both edges', () => live.innerText(), (s) => s.includes('0 of 2 edges'));
  assert.equal(await live.getAttribute('role'), 'status', 'progress is a live region');
  const purgeId = (await page.locator('#purge-progress').getAttribute('data-purge-id'))!;
  const res = await t.gql<{ purge: { seq: number } }>('query($id: ID!) { purge(id: $id) { seq } }', { id: purgeId });
  const seq = res.data!.purge.seq;

  await t.fleet.ack([{ purgeId, seq, edgeId: 'edge-1', appliedAt: new Date().toISOString(), objectsRemoved: 3 }]);
  await until('one edge applied', () => live.innerText(), (s) => s.includes('1 of 2 edges'));
  const edges = page.locator('#purge-edges');
  await until('edge-1 ticked, edge-2 waiting', () => edges.innerText(), (s) => /edge-1\s+✓/.test(s) && /edge-2\s+waiting/.test(s));
  assert.equal(await page.locator('#purge-bar').evaluate((el: HTMLProgressElement) => [el.value, el.max].join('/')), '1/2');
  await screenshot(page, 'purge-progress');

  await t.fleet.ack([{ purgeId, seq, edgeId: 'edge-2', appliedAt: new Date().toISOString(), objectsRemoved: 0 }]);
  await until('complete', () => live.innerText(), (s) => s.startsWith('Complete: applied by 2 of 2 edges'));
  await until('listed as complete', () => page.locator('#purge-recent').innerText(), (s) => /PREFIX \/img\/\s+complete/.test(s));
  await screenshot(page, 'purge-complete');

  // Everything needs the confirming checkbox: the browser's own validation stops the form before any request.
  await page.getByLabel('Everything').check();
  await page.getByRole('button', { name: 'Purge', exact: true }).click();
  assert.equal(await page.getByLabel(/Yes, remove every cached object of Shop A/).evaluate((el: HTMLInputElement) => el.validity.valueMissing), true);
  const count = await t.gql<{ purges: { totalCount: number } }>('{ purges(customerId: "customer-a") { totalCount } }');
  assert.equal(count.data!.purges.totalCount, 1, 'no second purge was asked');
  done(tab);
  await page.close();
});

test('a new token is shown once, listed, and works; revoking it is shown too', async () => {
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, adminOfA);
  await page.getByRole('link', { name: 'Tokens' }).click();
  await page.getByLabel('Name').fill('ci deploys');
  await page.getByLabel('Role').selectOption('CUSTOMER_PURGER');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = page.locator('#token-secret');
  await secret.waitFor();
  const value = (await secret.innerText()).trim();
  assert.equal(await focusedText(page), `CODE ${value}`, 'focus moves to the secret');
  assert.match(await page.locator('#token-created').innerText(), /shown this once/);
  const list = page.locator('#tokens');
  await until('listed', () => list.innerText(), (s) => /ci deploys\s+CUSTOMER_PURGER\s+ACTIVE/.test(s));
  assert.ok(!(await list.innerText()).includes(value), 'the list never shows a secret');
  // The secret is a working token of the customer, as the api says.
  const me = await t.gql<{ customers: { nodes: Array<{ id: string }> } }>('{ customers { nodes { id } } }', {}, value);
  assert.deepEqual(me.data?.customers.nodes.map((c) => c.id), [CUSTOMER]);
  await screenshot(page, 'token-created');

  // Leaving the page and coming back: the secret is gone for good.
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('link', { name: 'Tokens' }).click();
  await until('listed again', () => list.innerText(), (s) => s.includes('ci deploys'));
  assert.equal(await page.locator('#token-secret').count(), 0);
  assert.ok(!(await page.content()).includes(value));
  await page.getByRole('button', { name: 'Revoke ci deploys' }).click();
  await until('revoked', () => list.innerText(), (s) => /ci deploys\s+CUSTOMER_PURGER\s+REVOKED/.test(s));
  done(tab);
  await page.close();
});

test('a customer viewer cannot purge: the control is disabled, and the api refuses anyway', async () => {
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, viewerOfA);
  await page.getByRole('heading', { name: 'Overview', level: 2 }).waitFor();
  const nav = await page.getByRole('navigation', { name: 'Portal' }).getByRole('link').allInnerTexts();
  assert.ok(!nav.includes('Tokens'), `no Tokens page for a viewer: ${nav.join(', ')}`);
  // A page this role may not open, named in the address, falls back to the first page.
  await page.evaluate(() => { location.hash = '#/tokens'; });
  await page.waitForTimeout(200);
  assert.equal(await page.locator('#page-title').innerText(), 'Overview');
  assert.equal(await page.evaluate(() => location.hash), '#/overview');
  await page.getByRole('link', { name: 'Purge' }).click();
  assert.equal(await page.getByRole('button', { name: 'Purge', exact: true }).isDisabled(), true);
  assert.match(await page.locator('#purge-denied').innerText(), /CUSTOMER_VIEWER.*not ask for one/);
  await screenshot(page, 'viewer-purge');
  // The page only hides what the role cannot do; the api is what refuses it.
  const refused = await t.gql('mutation { purgeCache(input: { customerId: "customer-a", kind: ALL }) { id } }', {}, viewerOfA);
  assert.equal(refused.errors?.[0]?.extensions.code, 'FORBIDDEN');
  // Read-only rules: the editor is there to read, not to save.
  await page.getByRole('link', { name: 'Delivery rules' }).click();
  assert.equal(await page.getByLabel(/Rules, in order/).getAttribute('readonly'), '');
  assert.equal(await page.getByRole('button', { name: 'Save rules' }).count(), 0);
  await page.getByRole('link', { name: 'Alerts' }).click();
  assert.equal(await page.getByLabel(/Alert rules \(JSON/).getAttribute('readonly'), '');
  assert.equal(await page.getByRole('button', { name: 'Save alert rules' }).count(), 0);
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await page.getByText('Your role may see the webhooks').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Create webhook' }).count(), 0);
  await page.getByRole('link', { name: 'Signing keys' }).click();
  assert.equal(await page.getByRole('button', { name: 'Create a signing key' }).isDisabled(), true);
  done(tab);
  await page.close();
});

test('domains: a customer admin adds one and removes one; removing the last is refused in the api\'s words', async () => {
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, adminOfA);
  await page.getByRole('link', { name: 'Domains and certificates' }).click();
  const domains = page.locator('#domains');
  await until('listed', () => domains.innerText(), (s) => s.includes('cdn.customer-a.test'));
  await page.getByLabel('New domain').fill('www.customer-a.test');
  await page.getByRole('button', { name: 'Add domain' }).click();
  await until('added', () => domains.innerText(), (s) => s.includes('www.customer-a.test'));
  await page.getByRole('button', { name: 'Remove cdn.customer-a.test' }).click();
  await until('removed', () => domains.innerText(), (s) => !s.includes('cdn.customer-a.test'));
  await page.getByRole('button', { name: 'Remove www.customer-a.test' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  const refused = await t.gql('mutation { updateCustomer(id: "customer-a", input: { domains: [] }) { id } }', {}, adminOfA);
  assert.ok((await alert.innerText()).includes(refused.errors![0]!.message), 'the api\'s own refusal');
  assert.match(await alert.innerText(), /BAD_USER_INPUT/);
  assert.match(await page.locator('#certificates').innerText(), /No certificate/);
  await screenshot(page, 'domains');
  // Back as it was, for the other tests.
  const back = await t.gql('mutation { updateCustomer(id: "customer-a", input: { domains: ["cdn.customer-a.test"] }) { id } }');
  assert.equal(back.errors, undefined, back.text);
  done(tab);
  await page.close();
});

test('rules are saved through setDeliveryRules, and its refusals are shown field by field', async () => {
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, adminOfA);
  await page.getByRole('link', { name: 'Delivery rules' }).click();
  const area = page.getByLabel(/Rules, in order/);
  await until('loaded', () => area.inputValue(), (v) => v === '[]');
  await area.fill(JSON.stringify([{ name: 'static', match: { globs: ['no-slash'] }, actions: { cache: { browserTtl: 60 } } }]));
  await page.getByRole('button', { name: 'Save rules' }).click();
  const errors = page.locator('#rules-errors');
  await until('refused', () => errors.innerText(), (s) => s.includes('BAD_USER_INPUT'));
  assert.match(await errors.innerText(), /rules\[0\]/);
  await screenshot(page, 'rules-refused');
  const rule = { name: 'static', match: { extensions: ['css', 'js'], any: [{ pathPrefixes: ['/a/'] }, { not: { methods: ['POST'] } }] }, actions: { cache: { browserTtl: 60 } } };
  await area.fill(JSON.stringify([rule]));
  await page.getByRole('button', { name: 'Save rules' }).click();
  await until('saved', () => page.locator('#rules-status').innerText(), (s) => s.startsWith('Saved 1 rules'));
  // What the page shows again is what the api stored, as setDeliveryRules takes it.
  assert.deepEqual(JSON.parse(await area.inputValue()), [rule]);
  done(tab);
  await page.close();
});

test('signing keys: a new key\'s secret is shown once; an admin token picks a customer; sign-out forgets the token', async () => {
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, TOKEN);
  await page.getByRole('heading', { name: 'Overview', level: 2 }).waitFor();
  const select = page.getByLabel('Customer', { exact: true });
  assert.deepEqual(await select.locator('option').allTextContents(), ['Shop A (customer-a)', 'Blog B (customer-b)']);
  await select.selectOption('customer-b');
  await page.getByRole('link', { name: 'Signing keys' }).click();
  await page.getByRole('button', { name: 'Create a signing key' }).click();
  await page.locator('#key-secret').waitFor();
  const keys = await t.gql<{ customer: { signingKeys: Array<{ id: string }> } }>('{ customer(id: "customer-b") { signingKeys { id } } }');
  assert.equal(keys.data!.customer.signingKeys.length, 1, 'made for the customer picked');
  await until('listed', () => page.locator('#keys').innerText(), (s) => s.includes(keys.data!.customer.signingKeys[0]!.id));
  await page.getByRole('link', { name: 'Audit log' }).click();
  await until('audit shows the key', () => page.locator('#audit').innerText(), (s) => s.includes('createSigningKey'));
  await screenshot(page, 'audit');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Api token').waitFor();
  assert.equal(await page.evaluate(() => JSON.stringify(Object.keys(sessionStorage))), '[]');
  assert.match(await page.getByRole('status').innerText(), /Signed out/);
  done(tab);
  await page.close();
});

test('a webhook is created (its secret shown once) and a test delivery reaches a real receiver, signed, with the outcome shown live', async () => {
  const received: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];
  const receiver: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  try {
    const tab = await openPortal();
    const { page } = tab;
    await signIn(page, adminOfA);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByLabel('URL').fill(url);
    await page.getByLabel('Description').fill('ci receiver');
    await page.getByLabel('origin.down').check();
    await page.getByRole('button', { name: 'Create webhook' }).click();
    const secret = page.locator('#webhook-secret');
    await secret.waitFor();
    const value = (await secret.innerText()).trim();
    assert.equal(await focusedText(page), `CODE ${value}`, 'focus moves to the secret');
    await until('listed', () => page.locator('#webhooks').innerText(), (s) => s.includes(url) && s.includes('origin.down') && s.includes('purge.completed'));

    await page.getByRole('button', { name: 'Send a test to ci receiver' }).click();
    const outcome = page.locator('#webhook-outcome');
    assert.equal(await outcome.getAttribute('role'), 'status', 'the outcome is a live region');
    await until('delivered', () => outcome.innerText(), (s) => s === 'Test delivery delivered: the receiver answered HTTP 200.', 20_000);
    assert.match(await page.locator('#webhook-deliveries').innerText(), /webhook\.test\s+DELIVERED\s+1\s+HTTP 200/);
    await screenshot(page, 'webhook-test');

    // The receiver got it once, signed with the secret the page showed.
    assert.equal(received.length, 1);
    const [got] = received;
    assert.equal(JSON.parse(got!.body).type, 'webhook.test');
    const header = (name: string) => String(got!.headers[name]);
    assert.ok(verifyWebhook(value, { timestamp: header(WEBHOOK_HEADERS.timestamp), signature: header(WEBHOOK_HEADERS.signature) }, got!.body), 'signed with the secret shown');

    // Leaving and coming back: the secret is gone; the delivery can be sent again.
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('button', { name: 'Deliveries of ci receiver' }).click();
    assert.equal(await page.locator('#webhook-secret').count(), 0);
    await page.getByRole('button', { name: /^Redeliver webhook\.test/ }).click();
    await until('redelivered', () => outcome.innerText(), (s) => s === 'Redelivery of webhook.test delivered: the receiver answered HTTP 200.', 20_000);
    assert.equal(received.length, 2);
    assert.equal(received[1]!.headers[WEBHOOK_HEADERS.id], received[0]!.headers[WEBHOOK_HEADERS.id], 'the same event id');
    done(tab);
    await page.close();
  } finally {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});

test('alert rules are saved (the api\'s refusals shown first) and an alert firing on live stats is shown as it happens', async () => {
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, TOKEN);
  await page.getByRole('heading', { name: 'Overview', level: 2 }).waitFor();
  await page.getByLabel('Customer', { exact: true }).selectOption('customer-b');
  await page.getByRole('link', { name: 'Alerts' }).click();
  const area = page.getByLabel(/Alert rules \(JSON/);
  await until('loaded', () => area.inputValue(), (v) => v === '[]');
  await area.fill(JSON.stringify([{ name: 'Hits!', kind: 'HIT_RATIO_BELOW' }]));
  await page.getByRole('button', { name: 'Save alert rules' }).click();
  const errors = page.locator('#alerts-errors');
  await until('refused', () => errors.innerText(), (s) => s.includes('BAD_USER_INPUT'));
  const rule = { name: 'hits', kind: 'HIT_RATIO_BELOW', threshold: 0.9, forSeconds: 0, windowSeconds: 10, minRequests: 1, enabled: true };
  await area.fill(JSON.stringify([rule]));
  await page.getByRole('button', { name: 'Save alert rules' }).click();
  await until('saved', () => page.locator('#alert-rules-status').innerText(), (s) => s === 'Saved 1 alert rules.');
  assert.deepEqual(JSON.parse(await area.inputValue()), [rule]);

  // One hit in ten, every second, until the page shows the alert firing.
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      const second = Math.floor(Date.now() / 1000) - 1;
      await t.stats.publish({ edgeId: 'edge-1', at: new Date((second + 1) * 1000).toISOString(), intervalMs: 1000, customers: [delta({ customerId: 'customer-b', requests: 10, results: { HIT: 1, MISS: 9 }, bytesSent: 1000, originResponses: 9 })] });
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  try {
    await page.locator('#alerts-states [data-rule=hits][data-state=FIRING]').waitFor({ timeout: 20_000 });
    assert.match(await page.locator('#alerts-live').innerText(), /^Alert hits: (OK|PENDING) → FIRING \(10\.0 %\)\.$/);
    assert.equal(await page.locator('#alerts-live').getAttribute('role'), 'status');
    await until('history', () => page.locator('#alerts-history').innerText(), (s) => /hits\s+(OK|PENDING) → FIRING/.test(s));
    await screenshot(page, 'alerts');
  } finally {
    stop = true;
    await traffic;
  }
  const cleared = await t.gql('mutation { setAlertRules(customerId: "customer-b", rules: []) { id } }');
  assert.equal(cleared.errors, undefined, cleared.text);
  done(tab);
  await page.close();
});

test('Top URLs: the last hour\'s busiest paths with the range of each count, and the status codes, from two edges\' minute summaries', async () => {
  // Two edge processes ship the minute that just ended, as edges do in their first report after it.
  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
  const top = (paths: Array<{ key: string; count: number; error: number }>, floor: number, statuses: Array<{ status: number; count: number }>) => ({ minute: new Date(minute).toISOString(), requests: statuses.reduce((n, s) => n + s.count, 0), paths, floor, statuses });
  await t.stats.publish({ edgeId: 'edge-1', at: new Date(minute + 61_000).toISOString(), intervalMs: 1000, customers: [delta({ customerId: 'customer-b', requests: 0, top: top([{ key: '/index.html', count: 50, error: 0 }, { key: '/feed.xml', count: 12, error: 2 }], 2, [{ status: 200, count: 60 }, { status: 404, count: 4 }]) })] });
  await t.stats.publish({ edgeId: 'edge-2', at: new Date(minute + 61_000).toISOString(), intervalMs: 1000, customers: [delta({ customerId: 'customer-b', requests: 0, top: top([{ key: '/index.html', count: 30, error: 0 }], 0, [{ status: 200, count: 29 }, { status: 503, count: 1 }]) })] });
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, TOKEN);
  await page.getByRole('heading', { name: 'Overview', level: 2 }).waitFor();
  await page.getByLabel('Customer', { exact: true }).selectOption('customer-b');
  await page.getByRole('link', { name: 'Top URLs' }).click();
  await page.getByRole('heading', { name: 'Top URLs', level: 2 }).waitFor();
  // The reports are stored by the api in the background: reload until they are there.
  await until('the summaries shown', async () => {
    await page.getByRole('button', { name: 'Reload' }).click();
    await page.waitForTimeout(200);
    return page.locator('#top-summary').innerText();
  }, (s) => s.startsWith('94 requests'));
  assert.match(await page.locator('#top-summary').innerText(), /\(2 edge minutes\)\.$/);
  const rows = await page.locator('#top-paths tbody tr').allInnerTexts();
  assert.deepEqual(rows.map((r) => r.split('\t').map((c) => c.trim())), [
    ['/index.html', '80', '80', '80'],
    // Listed by edge-1 only (12, 2 of them perhaps inherited); edge-2 was not full, so nothing missing.
    ['/feed.xml', '12', '10', '12'],
  ]);
  const codes = await page.locator('#top-statuses tbody tr').allInnerTexts();
  assert.deepEqual(codes.map((r) => r.split('\t').map((c) => c.trim())), [
    ['200', '89', '94.7 %'],
    ['404', '4', '4.3 %'],
    ['503', '1', '1.1 %'],
  ]);
  assert.equal(await page.locator('#top-statuses [data-status="503"]').getAttribute('class'), 'bad');
  await page.getByLabel('Window').selectOption('15');
  await until('the 15 minute window', () => page.locator('#top-summary').innerText(), (s) => s.startsWith('94 requests'));
  await screenshot(page, 'top-urls');
  done(tab);
  await page.close();
});

test('a token revoked while a live page is open signs the tab out at once, with the api\'s message', async () => {
  const tab = await openPortal();
  const { page } = tab;
  const created = await t.gql<{ createToken: { secret: string; token: { id: string } } }>(
    'mutation($input: CreateTokenInput!) { createToken(input: $input) { secret token { id } } }',
    { input: { name: 'soon revoked', role: 'CUSTOMER_PURGER', customerId: CUSTOMER, expiresIn: '1h' } },
  );
  const { secret, token } = created.data!.createToken;
  await signIn(page, secret);
  // Live first: the overview's graphql-ws connection is open.
  await page.locator('#overview-state[data-live=true]').waitFor({ timeout: 15_000 });
  const revoked = await t.gql('mutation($id: ID!) { revokeToken(id: $id) { id } }', { id: token.id });
  assert.equal(revoked.errors, undefined, revoked.text);
  const revokedAt = Date.now();
  // Nothing clicked: the api closes the live connection (4401 CDN_ERR_AUTH_REVOKED) and the tab signs out with the api's own words.
  const alert = page.getByRole('alert');
  await alert.waitFor({ timeout: 3_000 });
  assert.ok(Date.now() - revokedAt < 3_000, `signed out ${Date.now() - revokedAt} ms after the revocation`);
  const refused = await t.gql('{ customers { totalCount } }', {}, secret);
  assert.ok((await alert.innerText()).includes(refused.errors![0]!.message), `${await alert.innerText()} has the api's message`);
  assert.match(await alert.innerText(), /UNAUTHENTICATED, CDN_ERR_AUTH_REVOKED/);
  assert.equal(await page.getByLabel('Api token').isVisible(), true);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('edgeplane.portal.token')), null);
  done(tab);
  await page.close();
});

test('a customer admin reads its customer\'s audit log, and nothing about another customer', async () => {
  const tab = await openPortal();
  const { page } = tab;
  // Something about each customer, made by the platform (the bootstrap admin token).
  for (const [customerId, value] of [[CUSTOMER, '/audit-a'], ['customer-b', '/audit-b']]) {
    const res = await t.gql('mutation($input: PurgeInput!) { purgeCache(input: $input) { id } }', { input: { customerId, kind: 'URL', value } });
    assert.equal(res.errors, undefined, res.text);
  }
  await signIn(page, adminOfA);
  await page.getByRole('heading', { name: 'Overview', level: 2 }).waitFor();
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 2 }).waitFor();
  const list = page.locator('#audit table');
  await until('entries shown', () => list.innerText(), (s) => s.includes('/audit-a'));
  const text = await list.innerText();
  assert.match(text, /createCustomer/, 'the customer\'s creation');
  assert.match(text, /createToken/, 'its tokens being made');
  assert.ok(!text.includes('/audit-b') && !text.includes('customer-b') && !text.includes('Blog B'), 'nothing about customer-b');
  await screenshot(page, 'audit-customer-admin');
  done(tab);
  await page.close();
});

test('rules nested deeper than a query may read are shown as far as read, and saving them is refused by the page', async () => {
  let match: Record<string, unknown> = { pathPrefixes: ['/deep/'] };
  for (let i = 0; i < 7; i++) match = { not: match };
  const set = await t.gql('mutation($rules: [DeliveryRuleInput!]!) { setDeliveryRules(customerId: "customer-b", rules: $rules) { id } }', {
    rules: [{ name: 'deep', match, actions: { cache: { bypass: true } } }],
  });
  assert.equal(set.errors, undefined, set.text);
  const tab = await openPortal();
  const { page } = tab;
  await signIn(page, TOKEN);
  await page.getByRole('heading', { name: 'Overview', level: 2 }).waitFor();
  await page.getByLabel('Customer', { exact: true }).selectOption('customer-b');
  await page.getByRole('link', { name: 'Delivery rules' }).click();
  await until('limit shown', () => page.locator('#rules-errors').innerText(), (s) => s.includes('deeper than the portal can read'));
  assert.equal(await page.getByRole('button', { name: 'Save rules' }).isDisabled(), true);
  assert.equal(await page.getByLabel(/Rules, in order/).getAttribute('readonly'), '');
  const back = await t.gql('mutation { setDeliveryRules(customerId: "customer-b", rules: []) { id } }');
  assert.equal(back.errors, undefined, back.text);
  done(tab);
  await page.close();
});

test('the keyboard alone signs in and reaches every page, focus on each page\'s heading', async () => {
  const tab = await openPortal();
  const { page } = tab;
  assert.equal(await focusedText(page), 'INPUT ', 'the token field has focus on arrival');
  await page.keyboard.type(TOKEN);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Overview', level: 2 }).waitFor();
  const titles = await page.getByRole('navigation', { name: 'Portal' }).getByRole('link').allInnerTexts();
  assert.deepEqual(titles, ['Overview', 'Top URLs', 'Alerts', 'Purge', 'Domains and certificates', 'Delivery rules', 'Tokens', 'Signing keys', 'Webhooks', 'Audit log']);
  for (const title of [...titles.slice(1), titles[0]!]) {
    // From the current page's heading, back (Shift+Tab) into the navigation to the link.
    let found = false;
    for (let i = 0; i < 20 && !found; i++) {
      await page.keyboard.press('Shift+Tab');
      found = (await focusedText(page)) === `A ${title}`;
    }
    assert.ok(found, `${title} reached by keyboard`);
    await page.keyboard.press('Enter');
    await until(`${title} heading focused`, () => focusedText(page), (s) => s === `H2 ${title}`);
    assert.equal(await page.locator(`nav a[aria-current=page]`).innerText(), title);
    await page.waitForTimeout(300); // the page's first answers drawn
    assert.deepEqual(await unlabelled(page), [], `every control of ${title} has a label`);
    assert.equal(await page.getByRole('main').count(), 1, 'one main landmark shown');
  }
  assert.equal(await page.getByRole('banner').count(), 1);
  assert.equal(await page.getByRole('navigation', { name: 'Portal' }).count(), 1);
  // The skip link is the first stop of the page.
  await page.locator('body').focus();
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press('Tab');
  assert.equal(await focusedText(page), 'A Skip to content');
  done(tab);
  await page.close();
});

/** Visible form controls without an accessible name from a label, aria-label or aria-labelledby. */
function unlabelled(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLInputElement>('input, select, textarea'))
      .filter((el) => el.offsetParent !== null && (el.labels?.length ?? 0) === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
      .map((el) => el.outerHTML),
  );
}

function delta(fields: Partial<CustomerStatsDelta>): CustomerStatsDelta {
  const buckets = new Array<number>(ORIGIN_LATENCY_BUCKETS_MS.length + 1).fill(0);
  buckets[5] = fields.originResponses ?? 0;
  return { customerId: CUSTOMER, requests: 0, results: {}, serverErrors: 0, bytesSent: 0, originResponses: 0, originErrors: 0, originLatencyBuckets: buckets, ...fields };
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: last seen ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
