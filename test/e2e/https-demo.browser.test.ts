/**
 * `cdn start` serves its demo customers over HTTPS: the demo CA made once in
 * `<CDN_DATA_DIR>/tls/`, the banner's curl line (HTTP/2, a HIT), and headless Chromium
 * (Debian chromium through playwright-core) loading a demo page over h2 with the demo CA
 * trusted, and nothing else trusted: the same browser refuses an edge certificate that the
 * demo CA did not sign. A second start keeps the CA and the certificates.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { createCertificateAuthority } from '../../src/bin/demo-pki';
import { homeTrusting, launchChromium } from '../support/chromium';
import { graphqlRequest, spawnCdn, type CdnProcess } from '../support/processes';

const run = promisify(execFile);
const dirs: string[] = [];
let browser: Browser | undefined;

after(async () => {
  await browser?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function startDemo(dataDir: string): CdnProcess {
  return spawnCdn(['start'], {
    CDN_DATA_DIR: dataDir,
    CDN_API_PORT: '0',
    CDN_EDGE_PORT: '0',
    CDN_EDGE_ADMIN_PORT: '0',
    CDN_EDGE_TLS_PORT: '0',
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    CDN_ADMIN_TOKEN: undefined,
    CDN_SECRET_KEY: undefined,
    CDN_ALLOW_PRIVATE_ORIGINS: undefined,
  });
}

interface Banner {
  api: string;
  token: string;
  tlsPort: number;
  caFile: string;
  curl: string;
}

async function readBanner(proc: CdnProcess): Promise<Banner> {
  const api = (await proc.waitForOutput(/GraphQL API \+ IDE\s+(http:\S+)\/graphql/, 90_000))[1]!;
  const token = (await proc.waitForOutput(/admin token\s+(\S+)/))[1]!;
  const tlsPort = Number((await proc.waitForOutput(/edge \(HTTPS\)\s+port (\d+)/))[1]);
  const [, caFile, curl] = await proc.waitForOutput(/curl -i --cacert (\S+) (--resolve [^\n]*\\\n\s+https:\S+)/);
  return { api, token, tlsPort, caFile: caFile!, curl: curl!.replace(/\\\n\s+/, '') };
}

test('cdn start: the demo customers over HTTPS and HTTP/2 with the demo CA (curl and Chromium), kept across restarts', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-https-demo-'));
  dirs.push(dataDir);
  const first = startDemo(dataDir);
  let caPem: string;
  let certificateIds: string[];
  try {
    const banner = await readBanner(first);
    assert.equal(banner.caFile, path.join(dataDir, 'tls', 'demo-ca.pem'));
    caPem = await readFile(banner.caFile, 'utf8');
    assert.match(new X509Certificate(caPem).subject, /Edgeplane demo CA/);

    // The banner's curl line, as printed: HTTP/2, the second answer a HIT.
    const args = ['-s', '-i', '--cacert', banner.caFile, ...banner.curl.split(/\s+/)];
    await run('curl', args);
    const { stdout } = await run('curl', args);
    assert.match(stdout, /^HTTP\/2 200/);
    assert.match(stdout, /\r\nx-cache: HIT\r\n/i);

    const list = await graphqlRequest<{ certificates: Array<{ id: string; status: string; source: string; issuer: string }> }>(
      banner.api,
      banner.token,
      '{ certificates(customerId: "customer-b") { id status source issuer } }',
    );
    assert.equal(list.errors, undefined);
    assert.deepEqual(list.data!.certificates.map((c) => [c.status, c.source]), [['ISSUED', 'UPLOADED']]);
    assert.match(list.data!.certificates[0]!.issuer, /Edgeplane demo CA/);
    certificateIds = list.data!.certificates.map((c) => c.id);

    // Chromium trusts the demo CA (imported into its NSS database) and resolves the demo names to this machine.
    const home = await homeTrusting(banner.caFile, 'Edgeplane demo CA');
    dirs.push(home);
    browser = await launchChromium({ home, loopbackNames: ['cdn.customer-a.local', 'cdn.customer-c.local', 'other.customer-c.local'] });
    const page = await browser.newPage();
    const response = await page.goto(`https://cdn.customer-c.local:${banner.tlsPort}/index.html`);
    assert.equal(response?.status(), 200);
    const protocol = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol);
    assert.equal(protocol, 'h2');
    assert.equal((await response!.securityDetails())?.subjectName, 'cdn.customer-c.local');
    assert.match(await page.content(), /customer-c/);

    // Nothing else is trusted: a server whose certificate another CA signed is refused.
    const stranger = await (await createCertificateAuthority('Not the demo CA')).issue(['other.customer-c.local']);
    const server = createServer({ cert: stranger.certPem, key: stranger.keyPem }, (_req, res) => res.end('should not be shown'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await assert.rejects(page.goto(`https://other.customer-c.local:${(server.address() as AddressInfo).port}/`), /ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await page.close();
  } finally {
    assert.equal(await first.stop(), 0);
  }

  // A second start on the same directory: same CA, the certificates of the first run kept.
  const second = startDemo(dataDir);
  try {
    const banner = await readBanner(second);
    assert.equal(await readFile(banner.caFile, 'utf8'), caPem);
    const list = await graphqlRequest<{ certificates: Array<{ id: string }> }>(banner.api, banner.token, '{ certificates(customerId: "customer-b") { id } }');
    assert.deepEqual(list.data!.certificates.map((c) => c.id), certificateIds);
  } finally {
    assert.equal(await second.stop(), 0);
  }
});
