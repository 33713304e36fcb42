/** The audit log's redaction: which argument names and value shapes are secrets, and the size bounds. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSecretName, MAX_ARGUMENTS_JSON_CHARS, REDACTED, redactArguments, safeString } from '../../src/api/plugins/audit.redaction';

test('secret names are redacted at any depth, whatever their case or separators', () => {
  const secrets = ['password', 'newPassword', 'PASSWD', 'passphrase', 'secret', 'clientSecret', 'secret_key', 'authorization',
    'proxy-authorization', 'credentials', 'privateKey', 'apiKey', 'api_key', 'cookie', 'signature', 'token', 'accessToken',
    'refresh_token', 'adminToken', 'tokens', 'jwt'];
  for (const name of secrets) assert.equal(isSecretName(name), true, name);
  for (const name of ['tokenId', 'tokenName', 'username', 'name', 'id', 'customerId', 'originUrl', 'role', 'expiresIn', 'hasBasicAuth', 'kind', 'value']) {
    assert.equal(isSecretName(name), false, name);
  }
  const out = redactArguments({
    id: 'c',
    input: { basicAuth: { username: 'u', password: 'p4ss' }, nested: [{ apiKey: 'k', keep: 1 }], token: { deep: 'whole object goes' } },
  });
  assert.deepEqual(out, {
    id: 'c',
    input: { basicAuth: { username: 'u', password: REDACTED }, nested: [{ apiKey: REDACTED, keep: 1 }], token: REDACTED },
  });
});

test('null stays null (removing a secret is worth knowing); absent stays absent', () => {
  assert.deepEqual(redactArguments({ input: { basicAuth: null, password: null, other: undefined } }), { input: { basicAuth: null, password: null } });
});

test('credentials inside values are redacted whatever the name: URL userinfo, JWTs, Authorization header values', () => {
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
  assert.deepEqual(
    redactArguments({
      a: 'https://user:hunter2@origin.example/path?q=1',
      b: 'https://ghp_abcdef@git.example/repo',
      c: jwt,
      d: 'Bearer abcdefghijklmnop.qrstuvwx',
      e: 'basic dXNlcjpwYXNz',
      f: 'https://origin.example/no-credentials',
      g: 'Basic Widgets',
      h: 'Bearer Grylls',
    }),
    {
      a: `https://user:${REDACTED}@origin.example/path?q=1`,
      b: `https://${REDACTED}@git.example/repo`,
      c: REDACTED,
      d: REDACTED,
      e: REDACTED,
      f: 'https://origin.example/no-credentials',
      g: 'Basic Widgets',
      h: 'Bearer Grylls',
    },
  );
});

test('sizes are bounded: long strings, long lists, many keys, deep nesting, and the whole', () => {
  const out = redactArguments({ s: 'x'.repeat(5000), list: Array.from({ length: 150 }, (_, i) => i) }) as { s: string; list: unknown[] };
  assert.equal(out.s.startsWith('x'.repeat(2048) + '…'), true);
  assert.ok(out.s.length < 2100);
  assert.equal(out.list.length, 101);
  assert.equal(out.list[100], '… 50 more items not kept');

  const many = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`k${i}`, i]));
  assert.equal(Object.keys(redactArguments(many)).length, 101);

  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 20; i++) deep = { d: deep };
  assert.match(JSON.stringify(redactArguments(deep)), /\[TOO DEEP\]/);

  const huge = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 'y'.repeat(2000)]));
  const kept = redactArguments(huge);
  assert.ok(JSON.stringify(kept).length < MAX_ARGUMENTS_JSON_CHARS);
  assert.deepEqual(Object.keys(kept), [REDACTED]);
});

test('values PostgreSQL refuses (NUL, lone surrogates) are replaced; dates and odd numbers become JSON', () => {
  assert.equal(safeString('a\u0000b\uD800c\uDC00d😀'), 'a\uFFFDb\uFFFDc\uFFFDd😀');
  assert.deepEqual(redactArguments({ 'k\u0000': 'v\u0000', at: new Date('2026-01-02T03:04:05.000Z'), n: Number.NaN, big: 10n }), {
    'k\uFFFD': 'v\uFFFD',
    at: '2026-01-02T03:04:05.000Z',
    n: 'NaN',
    big: '10',
  });
});
