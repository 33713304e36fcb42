/**
 * Automatic ACME requests (CDN_ACME_AUTO): which domains get a certificate requested without
 * asking. The ACME server here is an address where nothing listens, so every order fails —
 * what is checked is what gets requested (the `certificate` rows) and that a failure is
 * recorded and counts as covered, never retried as a new request. The issuance itself, against
 * a real ACME server, is api.acme.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CERTIFICATES_PER_CUSTOMER_MAX } from '../../src/api/services/certificate.service';
import { eventually } from '../support/processes';
import { freePort } from '../support/redis-server';
import { startTestApi, type TestApi } from './api.harness';

let api: TestApi;

before(async () => {
  api = await startTestApi({
    CDN_ACME_DIRECTORY_URL: `http://127.0.0.1:${await freePort()}/directory`,
    CDN_ACME_CHECK_INTERVAL_MS: '200',
    CDN_ACME_RETRY_BASE_MS: '3600000',
  });
});

after(async () => {
  await api?.close();
});

async function create(id: string, domains: string[]): Promise<void> {
  const res = await api.gql(`mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
    input: { id, name: id, originUrl: `https://origin.${id}.example`, domains },
  });
  assert.equal(res.errors, undefined, res.text);
}

async function rows(customerId: string): Promise<Array<{ domains: string[]; status: string; source: string; last_error: string | null }>> {
  return api.dataSource.query(`SELECT domains, status, source, last_error FROM certificate WHERE customer_id = $1 ORDER BY domains`, [customerId]);
}

test('every domain no certificate covers gets one requested, once; a wildcard covers its subdomains; a failure is recorded, not requested again', async () => {
  await create('auto-b', ['cdn.auto-b.example', 'www.auto-b.example']);
  let requested: Awaited<ReturnType<typeof rows>> = [];
  await eventually(
    async () => {
      requested = await rows('auto-b');
      return requested.length === 2 && requested.every((r) => r.status === 'FAILED');
    },
    15_000,
    'two requests, both failed',
  );
  assert.deepEqual(requested.map((r) => r.domains), [['cdn.auto-b.example'], ['www.auto-b.example']]);
  for (const r of requested) assert.match(r.last_error ?? '', /ACME server|connect|refused/i, r.last_error ?? '');

  // A wildcard certificate of the customer's (written directly: the upload path is
  // api.certificates.test.ts) covers the domains added next: nothing is requested for them.
  await api.dataSource.query(
    `INSERT INTO certificate (customer_id, domains, source, status, cert_pem, key_enc, not_before, not_after)
     VALUES ('auto-b', '{*.auto-b.example}', 'UPLOADED', 'ISSUED', 'pem', 'v1.a.b.c', now() - interval '1 day', now() + interval '60 days')`,
  );
  const res = await api.gql(`mutation { updateCustomer(id: "auto-b", input: { domains: ["cdn.auto-b.example", "www.auto-b.example", "img.auto-b.example", "static.auto-b.example"] }) { id } }`);
  assert.equal(res.errors, undefined, res.text);
  // Sweeps run every 200 ms: give them time to do anything they would do.
  await new Promise((r) => setTimeout(r, 1500));
  const after = await rows('auto-b');
  assert.deepEqual(after.filter((r) => r.source === 'ACME').map((r) => r.domains), [['cdn.auto-b.example'], ['www.auto-b.example']], 'no new request: the wildcard covers them, and the failed ones wait for their back-off');
});

test('a customer holding the most certificates it may is skipped and never keeps others waiting', async () => {
  const many = Array.from({ length: 60 }, (_, i) => `d${i}.auto-full.example`);
  await create('auto-full', many);
  // Fill it to the cap at once, with rows that cover none of its domains.
  await api.dataSource.query(
    `INSERT INTO certificate (customer_id, domains, source, status)
     SELECT 'auto-full', ARRAY['x' || g || '.elsewhere.example'], 'ACME', 'FAILED' FROM generate_series(1, $1) g`,
    [CERTIFICATES_PER_CUSTOMER_MAX],
  );
  // A sweep may have requested one between the create and the insert (it runs every 200 ms): at the cap or past it now.
  const filled = (await rows('auto-full')).length;
  assert.ok(filled >= CERTIFICATES_PER_CUSTOMER_MAX);
  await create('auto-z', ['cdn.auto-z.example']);
  await eventually(async () => (await rows('auto-z')).length === 1, 10_000, 'a request for the customer after the full one');
  const full = await rows('auto-full');
  assert.equal(full.length, filled, 'nothing more for the full customer');
});
