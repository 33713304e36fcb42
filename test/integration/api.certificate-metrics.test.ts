/**
 * Certificate monitoring in the api's /metrics, read from a real PostgreSQL at scrape time:
 * every status and source pair (0 included), the soonest expiry per customer among served
 * certificates, the counts within the warning and critical windows and those windows as
 * thresholds (from CDN_CERTIFICATES_EXPIRY_*_DAYS). Certificates are uploaded through GraphQL
 * (demo CA, src/bin/demo-pki.ts); what an upload cannot make (ACME rows, a FAILED order, a
 * certificate past notAfter before the sweep) is written with SQL. The gauges are cached
 * for a few seconds, so each check scrapes until the change shows, then checks everything.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadApiConfig } from '../../src/api/config';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/bin/demo-pki';
import { startTestApi, type TestApi } from './api.harness';

const DAY = 24 * 3600 * 1000;
const WARNING_DAYS = 12;
const CRITICAL_DAYS = 6;
const UPLOAD = 'mutation($c: ID!, $cert: String!, $key: String!) { uploadCertificate(customerId: $c, certificatePem: $cert, privateKeyPem: $key) { id notAfter } }';
const STATUSES = ['PENDING', 'ISSUED', 'RENEWING', 'FAILED', 'EXPIRED'];
const SOURCES = ['ACME', 'UPLOADED'];

let t: TestApi;
let ca: CertificateAuthority;

/** The samples of one metric family: canonical label text (sorted `k="v"` pairs) → value. */
type Samples = Map<string, number>;

function parse(text: string, name: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    samples.set(labels.join(','), Number(m[3]));
  }
  return samples;
}

const key = (labels: Record<string, string>): string => Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');

interface Scrape {
  counts: Samples;
  expiry: Samples;
  expiring: Samples;
  thresholds: Samples;
  count(status: string, source: string): number | undefined;
}

async function scrape(): Promise<Scrape> {
  const res = await fetch(`${t.api.url}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const counts = parse(text, 'cdn_api_certificates');
  return {
    counts,
    expiry: parse(text, 'cdn_api_certificate_expiry_timestamp_seconds'),
    expiring: parse(text, 'cdn_api_certificates_expiring'),
    thresholds: parse(text, 'cdn_api_certificate_expiry_threshold_seconds'),
    count: (status, source) => counts.get(key({ status, source })),
  };
}

/** Scrapes until `ready` holds (the gauges are cached for a few seconds), then returns that scrape. */
async function scrapeUntil(ready: (s: Scrape) => boolean, what: string): Promise<Scrape> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = await scrape();
    if (ready(s)) return s;
    if (Date.now() > deadline) assert.fail(`/metrics never showed ${what}: ${JSON.stringify([...s.counts, ...s.expiring, ...s.expiry])}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every status and source pair: the expected counts, 0 for those not named. */
function expectCounts(s: Scrape, nonZero: Record<string, number>): void {
  const expected = new Map(STATUSES.flatMap((status) => SOURCES.map((source) => [key({ status, source }), nonZero[`${status}/${source}`] ?? 0] as const)));
  assert.deepEqual(s.counts, expected);
}

async function upload(customerId: string, domain: string, notAfter: Date): Promise<{ id: string; notAfterSeconds: number }> {
  const leaf = await ca.issue([domain], { notAfter });
  const res = await t.gql<{ uploadCertificate: { id: string; notAfter: string } }>(UPLOAD, { c: customerId, cert: leaf.chainPem, key: leaf.keyPem });
  assert.equal(res.errors, undefined, res.text);
  return { id: res.data!.uploadCertificate.id, notAfterSeconds: Date.parse(res.data!.uploadCertificate.notAfter) / 1000 };
}

/** A row an upload cannot make: an ACME order that failed or is under way, a certificate already expired. */
async function insertRow(customerId: string, source: string, status: string): Promise<void> {
  await t.dataSource.query(
    `INSERT INTO certificate (id, customer_id, domains, source, status, last_error, created_at, updated_at)
     VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, now(), now())`,
    [customerId, [`cdn.${customerId}.example`], source, status, status === 'FAILED' ? 'challenge not reachable' : null],
  );
}

const served: Record<string, { id: string; notAfterSeconds: number }> = {};

before(async () => {
  t = await startTestApi({ CDN_CERTIFICATES_EXPIRY_WARNING_DAYS: String(WARNING_DAYS), CDN_CERTIFICATES_EXPIRY_CRITICAL_DAYS: String(CRITICAL_DAYS) });
  ca = await createCertificateAuthority('Metrics Test CA');
  for (const id of ['alpha', 'beta', 'gamma']) {
    const res = await t.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
      input: { id, name: id, originUrl: `https://origin.${id}.example`, domains: [`cdn.${id}.example`, `www.${id}.example`] },
    });
    assert.equal(res.errors, undefined, res.text);
  }
});

after(async () => {
  await t?.close();
});

test('the thresholds default to 14 and 7 days, and a critical window longer than the warning one is refused', () => {
  const secrets = { CDN_ADMIN_TOKEN: 'a'.repeat(16), CDN_SECRET_KEY: 's'.repeat(32) };
  assert.deepEqual(loadApiConfig(secrets).certificateExpiry, { warningDays: 14, criticalDays: 7 });
  assert.throws(
    () => loadApiConfig({ ...secrets, CDN_CERTIFICATES_EXPIRY_WARNING_DAYS: '5', CDN_CERTIFICATES_EXPIRY_CRITICAL_DAYS: '6' }),
    /CDN_CERTIFICATES_EXPIRY_CRITICAL_DAYS: must not be above the warning window \(5 days\)/,
  );
});

test('with no certificate: every status and source at 0, nothing expiring, no expiry series, the thresholds from the configuration', async () => {
  const s = await scrape();
  expectCounts(s, {});
  assert.deepEqual(s.expiry, new Map());
  assert.deepEqual(s.expiring, new Map([[key({ window: 'warning' }), 0], [key({ window: 'critical' }), 0]]));
  assert.deepEqual(s.thresholds, new Map([[key({ window: 'warning' }), WARNING_DAYS * 86_400], [key({ window: 'critical' }), CRITICAL_DAYS * 86_400]]));
});

test('certificates counted by status and source, the soonest served expiry per customer, and those within each window', async () => {
  const now = Date.now();
  served.alphaLong = await upload('alpha', 'cdn.alpha.example', new Date(now + 90 * DAY));
  served.alphaSoon = await upload('alpha', 'www.alpha.example', new Date(now + 5 * DAY)); // critical (and so warning)
  served.beta = await upload('beta', 'cdn.beta.example', new Date(now + 10 * DAY)); // warning only
  served.gamma = await upload('gamma', 'cdn.gamma.example', new Date(now + 30 * DAY)); // neither
  await insertRow('alpha', 'ACME', 'FAILED');
  await insertRow('beta', 'ACME', 'PENDING');
  await insertRow('gamma', 'UPLOADED', 'EXPIRED');

  const s = await scrapeUntil((x) => x.count('EXPIRED', 'UPLOADED') === 1, 'the rows just written');
  expectCounts(s, { 'ISSUED/UPLOADED': 4, 'FAILED/ACME': 1, 'PENDING/ACME': 1, 'EXPIRED/UPLOADED': 1 });
  assert.deepEqual(s.expiry, new Map([
    [key({ customer: 'alpha' }), served.alphaSoon!.notAfterSeconds],
    [key({ customer: 'beta' }), served.beta!.notAfterSeconds],
    [key({ customer: 'gamma' }), served.gamma!.notAfterSeconds],
  ]));
  assert.deepEqual(s.expiring, new Map([[key({ window: 'warning' }), 2], [key({ window: 'critical' }), 1]]));
});

test('a certificate past notAfter stops counting as served at once (before the sweep marks it EXPIRED); RENEWING still counts; a customer without a served certificate loses its series', async () => {
  await t.dataSource.query(`UPDATE certificate SET not_after = now() - interval '1 minute' WHERE id = $1`, [served.alphaSoon!.id]);
  await t.dataSource.query(`UPDATE certificate SET status = 'RENEWING' WHERE id = $1`, [served.beta!.id]);
  const gone = await t.gql('mutation($id: ID!) { deleteCertificate(id: $id) }', { id: served.gamma!.id });
  assert.equal(gone.errors, undefined, gone.text);

  let s = await scrapeUntil((x) => x.count('RENEWING', 'UPLOADED') === 1, 'the updated rows');
  // Still ISSUED in the table (the sweep has not run), but not served: out of the expiry series and the windows.
  expectCounts(s, { 'ISSUED/UPLOADED': 2, 'RENEWING/UPLOADED': 1, 'FAILED/ACME': 1, 'PENDING/ACME': 1, 'EXPIRED/UPLOADED': 1 });
  assert.deepEqual(s.expiry, new Map([
    [key({ customer: 'alpha' }), served.alphaLong!.notAfterSeconds],
    [key({ customer: 'beta' }), served.beta!.notAfterSeconds],
  ]));
  assert.deepEqual(s.expiring, new Map([[key({ window: 'warning' }), 1], [key({ window: 'critical' }), 0]]));

  await t.dataSource.query(`UPDATE certificate SET status = 'EXPIRED', renew_at = NULL WHERE id = $1`, [served.alphaSoon!.id]);
  s = await scrapeUntil((x) => x.count('EXPIRED', 'UPLOADED') === 2, 'the certificate marked EXPIRED');
  expectCounts(s, { 'ISSUED/UPLOADED': 1, 'RENEWING/UPLOADED': 1, 'FAILED/ACME': 1, 'PENDING/ACME': 1, 'EXPIRED/UPLOADED': 2 });
  assert.equal(s.expiry.get(key({ customer: 'alpha' })), served.alphaLong!.notAfterSeconds);
});

test('the expiry series stay bounded: only the 100 customers whose certificates expire first, the fleet\'s soonest among them; the windows count them all', async () => {
  // 120 customers, customer bulk-N with a served certificate expiring in N hours: all sooner than alpha's and beta's.
  await t.dataSource.query(
    `INSERT INTO customer (id, name, origin_url, cache_ttl)
     SELECT 'bulk-' || lpad(i::text, 3, '0'), 'Bulk ' || i, 'https://origin.bulk.example', 60 FROM generate_series(1, 120) AS i`,
  );
  await t.dataSource.query(
    `INSERT INTO certificate (id, customer_id, domains, source, status, cert_pem, key_enc, not_before, not_after, created_at, updated_at)
     SELECT gen_random_uuid(), 'bulk-' || lpad(i::text, 3, '0'), ARRAY['cdn.bulk-' || i || '.example'], 'ACME', 'ISSUED', 'pem', 'sealed',
            now() - interval '1 day', date_trunc('second', now()) + i * interval '1 hour', now(), now()
       FROM generate_series(1, 120) AS i`,
  );
  const s = await scrapeUntil((x) => x.count('ISSUED', 'ACME') === 120, 'the bulk certificates');
  const customers = [...s.expiry.keys()].map((k) => /customer="(.+)"/.exec(k)![1]!).sort();
  assert.deepEqual(customers, Array.from({ length: 100 }, (_, i) => `bulk-${String(i + 1).padStart(3, '0')}`));
  const rows: Array<{ soonest: Date }> = await t.dataSource.query(`SELECT min(not_after) AS soonest FROM certificate WHERE status IN ('ISSUED', 'RENEWING') AND not_after > now()`);
  assert.equal(Math.min(...s.expiry.values()), rows[0]!.soonest.getTime() / 1000);
  // Every bulk certificate is within 5 days (critical: 6), beta's RENEWING one within the warning window only.
  assert.deepEqual(s.expiring, new Map([[key({ window: 'warning' }), 121], [key({ window: 'critical' }), 120]]));
});
