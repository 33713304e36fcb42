/**
 * Headless Chromium (Debian's chromium through playwright-core) loads a page through the
 * edge: its script and stylesheet arrive compressed — gzip over plain HTTP (Chromium offers
 * brotli only over HTTPS), brotli over HTTPS/h2 — and decode: the script runs and the style
 * applies. A second visit from a fresh browser context gets the stored copies (hits).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { createCertificateAuthority } from '../../src/bin/demo-pki';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { homeTrusting, launchChromium } from '../support/chromium';
import { customer, customerTls, edgeCertificate, edgeConfig, pemFile, silentLogger, startScriptedOrigin, tempDir, type ScriptedOrigin } from './edge.harness';

const HOST = 'cdn.a.test';
/** Long enough to be compressed (256 bytes and more), short enough to read. */
const SCRIPT = `${'// the page script, padded with comments so that it is worth compressing\n'.repeat(20)}document.body.dataset.ran = 'yes';\n`;
const STYLE = `${'/* the page style, padded with comments so that it is worth compressing */\n'.repeat(20)}body { color: rgb(1, 2, 3); }\n`;
const PAGE = `<!doctype html><html><head><link rel="stylesheet" href="/style.css"></head><body><p>${'hello '.repeat(80)}</p><script src="/app.js"></script></body></html>`;

let origin: ScriptedOrigin;
let edge: EdgeHandle;
let browser: Browser;
const dirs: string[] = [];
const removers: Array<{ remove(): Promise<void> }> = [];

before(async () => {
  origin = await startScriptedOrigin((req, res) => {
    const bodies: Record<string, [string, string]> = { '/index.html': ['text/html; charset=utf-8', PAGE], '/app.js': ['text/javascript', SCRIPT], '/style.css': ['text/css', STYLE] };
    const found = bodies[req.url!];
    if (found === undefined) {
      res.writeHead(404, { 'cache-control': 'no-store' }).end();
      return;
    }
    res.writeHead(200, { 'content-type': found[0], 'cache-control': 'public, max-age=3600', etag: `"${req.url!.slice(1)}"` });
    res.end(found[1]);
  });
  const ca = await createCertificateAuthority('Compression Test CA');
  const leaf = await ca.issue([HOST]);
  const tmp = await tempDir();
  removers.push(tmp);
  const c = customer('customer-a', origin.url, [HOST], { tls: customerTls([edgeCertificate(leaf, [HOST])], { httpsRedirect: false }) });
  edge = await startEdge(edgeConfig(tmp.dir), { customers: createStaticCustomerFeed([c]), logger: silentLogger });
  // Chromium on Linux trusts what the user's NSS database says: a home whose database trusts the test CA.
  const home = await homeTrusting(await pemFile(tmp.dir, 'ca.pem', ca.certPem), 'Compression Test CA');
  dirs.push(home);
  browser = await launchChromium({ home, loopbackNames: [HOST] });
});

after(async () => {
  await browser?.close();
  await edge?.close();
  await origin?.close();
  for (const r of removers) await r.remove();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Seen {
  encoding: string | undefined;
  cache: string | undefined;
  vary: string | undefined;
}

/** Opens `url` in a fresh context (no browser cache); what each of the page's resources arrived with, and whether script and style took effect. */
async function visit(url: string): Promise<{ seen: Record<string, Seen>; ran: string | undefined; color: string; protocol: string }> {
  const context = await browser.newContext();
  const page: Page = await context.newPage();
  const seen: Record<string, Seen> = {};
  page.on('response', (response) => {
    const headers = response.headers();
    seen[new URL(response.url()).pathname] = { encoding: headers['content-encoding'], cache: headers['x-cache'], vary: headers.vary };
  });
  try {
    const response = await page.goto(url, { waitUntil: 'load' });
    assert.equal(response?.status(), 200);
    await page.waitForFunction(() => document.body.dataset.ran === 'yes', undefined, { timeout: 5000 });
    const ran = await page.evaluate(() => document.body.dataset.ran);
    const color = await page.evaluate(() => getComputedStyle(document.body).color);
    const protocol = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol);
    return { seen, ran, color, protocol };
  } finally {
    await context.close();
  }
}

test('over HTTPS (h2) the page, its script and its style arrive in brotli and work; a second visit gets the stored copies', async () => {
  const url = `https://${HOST}:${edge.tlsPort}/index.html`;
  for (const [round, cache] of [[1, 'MISS'], [2, 'HIT']] as const) {
    const v = await visit(url);
    assert.equal(v.protocol, 'h2');
    assert.equal(v.ran, 'yes', `round ${round}: the brotli script was decoded and ran`);
    assert.equal(v.color, 'rgb(1, 2, 3)', `round ${round}: the brotli style was decoded and applied`);
    for (const p of ['/index.html', '/app.js', '/style.css']) {
      assert.equal(v.seen[p]?.encoding, 'br', `round ${round}: ${p}`);
      assert.match(String(v.seen[p]?.vary), /accept-encoding/i, p);
      if (round === 2) assert.equal(v.seen[p]?.cache, cache, `round ${round}: ${p}`);
    }
    // The copies are made once the misses are stored: wait for them before the second round.
    if (round === 1) await new Promise((r) => setTimeout(r, 200));
  }
});

test('over plain HTTP Chromium offers gzip, deflate: the resources arrive in gzip and work', async () => {
  const v = await visit(`http://${HOST}:${edge.port}/index.html`);
  assert.equal(v.ran, 'yes');
  assert.equal(v.color, 'rgb(1, 2, 3)');
  for (const p of ['/index.html', '/app.js', '/style.css']) assert.equal(v.seen[p]?.encoding, 'gzip', p);
  for (const r of origin.requests) assert.equal(r.headers['accept-encoding'], undefined, 'the origin never sees Accept-Encoding');
});
