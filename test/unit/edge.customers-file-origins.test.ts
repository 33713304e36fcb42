/**
 * Origins in the customers file (`cdn edge --config`): several origins and an origin policy,
 * checked by the api's rules (core/origin.rules.ts), passwords sealed on load, the preferred
 * origin as originUrl/basicAuth; a file from before several origins reads as its one `primary`,
 * exactly as the api migrated its customers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCdnError, type FieldProblem } from '../../src/core/errors';
import { HEALTH_CHECK_DEFAULTS } from '../../src/core/origin.types';
import { SecretBox } from '../../src/core/secret-box';
import { parseCustomersFile } from '../../src/edge/sync/static-feed';

const box = new SecretBox('customers-file-origins-secret-0123456789');
const NOW = '2030-01-01T00:00:00.000Z';
const DEFAULT_POLICY = { maxConnections: null, queueTimeoutMs: null, retryBudgetPercent: null, staleIfDownSeconds: null };

function problemsOf(file: unknown): FieldProblem[] {
  try {
    parseCustomersFile(file, box, NOW);
  } catch (err) {
    assert.ok(isCdnError(err) && err.code === 'CDN_ERR_INPUT_INVALID', String(err));
    return (err.details as { fields: FieldProblem[] }).fields;
  }
  assert.fail('the file was accepted');
}

test('origins: in preference order, passwords sealed, the preferred one as originUrl and basicAuth; the policy read', () => {
  const [shop] = parseCustomersFile(
    [
      {
        id: 'shop',
        domains: ['cdn.shop.example'],
        origins: [
          { name: 'backup', url: 'https://backup.shop.example/', priority: 2, healthCheck: { path: '/healthz' } },
          { name: 'main', url: 'https://main.shop.example', basicAuth: { username: 'u', password: 'main-secret' }, weight: 5, hostHeader: 'www.shop.example' },
        ],
        originPolicy: { maxConnections: 32, retryBudgetPercent: 20 },
      },
    ],
    box,
    NOW,
  );
  assert.deepEqual(shop!.origins!.map((o) => o.name), ['main', 'backup']);
  assert.equal(shop!.originUrl, 'https://main.shop.example');
  assert.deepEqual(shop!.basicAuth, shop!.origins![0]!.basicAuth);
  assert.equal(box.open(shop!.basicAuth!.passwordCiphertext), 'main-secret');
  assert.doesNotMatch(JSON.stringify(shop), /main-secret/);
  assert.deepEqual({ ...shop!.origins![0], basicAuth: null }, {
    name: 'main', url: 'https://main.shop.example', basicAuth: null, priority: 1, weight: 5, hostHeader: 'www.shop.example', tlsServerName: null, healthCheck: null,
  });
  assert.deepEqual(shop!.origins![1]!.healthCheck, { ...HEALTH_CHECK_DEFAULTS, path: '/healthz' });
  assert.equal(shop!.origins![1]!.url, 'https://backup.shop.example');
  assert.deepEqual(shop!.originPolicy, { ...DEFAULT_POLICY, maxConnections: 32, retryBudgetPercent: 20 });
});

test('a customer with originUrl only reads as its one origin, primary, with its Basic Auth; the policy all defaults', () => {
  const [old] = parseCustomersFile([{ id: 'old', originUrl: 'https://origin.old.example/', domains: ['cdn.old.example'], basicAuth: { username: 'u', password: 'pw' } }], box, NOW);
  assert.equal(old!.originUrl, 'https://origin.old.example');
  assert.deepEqual(old!.origins, [
    { name: 'primary', url: 'https://origin.old.example', basicAuth: old!.basicAuth, priority: 1, weight: 1, hostHeader: null, tlsServerName: null, healthCheck: null },
  ]);
  assert.equal(box.open(old!.basicAuth!.passwordCiphertext), 'pw');
  assert.deepEqual(old!.originPolicy, DEFAULT_POLICY);
});

test('every origin problem is named under its customer, with the others of the file', () => {
  const problems = problemsOf([
    { id: 'a', domains: ['cdn.a.example'], origins: [{ name: 'x', url: 'https://x.example', priority: 0 }, { name: 'x', url: 'https://y.example', healthCheck: { path: 'h' } }] },
    { id: 'b', domains: ['cdn.b.example'], originUrl: 'https://b.example', origins: [{ name: 'b', url: 'https://b.example' }], basicAuth: { username: 'u', password: 'p' } },
    { id: 'c', domains: ['cdn.c.example'], origins: [], originPolicy: { retryBudgetPercent: 200, queueTimeout: 5 } },
    { id: 'd', domains: ['cdn.d.example'], origins: [{ name: 'd', url: 'https://d.example', basicAuth: { username: 'u', password: 'p', realm: 'r' } }] },
    { id: 'e', domains: ['cdn.e.example'] },
  ]);
  assert.deepEqual(problems.map((p) => p.field), [
    '[0].origins[0] (x).priority',
    '[0].origins[1] (x).name',
    '[0].origins[1] (x).healthCheck.path',
    '[1].originUrl',
    '[1].basicAuth',
    '[2].origins',
    '[2].originPolicy.queueTimeout',
    '[2].originPolicy.retryBudgetPercent',
    '[3].origins[0] (d).basicAuth.realm',
    '[4].originUrl',
  ]);
  assert.match(problems[3]!.message, /either originUrl .* or origins/);
  assert.match(problems[9]!.message, /required/);
});
