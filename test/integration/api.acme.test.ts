/**
 * Certificates issued by ACME end to end, on loopback: a real api (PostgreSQL) with
 * CDN_ACME_DIRECTORY_URL pointing at a private Debian `pebble`, a real edge following the
 * api's bus and reporting to its fleet channel, and pebble validating HTTP-01 against that
 * edge's plain port (pebble-challtestsrv answers every name with 127.0.0.1). Nothing stands
 * in: the challenge token travels as a customer change from the api to the edge, and the
 * certificate back the same way to the edge's HTTPS port.
 *
 * Pebble issues certificates valid for VALIDITY_SECONDS, so a renewal (at two thirds of the
 * life of a certificate that lives less than 3 × CDN_ACME_RENEW_BEFORE_DAYS) comes within
 * the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import { startDemoOrigin, type DemoOrigin } from '../../src/demo/demo-origin';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { startPebble, type Pebble } from '../support/pebble';
import { freePort } from '../support/redis-server';
import { eventually } from '../support/processes';
import { SECRET_KEY, startTestApi, type TestApi } from './api.harness';
import { edgeConfig, handshake, silentLogger, tempDir } from './edge.harness';

const VALIDITY_SECONDS = 24;

let pebble: Pebble;
let api: TestApi;
let edge: EdgeHandle | undefined;
let origin: DemoOrigin;
let edgePort: number;
const cleanups: Array<() => Promise<unknown>> = [];

interface CertificateRow {
  id: string;
  domains: string[];
  source: string;
  status: string;
  notAfter: string | null;
  issuer: string | null;
  lastError: string | null;
}

const CERTIFICATE_FIELDS = 'id domains source status notAfter issuer lastError';

async function certificates(customerId: string): Promise<CertificateRow[]> {
  const res = await api.gql<{ certificates: CertificateRow[] }>(`query($id: ID!) { certificates(customerId: $id) { ${CERTIFICATE_FIELDS} } }`, { id: customerId });
  assert.equal(res.errors, undefined, res.text);
  return res.data!.certificates;
}

async function createCustomer(id: string, domains: string[]): Promise<void> {
  const res = await api.gql(`mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
    input: { id, name: id, originUrl: origin.url, domains },
  });
  assert.equal(res.errors, undefined, res.text);
}

before(async () => {
  edgePort = await freePort();
  pebble = await startPebble({ httpPort: edgePort, certificateValiditySeconds: VALIDITY_SECONDS });
  cleanups.push(() => pebble.stop());
  const fleet = new MemoryFleet();
  api = await startTestApi(
    {
      CDN_ALLOW_PRIVATE_ORIGINS: 'true',
      CDN_ACME_DIRECTORY_URL: pebble.directoryUrl,
      CDN_ACME_CA_FILE: pebble.caFile,
      CDN_ACME_EMAIL: 'ops@edgeplane.test',
      CDN_ACME_CHECK_INTERVAL_MS: '300',
      CDN_ACME_RETRY_BASE_MS: '1000',
      CDN_ACME_PROPAGATION_TIMEOUT_MS: '10000',
    },
    { fleet },
  );
  cleanups.push(() => api.close());
  origin = await startDemoOrigin({ customerId: 'acme-a' });
  cleanups.push(() => origin.close());
  const tmp = await tempDir();
  cleanups.push(() => tmp.remove());
  const customers = createBusCustomerFeed(api.bus, { dataDir: tmp.dir, logger: silentLogger, blockMs: 100, retryMinMs: 20, retryMaxMs: 100 });
  edge = await startEdge(edgeConfig(tmp.dir, { CDN_SECRET_KEY: SECRET_KEY, CDN_EDGE_PORT: String(edgePort), CDN_EDGE_HEARTBEAT_MS: '100', CDN_EDGE_ID: 'acme-edge' }), {
    customers,
    fleet,
    logger: silentLogger,
  });
});

after(async () => {
  await edge?.close();
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

test('a new domain gets a certificate by itself: ordered, the challenge answered by the edge, issued, presented by SNI, renewed before expiry', async (t) => {
  await createCustomer('acme-a', ['cdn.acme-a.test', 'www.acme-a.test']);
  let issued: CertificateRow[] = [];
  await eventually(
    async () => {
      issued = (await certificates('acme-a')).filter((c) => c.status === 'ISSUED');
      return issued.length === 2;
    },
    60_000,
    'both domains with an ISSUED certificate',
  ).catch((err: unknown) => {
    t.diagnostic(pebble.output().slice(-3000));
    throw err;
  });
  assert.deepEqual(issued.map((c) => c.domains).sort(), [['cdn.acme-a.test'], ['www.acme-a.test']]);
  for (const c of issued) {
    assert.equal(c.source, 'ACME');
    assert.equal(c.lastError, null);
    assert.match(c.issuer ?? '', /Pebble/i);
  }
  // The challenges are gone once issued: nothing of the order stays on the edges.
  assert.equal(Number((await api.dataSource.query('SELECT count(*) AS n FROM acme_challenge'))[0].n), 0);

  // The edge presents it, verified up to pebble's root, for each name.
  let first: Awaited<ReturnType<typeof handshake>> | undefined;
  await eventually(
    async () => {
      first = await handshake(edge!.tlsPort!, 'cdn.acme-a.test', pebble.issuerRootPem).catch(() => undefined);
      return first !== undefined;
    },
    10_000,
    'a verified handshake for cdn.acme-a.test',
  );
  assert.deepEqual(first!.names, ['cdn.acme-a.test']);
  first!.socket.destroy();
  const www = await handshake(edge!.tlsPort!, 'www.acme-a.test', pebble.issuerRootPem);
  assert.deepEqual(www.names, ['www.acme-a.test']);
  www.socket.destroy();

  // Renewal: the same row gets a new certificate before the old one expires, and the edge presents it.
  const before = issued.find((c) => c.domains[0] === 'cdn.acme-a.test')!;
  let renewed: CertificateRow | undefined;
  await eventually(
    async () => {
      renewed = (await certificates('acme-a')).find((c) => c.id === before.id && c.status === 'ISSUED' && c.notAfter !== before.notAfter);
      return renewed !== undefined;
    },
    VALIDITY_SECONDS * 1000,
    'the certificate renewed',
  );
  assert.ok(Date.parse(renewed!.notAfter!) > Date.parse(before.notAfter!));
  await eventually(
    async () => {
      const h = await handshake(edge!.tlsPort!, 'cdn.acme-a.test', pebble.issuerRootPem);
      h.socket.destroy();
      return Date.parse(h.certificate.valid_to) === Date.parse(renewed!.notAfter!) || Math.abs(Date.parse(h.certificate.valid_to) - Date.parse(renewed!.notAfter!)) < 1000;
    },
    5_000,
    'the renewed certificate presented',
  );
  // The key never reached the database in clear.
  const [row] = await api.dataSource.query(`SELECT key_enc, cert_pem FROM certificate WHERE id = $1`, [before.id]);
  assert.doesNotMatch(row.key_enc, /PRIVATE KEY/);
  assert.equal(new X509Certificate(row.cert_pem).subjectAltName, 'DNS:cdn.acme-a.test');
});

test('requestCertificate refuses names that are not the customer\'s, and needs an ACME server', async () => {
  await createCustomer('acme-b', ['cdn.acme-b.test']);
  const res = await api.gql(`mutation { requestCertificate(customerId: "acme-b", domains: ["cdn.acme-a.test", "*.acme-b.test"]) { id } }`);
  assert.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', res.text);
  assert.match(res.errors![0]!.message, /"cdn\.acme-a\.test" is not a domain of customer "acme-b"/);
  assert.match(res.errors![0]!.message, /no wildcards/);
  const unknown = await api.gql(`mutation { requestCertificate(customerId: "nobody", domains: ["cdn.acme-b.test"]) { id } }`);
  assert.equal(unknown.errors?.[0]?.extensions.code, 'NOT_FOUND', unknown.text);

  const plain = await startTestApi();
  try {
    await plain.gql(`mutation { createCustomer(input: { id: "c", name: "c", originUrl: "https://c.example", domains: ["cdn.c.example"] }) { id } }`);
    const refused = await plain.gql(`mutation { requestCertificate(customerId: "c", domains: ["cdn.c.example"]) { id } }`);
    assert.equal(refused.errors?.[0]?.extensions.code, 'SERVICE_UNAVAILABLE', refused.text);
    assert.match(refused.errors![0]!.message, /CDN_ACME_DIRECTORY_URL/);
    assert.equal(Number((await plain.dataSource.query('SELECT count(*) AS n FROM certificate'))[0].n), 0);
  } finally {
    await plain.close();
  }
});

test('a challenge no edge answers: the certificate is FAILED with a lastError naming the domain, and retried with a back-off', async () => {
  // The edge goes away: pebble's HTTP-01 fetch finds nothing on the plain port.
  await edge!.close();
  edge = undefined;
  await createCustomer('acme-c', ['cdn.acme-c.test']);
  let failed: CertificateRow | undefined;
  await eventually(
    async () => {
      failed = (await certificates('acme-c')).find((c) => c.status === 'FAILED');
      return failed !== undefined;
    },
    60_000,
    'a FAILED certificate',
  );
  assert.match(failed!.lastError ?? '', /cdn\.acme-c\.test/);
  assert.match(failed!.lastError ?? '', /acme-challenge/);
  const [{ attempts: firstAttempts }] = await api.dataSource.query(`SELECT attempts FROM certificate WHERE id = $1`, [failed!.id]);
  assert.ok(firstAttempts >= 1);
  // Retried: the attempts grow, each after a longer wait.
  await eventually(
    async () => {
      const [{ attempts }] = await api.dataSource.query(`SELECT attempts FROM certificate WHERE id = $1`, [failed!.id]);
      return attempts > firstAttempts;
    },
    30_000,
    'a second attempt',
  );
  assert.equal(Number((await api.dataSource.query(`SELECT count(*) AS n FROM acme_challenge WHERE certificate_id = $1`, [failed!.id]))[0].n), 0);
});
