/**
 * Certificates through GraphQL on real PostgreSQL over real HTTP: an upload read back, every
 * refusal with its message and nothing changed, the key sealed in the database and on the
 * bus (and nowhere in clear: answers, audit log, logs), customer-scoped tokens, deletion
 * (of a certificate, of its customer), what the edges receive, and the customer's HTTPS
 * redirect and HSTS options. Certificates come from the demo CA (src/bin/demo-pki.ts), and
 * from openssl for what it cannot make (an RSA 1024 key, an IP address name).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCertificateAuthority, type CertificateAuthority, type Leaf } from '../../src/bin/demo-pki';
import type { BusEvent } from '../../src/core/bus.events';
import type { CustomerConfig } from '../../src/core/customer.types';
import { SecretBox } from '../../src/core/secret-box';
import { countRows, firstSubscriptionCode, maxChangeSeq, SECRET_KEY, startTestApi, type TestApi, wsClient, refused, tokenFor } from './api.harness';

const DAY = 24 * 3600 * 1000;
const FIELDS = 'id customer { id } domains source status notBefore notAfter issuer lastError certificatePem createdAt updatedAt';
const UPLOAD = `mutation Upload($c: ID!, $cert: String!, $key: String!) { uploadCertificate(customerId: $c, certificatePem: $cert, privateKeyPem: $key) { ${FIELDS} } }`;
const LIST = `query($c: ID!) { certificates(customerId: $c) { ${FIELDS} } }`;
const DELETE = `mutation($id: ID!) { deleteCertificate(id: $id) }`;
const CUSTOMER_TLS = `query($id: ID!) { customer(id: $id) { httpsRedirect hsts { maxAge includeSubDomains preload } } }`;
const UPDATE_TLS = `mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { httpsRedirect hsts { maxAge includeSubDomains preload } } }`;

type Certificate = {
  id: string;
  customer: { id: string };
  domains: string[];
  source: string;
  status: string;
  notBefore: string;
  notAfter: string;
  issuer: string;
  lastError: string | null;
  certificatePem: string;
  createdAt: string;
  updatedAt: string;
};

let t: TestApi;
let ca: CertificateAuthority;
let alphaLeaf: Leaf;
const tokens: Record<string, string> = {};
/** Every answer of the api in this file; none may hold a key. */
const bodies: string[] = [];
/** Every private key PEM handed to the api in this file. */
const keys: string[] = [];
const dir = mkdtempSync(path.join(tmpdir(), 'edgeplane-api-certs-'));

async function gql<T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}, token?: string) {
  const res = await t.gql<T>(query, variables, token);
  bodies.push(res.text);
  return res;
}

async function upload(customerId: string, leaf: { certPem: string; keyPem: string; chainPem?: string }, token?: string) {
  keys.push(leaf.keyPem);
  return gql<{ uploadCertificate: Certificate }>(UPLOAD, { c: customerId, cert: leaf.chainPem ?? leaf.certPem, key: leaf.keyPem }, token);
}

async function createCustomer(id: string, domains: string[], extra: Record<string, unknown> = {}): Promise<void> {
  const res = await gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
    input: { id, name: id, originUrl: `https://origin.${id}.example`, domains, ...extra },
  });
  assert.equal(res.errors, undefined, res.text);
}

async function version(customerId: string): Promise<number> {
  const rows: Array<{ version: number }> = await t.dataSource.query('SELECT version FROM customer WHERE id = $1', [customerId]);
  return rows[0]!.version;
}

/** The event of the newest outbox row. */
async function lastChange(): Promise<BusEvent> {
  const rows: Array<{ payload: BusEvent }> = await t.dataSource.query('SELECT payload FROM change_log ORDER BY seq DESC LIMIT 1');
  return rows[0]!.payload;
}

async function lastConfig(customerId: string): Promise<CustomerConfig> {
  const event = await lastChange();
  assert.ok(event.kind === 'customer.upserted' && event.customer.id === customerId, JSON.stringify(event).slice(0, 200));
  return event.customer;
}


/** What must not change when an upload is refused. */
async function state(): Promise<unknown[]> {
  return [await countRows(t, 'certificate'), await version('alpha'), await version('beta'), await maxChangeSeq(t)];
}

/** A leaf signed by the demo CA with a key openssl makes (what demo-pki cannot: RSA 1024, IP names). */
function opensslLeaf(keyArgs: string[], sans: string): { certPem: string; keyPem: string } {
  const name = randomBytes(4).toString('hex');
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(path.join(dir, 'ca.key'), ca.keyPem);
  writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${sans}\nbasicConstraints=critical,CA:FALSE\n`);
  run('req', '-new', ...keyArgs, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '30',
    '-out', `${name}.pem`, '-extfile', `${name}.ext`);
  return { certPem: readFileSync(path.join(dir, `${name}.pem`), 'utf8'), keyPem: readFileSync(path.join(dir, `${name}.key`), 'utf8') };
}


const keyDer = (pem: string): Buffer => createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });

before(async () => {
  t = await startTestApi();
  ca = await createCertificateAuthority('Test CA');
  await createCustomer('alpha', ['cdn.alpha.example', 'www.alpha.example', 'a.shared.example']);
  await createCustomer('beta', ['cdn.beta.example', 'b.shared.example']);
  alphaLeaf = await ca.issue(['cdn.alpha.example', 'www.alpha.example']);
  tokens.alphaAdmin = await tokenFor(t, 'CUSTOMER_ADMIN', 'alpha');
  tokens.alphaViewer = await tokenFor(t, 'CUSTOMER_VIEWER', 'alpha');
});

after(async () => {
  try {
    // Checked last, over every answer of the file, every log line and the whole audit log.
    const secrets = keys.flatMap((k) => [k, ...k.split('\n').filter((l) => l.length > 40)]);
    // A message may name a PRIVATE KEY block; no text may hold one with its contents.
    const pemKey = /PRIVATE KEY-----(\\[rn]|\s)*[A-Za-z0-9+/]{16}/;
    for (const text of [...bodies, ...t.logs]) {
      assert.ok(!pemKey.test(text), `a key in an answer or a log line: ${text.slice(0, 200)}`);
      for (const secret of secrets) assert.ok(!text.includes(secret), `a key's text in an answer or a log line: ${text.slice(0, 200)}`);
    }
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('uploadCertificate', () => {
  let uploaded: Certificate;

  test('stores a good certificate and answers with it; the certificates query reads it back', async () => {
    const seq = await maxChangeSeq(t);
    const before = await version('alpha');
    const res = await upload('alpha', alphaLeaf);
    assert.equal(res.errors, undefined, res.text);
    uploaded = res.data!.uploadCertificate;
    assert.equal(uploaded.customer.id, 'alpha');
    assert.deepEqual(uploaded.domains, ['cdn.alpha.example', 'www.alpha.example']);
    assert.deepEqual([uploaded.source, uploaded.status, uploaded.issuer, uploaded.lastError], ['UPLOADED', 'ISSUED', 'CN=Test CA', null]);
    assert.ok(Date.parse(uploaded.notBefore) < Date.now() && Date.parse(uploaded.notAfter) > Date.now() + 80 * DAY);
    assert.ok(uploaded.certificatePem.startsWith(alphaLeaf.certPem.trim()));
    assert.equal(uploaded.certificatePem.match(/BEGIN CERTIFICATE/g)?.length, 2);

    const list = await gql<{ certificates: Certificate[] }>(LIST, { c: 'alpha' });
    assert.deepEqual(list.data!.certificates, [uploaded]);
    assert.equal(await version('alpha'), before + 1, "the customer's version is bumped");
    assert.equal(await maxChangeSeq(t), seq + 1, 'one outbox row');
  });

  test('the key is sealed in the database, and the outbox change carries the ciphertext the edges open', async () => {
    const rows: Array<{ key_enc: string; cert_pem: string }> = await t.dataSource.query('SELECT key_enc, cert_pem FROM certificate WHERE id = $1', [uploaded.id]);
    const sealed = rows[0]!.key_enc;
    assert.ok(!sealed.includes('PRIVATE KEY') && !sealed.includes(alphaLeaf.keyPem.split('\n')[1]!));
    const box = new SecretBox(SECRET_KEY);
    assert.deepEqual(keyDer(box.open(sealed)!), keyDer(alphaLeaf.keyPem));

    const config = await lastConfig('alpha');
    assert.deepEqual(config.tls!.certificates, [
      { id: uploaded.id, domains: uploaded.domains, certPem: rows[0]!.cert_pem, keyCiphertext: sealed, notBefore: uploaded.notBefore, notAfter: uploaded.notAfter },
    ]);
    assert.ok(!JSON.stringify(config).includes('PRIVATE KEY'));
    assert.equal(config.version, await version('alpha'));

    // The relay publishes it: the snapshot the edges boot from holds it too.
    await t.waitForBusSeq(await maxChangeSeq(t));
    const snapshot = (await t.bus.readSnapshot())!;
    assert.equal(snapshot.customers.find((c) => c.id === 'alpha')!.tls!.certificates[0]!.keyCiphertext, sealed);
  });

  test('an ECDSA key written by openssl, RSA 2048 and a wildcard over the customer\'s own domain are accepted', async () => {
    for (const leaf of [
      opensslLeaf(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], 'DNS:www.alpha.example'),
      await ca.issue(['cdn.alpha.example'], { keyType: 'rsa' }),
      await ca.issue(['*.alpha.example']),
    ]) {
      const res = await upload('alpha', leaf);
      assert.equal(res.errors, undefined, res.text);
    }
  });

  describe('refusals: BAD_USER_INPUT saying what to fix, and nothing changes', () => {
    const cases: Array<{ name: string; make: () => Promise<{ certPem: string; keyPem: string; chainPem?: string }>; field: string; message: RegExp }> = [
      {
        name: 'expired',
        make: () => ca.issue(['cdn.alpha.example'], { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) }),
        field: 'certificatePem',
        message: /the certificate \(the leaf\) expired at .*: renew it with its issuer and upload the new one/,
      },
      {
        name: 'not yet valid',
        make: () => ca.issue(['cdn.alpha.example'], { notBefore: new Date(Date.now() + DAY) }),
        field: 'certificatePem',
        message: /is not valid before .*: upload it once it is valid/,
      },
      {
        name: 'the chain in the wrong order',
        make: async () => ({ certPem: `${ca.certPem}\n${alphaLeaf.certPem}`, keyPem: alphaLeaf.keyPem }),
        field: 'certificatePem',
        message: /starts with a CA certificate \("CN=Test CA"\): put the server's own \(leaf\) certificate first/,
      },
      {
        name: 'a chain with another CA',
        make: async () => ({ certPem: `${alphaLeaf.certPem}\n${(await createCertificateAuthority('Other CA')).certPem}`, keyPem: alphaLeaf.keyPem }),
        field: 'certificatePem',
        message: /is not issued and signed by certificate 2 \("CN=Other CA"\): certificate 2 is not its issuer/,
      },
      {
        name: 'the wrong key',
        make: async () => ({ certPem: alphaLeaf.chainPem, keyPem: (await ca.issue(['cdn.alpha.example'])).keyPem }),
        field: 'privateKeyPem',
        message: /does not belong to the certificate: its public key is not the leaf certificate's/,
      },
      {
        name: "a domain that is not the customer's",
        make: () => ca.issue(['cdn.alpha.example', 'elsewhere.example']),
        field: 'certificatePem',
        message: /names "elsewhere\.example", which is not one of customer "alpha"'s domains \(.*\)\. .*add the domain to the customer first/,
      },
      {
        name: "another customer's domain, by name",
        make: () => ca.issue(['cdn.beta.example']),
        field: 'certificatePem',
        message: /names "cdn\.beta\.example", which is not one of customer "alpha"'s domains .*; it belongs to customer "beta"/,
      },
      {
        name: "another customer's domain under a wildcard",
        make: () => ca.issue(['*.shared.example']),
        field: 'certificatePem',
        message: /names the wildcard "\*\.shared\.example", which also covers "b\.shared\.example", a domain of customer "beta"/,
      },
      {
        name: 'garbage',
        make: async () => ({ certPem: 'this is not a certificate', keyPem: 'nor is this a key' }),
        field: 'certificatePem',
        message: /has text outside the PEM blocks at line 1: send only -----BEGIN …----- to -----END …----- blocks/,
      },
      {
        name: 'a key in certificatePem',
        make: async () => ({ certPem: `${alphaLeaf.certPem}\n${alphaLeaf.keyPem}`, keyPem: alphaLeaf.keyPem }),
        field: 'certificatePem',
        message: /holds a private key \(the -----BEGIN PRIVATE KEY----- block at line \d+\): the key goes in privateKeyPem only/,
      },
      {
        name: 'an RSA 1024 key',
        make: async () => opensslLeaf(['-newkey', 'rsa:1024'], 'DNS:cdn.alpha.example'),
        field: 'privateKeyPem',
        message: /is an RSA key of 1024 bits, too weak: use an ECDSA P-256 or P-384 key, or RSA of 2048 to 8192 bits/,
      },
      {
        name: 'an IP address name',
        make: async () => opensslLeaf(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'DNS:cdn.alpha.example,IP:127.0.0.1'),
        field: 'certificatePem',
        message: /names the IP address 127\.0\.0\.1; the CDN serves host names only/,
      },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        const leaf = await c.make();
        const before = await state();
        refused(await upload('alpha', leaf), c.field, c.message);
        assert.deepEqual(await state(), before, 'no row, no version bump, no outbox row');
      });
    }

    test('an unknown customer is NOT_FOUND', async () => {
      const res = await upload('nobody', alphaLeaf);
      assert.equal(res.errors![0]!.extensions.code, 'NOT_FOUND', res.text);
      assert.equal(res.errors![0]!.extensions.cdnCode, 'CDN_ERR_CUSTOMER_NOT_FOUND');
    });

    test('a customer holding the most certificates it may keep', async () => {
      const held = Number((await t.dataSource.query(`SELECT count(*) AS n FROM certificate WHERE customer_id = 'beta'`))[0].n);
      for (let i = held; i < 20; i++) {
        await t.dataSource.query(`INSERT INTO certificate (customer_id, domains, source, status) VALUES ('beta', '{cdn.beta.example}', 'ACME', 'PENDING')`);
      }
      const before = await state();
      refused(await upload('beta', await ca.issue(['cdn.beta.example'])), 'customerId', /customer "beta" already has 20 certificates, the most it may keep: delete those it no longer needs \(deleteCertificate\)/);
      assert.deepEqual(await state(), before);
      await t.dataSource.query(`DELETE FROM certificate WHERE customer_id = 'beta' AND status = 'PENDING'`);
    });
  });

  test('the key is never in the audit log: redacted by name, and by shape in any other argument', async () => {
    const rows: Array<{ mutation: string; arguments: Record<string, unknown>; text: string }> = await t.dataSource.query(
      `SELECT mutation, arguments, a::text AS text FROM audit_log a WHERE mutation = 'uploadCertificate' ORDER BY id`,
    );
    assert.ok(rows.length >= 10);
    for (const row of rows) {
      assert.ok(!row.text.includes('PRIVATE KEY'), row.text.slice(0, 300));
      assert.ok(row.arguments.privateKeyPem === '[REDACTED]', JSON.stringify(row.arguments).slice(0, 300));
    }
    // The upload with a key pasted into certificatePem: that argument is redacted whole.
    assert.ok(rows.some((r) => r.arguments.certificatePem === '[REDACTED]'));
    assert.ok(rows.some((r) => typeof r.arguments.certificatePem === 'string' && (r.arguments.certificatePem as string).startsWith('-----BEGIN CERTIFICATE-----')));
  });
});

describe('customer-scoped tokens', () => {
  let betaCertificateId: string;

  before(async () => {
    const res = await upload('beta', await ca.issue(['cdn.beta.example']));
    assert.equal(res.errors, undefined, res.text);
    betaCertificateId = res.data!.uploadCertificate.id;
  });

  test("a customer admin uploads, lists and deletes its own customer's certificates", async () => {
    const res = await upload('alpha', await ca.issue(['www.alpha.example']), tokens.alphaAdmin);
    assert.equal(res.errors, undefined, res.text);
    const id = res.data!.uploadCertificate.id;
    const list = await gql<{ certificates: Certificate[] }>(LIST, { c: 'alpha' }, tokens.alphaAdmin);
    assert.ok(list.data!.certificates.some((c) => c.id === id));
    assert.deepEqual((await gql(DELETE, { id }, tokens.alphaAdmin)).data, { deleteCertificate: true });
  });

  test("another customer's certificates answer NOT_FOUND, exactly like unknown ones", async () => {
    const foreign = await upload('beta', await ca.issue(['cdn.beta.example']), tokens.alphaAdmin);
    assert.equal(foreign.errors![0]!.extensions.code, 'NOT_FOUND');
    assert.equal((await gql(LIST, { c: 'beta' }, tokens.alphaAdmin)).errors![0]!.extensions.code, 'NOT_FOUND');
    const other = (await gql(DELETE, { id: betaCertificateId }, tokens.alphaAdmin)).errors![0]!;
    const unknownId = randomUUID();
    const unknown = (await gql(DELETE, { id: unknownId }, tokens.alphaAdmin)).errors![0]!;
    assert.equal(other.extensions.code, 'NOT_FOUND');
    assert.equal(other.extensions.cdnCode, 'CDN_ERR_CERTIFICATE_NOT_FOUND');
    assert.equal(other.message.replace(betaCertificateId, 'X'), unknown.message.replace(unknownId, 'X'));
    assert.equal((await countRows(t, 'certificate')) > 0, true);
    assert.equal((await t.dataSource.query('SELECT id FROM certificate WHERE id = $1', [betaCertificateId])).length, 1, 'still there');
  });

  test('a wildcard over another customer\'s domain is refused without naming it or its owner', async () => {
    const problems = refused(await upload('alpha', await ca.issue(['*.shared.example']), tokens.alphaAdmin), 'certificatePem', /names the wildcard "\*\.shared\.example", which also covers a domain of another customer\./);
    const text = JSON.stringify(problems);
    assert.ok(!text.includes('beta') && !text.includes('b.shared.example'), text);
    const exact = refused(await upload('alpha', await ca.issue(['cdn.beta.example']), tokens.alphaAdmin), 'certificatePem', /names "cdn\.beta\.example", which is not one of customer "alpha"'s domains/);
    assert.ok(!JSON.stringify(exact).includes('"beta"'));
  });

  test('a customer viewer lists but may not upload or delete', async () => {
    assert.equal((await gql(LIST, { c: 'alpha' }, tokens.alphaViewer)).errors, undefined);
    assert.equal((await upload('alpha', alphaLeaf, tokens.alphaViewer)).errors![0]!.extensions.code, 'FORBIDDEN');
    assert.equal((await gql(DELETE, { id: betaCertificateId }, tokens.alphaViewer)).errors![0]!.extensions.code, 'FORBIDDEN');
  });
});

describe('deleteCertificate', () => {
  test('removes the certificate from the database and from what the edges receive; NOT_FOUND after', async () => {
    const res = await upload('beta', await ca.issue(['b.shared.example']));
    const id = res.data!.uploadCertificate.id;
    assert.ok((await lastConfig('beta')).tls!.certificates.some((c) => c.id === id));
    const before = await version('beta');
    assert.deepEqual((await gql(DELETE, { id })).data, { deleteCertificate: true });
    assert.equal(await version('beta'), before + 1);
    const config = await lastConfig('beta');
    assert.ok(!config.tls!.certificates.some((c) => c.id === id));
    assert.equal((await gql(DELETE, { id })).errors![0]!.extensions.cdnCode, 'CDN_ERR_CERTIFICATE_NOT_FOUND');
    assert.equal((await gql(DELETE, { id: 'not-a-uuid' })).errors![0]!.extensions.cdnCode, 'CDN_ERR_CERTIFICATE_NOT_FOUND');
  });

  test("deleting a customer deletes its certificates", async () => {
    await createCustomer('gone', ['cdn.gone.example']);
    assert.equal((await upload('gone', await ca.issue(['cdn.gone.example']))).errors, undefined);
    assert.equal((await gql('mutation { deleteCustomer(id: "gone") }')).errors, undefined);
    assert.deepEqual(await t.dataSource.query(`SELECT id FROM certificate WHERE customer_id = 'gone'`), []);
  });
});

describe('what the edges receive', () => {
  test('only issued or renewing certificates, not expired; a certificate stays stored when its domain leaves the customer', async () => {
    await createCustomer('delta', ['cdn.delta.example', 'old.delta.example']);
    const served = (await upload('delta', await ca.issue(['cdn.delta.example']))).data!.uploadCertificate.id;
    const renewing = (await upload('delta', await ca.issue(['cdn.delta.example']))).data!.uploadCertificate.id;
    const expired = (await upload('delta', await ca.issue(['cdn.delta.example']))).data!.uploadCertificate.id;
    const failed = (await upload('delta', await ca.issue(['old.delta.example']))).data!.uploadCertificate.id;
    await t.dataSource.query(`UPDATE certificate SET status = 'RENEWING' WHERE id = $1`, [renewing]);
    await t.dataSource.query(`UPDATE certificate SET not_after = now() - interval '1 minute' WHERE id = $1`, [expired]);
    await t.dataSource.query(`UPDATE certificate SET status = 'FAILED', last_error = 'the CA said no' WHERE id = $1`, [failed]);
    const res = await gql(UPDATE_TLS, { id: 'delta', input: { domains: ['cdn.delta.example'] } });
    assert.equal(res.errors, undefined, res.text);
    const config = await lastConfig('delta');
    assert.deepEqual(config.tls!.certificates.map((c) => c.id).sort(), [served, renewing].sort());
    const list = (await gql<{ certificates: Certificate[] }>(LIST, { c: 'delta' })).data!.certificates;
    assert.equal(list.length, 4, 'all stay stored');
    assert.deepEqual(list.find((c) => c.id === failed)!.lastError, 'the CA said no');
  });
});

describe('certificateStatus subscription', () => {
  type StatusEvent = { customerId: string; certificateId: string; certificate: { status: string; lastError: string | null; domains: string[] } | null };
  const SUBSCRIBE = 'subscription($c: ID) { certificateStatus(customerId: $c) { customerId certificateId certificate { status lastError domains } } }';

  test("one event per change of the customer's certificates: uploaded, failed, deleted; another customer's unseen", async () => {
    const ws = wsClient(t.api.url, tokens.alphaViewer);
    try {
      const seen: StatusEvent[] = [];
      const events = ws.iterate<{ certificateStatus: StatusEvent }>({ query: SUBSCRIBE });
      let arrived = () => {};
      const collect = (async () => {
        for await (const r of events) {
          assert.equal(r.errors, undefined, JSON.stringify(r.errors));
          seen.push(r.data!.certificateStatus);
          arrived();
        }
      })();
      /** Waits until `n` events have arrived (a watcher reports the state it reads, so each step waits for the last). */
      const until = async (n: number): Promise<void> => {
        const deadline = Date.now() + 5_000;
        while (seen.length < n) {
          if (Date.now() > deadline) throw new Error(`got ${JSON.stringify(seen)}`);
          await new Promise<void>((r) => {
            arrived = r;
            setTimeout(r, 100);
          });
        }
      };
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await upload('beta', await ca.issue(['cdn.beta.example']))).errors, undefined);
      const id = (await upload('alpha', await ca.issue(['www.alpha.example']))).data!.uploadCertificate.id;
      await until(1);
      // A status change commits with its customer's change (as the ACME client's will).
      await t.dataSource.query(`UPDATE certificate SET status = 'FAILED', last_error = 'renewal refused' WHERE id = $1`, [id]);
      assert.equal((await gql(UPDATE_TLS, { id: 'alpha', input: { cacheTtl: 120 } })).errors, undefined);
      await until(2);
      assert.deepEqual((await gql(DELETE, { id })).data, { deleteCertificate: true });
      await until(3);
      // Nothing more comes: a change without a certificate change reports nothing.
      assert.equal((await gql(UPDATE_TLS, { id: 'alpha', input: { cacheTtl: 121 } })).errors, undefined);
      await new Promise((r) => setTimeout(r, 300));
      await events.return?.();
      await collect;
      assert.deepEqual(seen, [
        { customerId: 'alpha', certificateId: id, certificate: { status: 'ISSUED', lastError: null, domains: ['www.alpha.example'] } },
        { customerId: 'alpha', certificateId: id, certificate: { status: 'FAILED', lastError: 'renewal refused', domains: ['www.alpha.example'] } },
        { customerId: 'alpha', certificateId: id, certificate: null },
      ]);
    } finally {
      await ws.dispose();
    }
  });

  test("a customer's deletion reports its certificates deleted to a platform subscriber", async () => {
    await createCustomer('theta', ['cdn.theta.example']);
    const id = (await upload('theta', await ca.issue(['cdn.theta.example']))).data!.uploadCertificate.id;
    const ws = wsClient(t.api.url);
    try {
      const events = ws.iterate<{ certificateStatus: StatusEvent }>({ query: SUBSCRIBE, variables: { c: 'theta' } });
      const first = events.next();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await gql('mutation { deleteCustomer(id: "theta") }')).errors, undefined);
      const r = await Promise.race([first, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no event')), 5_000))]);
      assert.deepEqual(r.value!.data!.certificateStatus, { customerId: 'theta', certificateId: id, certificate: null });
      await events.return?.();
    } finally {
      await ws.dispose();
    }
  });

  test("another customer's, or an unknown one, is NOT_FOUND", async () => {
    const codeOf = async (token: string | undefined, customerId: string): Promise<string> => {
      const ws = wsClient(t.api.url, token);
      try {
        return await firstSubscriptionCode(ws, SUBSCRIBE, { c: customerId });
      } finally {
        await ws.dispose();
      }
    };
    assert.equal(await codeOf(tokens.alphaViewer, 'beta'), 'NOT_FOUND');
    assert.equal(await codeOf(undefined, 'nobody'), 'NOT_FOUND');
  });
});

describe('httpsRedirect and hsts', () => {
  test('default: null and no HSTS, in GraphQL and in the config', async () => {
    assert.deepEqual((await gql(CUSTOMER_TLS, { id: 'alpha' })).data, { customer: { httpsRedirect: null, hsts: null } });
    assert.equal((await gql(UPDATE_TLS, { id: 'delta', input: { cacheTtl: 30 } })).errors, undefined);
    const config = await lastConfig('delta');
    assert.deepEqual([config.tls!.httpsRedirect, config.tls!.hsts, config.tls!.acmeChallenges], [null, null, []]);
  });

  test('set on create and on update, delivered in the config; absent keeps, null clears', async () => {
    await createCustomer('eps', ['cdn.eps.example'], { httpsRedirect: false, hsts: { maxAge: 600 } });
    assert.deepEqual((await gql(CUSTOMER_TLS, { id: 'eps' })).data, { customer: { httpsRedirect: false, hsts: { maxAge: 600, includeSubDomains: false, preload: false } } });
    assert.deepEqual((await lastConfig('eps')).tls, { certificates: [], httpsRedirect: false, hsts: { maxAge: 600, includeSubDomains: false, preload: false }, acmeChallenges: [] });

    const preload = { maxAge: 63072000, includeSubDomains: true, preload: true };
    let res = await gql(UPDATE_TLS, { id: 'eps', input: { httpsRedirect: true, hsts: preload } });
    assert.deepEqual(res.data, { updateCustomer: { httpsRedirect: true, hsts: preload } });
    assert.deepEqual([(await lastConfig('eps')).tls!.httpsRedirect, (await lastConfig('eps')).tls!.hsts], [true, preload]);

    res = await gql(UPDATE_TLS, { id: 'eps', input: { cacheTtl: 60 } });
    assert.deepEqual(res.data, { updateCustomer: { httpsRedirect: true, hsts: preload } }, 'absent keeps');

    res = await gql(UPDATE_TLS, { id: 'eps', input: { httpsRedirect: null, hsts: null } });
    assert.deepEqual(res.data, { updateCustomer: { httpsRedirect: null, hsts: null } });
    const rows = await t.dataSource.query(`SELECT https_redirect, hsts_max_age, hsts_include_subdomains, hsts_preload FROM customer WHERE id = 'eps'`);
    assert.deepEqual(rows, [{ https_redirect: null, hsts_max_age: null, hsts_include_subdomains: false, hsts_preload: false }]);
    const config = await lastConfig('eps');
    assert.deepEqual([config.tls!.httpsRedirect, config.tls!.hsts], [null, null]);
  });

  test('validated: maxAge range, preload only with a year and includeSubDomains; nothing changes', async () => {
    const before = [await version('eps'), await maxChangeSeq(t)];
    const tooLong = (await gql(UPDATE_TLS, { id: 'eps', input: { hsts: { maxAge: 63072001 } } })).errors![0]!;
    assert.equal(tooLong.extensions.code, 'BAD_USER_INPUT');
    assert.match(tooLong.message, /input\.hsts\.maxAge: must be whole seconds from 0 to 63072000 \(two years\), got 63072001/);
    const negative = (await gql(UPDATE_TLS, { id: 'eps', input: { hsts: { maxAge: -1 } } })).errors![0]!;
    assert.match(negative.message, /input\.hsts\.maxAge: must be whole seconds from 0 to 63072000/);
    for (const hsts of [{ maxAge: 600, includeSubDomains: true, preload: true }, { maxAge: 31536000, preload: true }]) {
      const err = (await gql(UPDATE_TLS, { id: 'eps', input: { hsts } })).errors![0]!;
      assert.match(err.message, /input\.hsts\.preload: needs maxAge of at least 31536000 \(one year\) and includeSubDomains: true/);
    }
    const create = await gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
      input: { id: 'zeta', name: 'zeta', originUrl: 'https://origin.zeta.example', domains: ['cdn.zeta.example'], hsts: { maxAge: 5, preload: true } },
    });
    assert.match(create.errors![0]!.message, /input\.hsts\.preload: needs maxAge/);
    assert.deepEqual([await version('eps'), await maxChangeSeq(t)], before);
    assert.deepEqual(await t.dataSource.query(`SELECT id FROM customer WHERE id = 'zeta'`), []);
  });
});
