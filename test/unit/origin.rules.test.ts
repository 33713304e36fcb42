/**
 * Contract of the origin validator (core/origin.rules.ts): what is accepted and how it is
 * stored (defaults, canonical URL, preference order), and for every refusal the exact field
 * named (origin index and name, then the field) and why.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkOriginPolicy,
  checkOrigins,
  normalizeOrigins,
  originsOf,
  preferredOrigin,
  readOriginPolicy,
  readOrigins,
  sealOrigin,
} from '../../src/core/origin.rules';
import { HEALTH_CHECK_DEFAULTS, ORIGINS_MAX, type OriginConfig } from '../../src/core/origin.types';

/** One origin named "o", so every field below is `origins[0] (o)` and a suffix. */
const o = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'o', url: 'https://origin.example.com', ...extra });
const hc = (extra: Record<string, unknown> = {}): Record<string, unknown> => o({ healthCheck: { path: '/healthz', ...extra } });

const ACCEPTED: Array<[string, unknown[]]> = [
  ['one origin, nothing but name and url', [o()]],
  [
    'every field at once',
    [
      {
        name: 'primary-1',
        url: 'http://203.0.113.7:8080/base/',
        basicAuth: { username: 'u', password: 'p w' },
        priority: 100,
        weight: 1000,
        hostHeader: 'www.Example.com:8443',
        tlsServerName: 'Origin.Example.com.',
        healthCheck: {
          path: '/health?deep=1',
          intervalSeconds: 3600,
          timeoutMs: 60000,
          expectedStatusMin: 100,
          expectedStatusMax: 599,
          healthyThreshold: 100,
          unhealthyThreshold: 1,
        },
      },
    ],
  ],
  ['null optional fields are absent ones', [o({ basicAuth: null, priority: null, weight: null, hostHeader: null, tlsServerName: null, healthCheck: null })]],
  ['an IPv4 Host header', [o({ hostHeader: '192.0.2.1' })]],
  ['a bracketed IPv6 Host header with a port', [o({ hostHeader: '[2001:db8::1]:443' })]],
  ['a health check with its defaults', [hc()]],
  ['one status only', [hc({ expectedStatusMin: 204, expectedStatusMax: 204 })]],
  ['the timeout equal to the interval', [hc({ intervalSeconds: 1, timeoutMs: 1000 })]],
  ['the most origins', Array.from({ length: ORIGINS_MAX }, (_, i) => o({ name: `o${i}` }))],
];

for (const [name, list] of ACCEPTED) {
  test(`accepted: ${name}`, () => {
    assert.deepEqual(checkOrigins(list), []);
  });
}

/** [what, list, the field named, the message must match]. */
const REFUSED: Array<[string, unknown, string, RegExp]> = [
  ['not a list', { name: 'o' }, 'origins', /list of origins/],
  ['an empty list', [], 'origins', /at least one/],
  ['too many', Array.from({ length: ORIGINS_MAX + 1 }, (_, i) => o({ name: `o${i}` })), 'origins', new RegExp(`at most ${ORIGINS_MAX}`)],
  ['not an object', ['https://origin.example.com'], 'origins[0]', /must be an object/],
  ['an unknown field, with a suggestion', [o({ wieght: 2 })], 'origins[0] (o).wieght', /not a known field \(did you mean "weight"\?\)/],
  ['no name', [{ url: 'https://a.example.com' }], 'origins[0].name', /required/],
  ['a name that is not a slug', [o({ name: 'Backup' })], 'origins[0] (Backup).name', /lower-case letters/],
  ['an empty name', [o({ name: '' })], 'origins[0].name', /empty/],
  ['a name too long', [o({ name: 'a'.repeat(64) })], 'origins[0].name', /at most 63/],
  ['a repeated name', [o(), o({ url: 'https://b.example.com' })], 'origins[1] (o).name', /already the name of origins\[0\]/],
  ['no url', [{ name: 'o' }], 'origins[0] (o).url', /required/],
  ['a url with credentials', [o({ url: 'https://u:p@a.example.com' })], 'origins[0] (o).url', /credentials/],
  ['a url with a query', [o({ url: 'https://a.example.com/?x=1' })], 'origins[0] (o).url', /query string/],
  ['a url of another scheme', [o({ url: 'ftp://a.example.com' })], 'origins[0] (o).url', /http or https/],
  ['basicAuth not an object', [o({ basicAuth: 'u:p' })], 'origins[0] (o).basicAuth', /username.*password/],
  ['basicAuth with a colon in the user', [o({ basicAuth: { username: 'a:b', password: 'p' } })], 'origins[0] (o).basicAuth.username', /":"/],
  ['basicAuth with an empty password', [o({ basicAuth: { username: 'a', password: '' } })], 'origins[0] (o).basicAuth.password', /empty/],
  ['basicAuth with an unknown field', [o({ basicAuth: { username: 'a', password: 'p', realm: 'x' } })], 'origins[0] (o).basicAuth.realm', /not a known field/],
  ['priority 0', [o({ priority: 0 })], 'origins[0] (o).priority', /from 1 to 100 .*got 0/],
  ['priority 101', [o({ priority: 101 })], 'origins[0] (o).priority', /from 1 to 100/],
  ['priority not whole', [o({ priority: 1.5 })], 'origins[0] (o).priority', /whole number/],
  ['priority a string', [o({ priority: '1' })], 'origins[0] (o).priority', /got "1"/],
  ['weight 0', [o({ weight: 0 })], 'origins[0] (o).weight', /from 1 to 1000/],
  ['weight 1001', [o({ weight: 1001 })], 'origins[0] (o).weight', /from 1 to 1000/],
  ['a Host header with a path', [o({ hostHeader: 'a.example.com/x' })], 'origins[0] (o).hostHeader', /not a valid host name/],
  ['a Host header with a bad port', [o({ hostHeader: 'a.example.com:99999' })], 'origins[0] (o).hostHeader', /invalid port/],
  ['a Host header with an empty port', [o({ hostHeader: 'a.example.com:' })], 'origins[0] (o).hostHeader', /invalid port/],
  ['a bare IPv6 Host header', [o({ hostHeader: '2001:db8::1' })], 'origins[0] (o).hostHeader', /brackets/],
  ['a bracketed non-address', [o({ hostHeader: '[a.example.com]' })], 'origins[0] (o).hostHeader', /IPv6/],
  ['an empty Host header', [o({ hostHeader: '' })], 'origins[0] (o).hostHeader', /empty/],
  ['a Host header with a line break', [o({ hostHeader: 'a.example.com\r\nX-Evil: 1' })], 'origins[0] (o).hostHeader', /control characters/],
  ['a TLS name that is an IPv4 address', [o({ tlsServerName: '192.0.2.1' })], 'origins[0] (o).tlsServerName', /IP address.*RFC 6066/],
  ['a TLS name that is an IPv6 address', [o({ tlsServerName: '2001:db8::1' })], 'origins[0] (o).tlsServerName', /IP address/],
  ['a TLS name with a port', [o({ tlsServerName: 'a.example.com:443' })], 'origins[0] (o).tlsServerName', /port/],
  ['a health check without path', [o({ healthCheck: {} })], 'origins[0] (o).healthCheck.path', /required/],
  ['a health check path without "/"', [hc({ path: 'healthz' })], 'origins[0] (o).healthCheck.path', /start with "\/"/],
  ['a health check path with a space', [hc({ path: '/health z' })], 'origins[0] (o).healthCheck.path', /percent-encoded/],
  ['a health check path with a line break', [hc({ path: '/h\nx' })], 'origins[0] (o).healthCheck.path', /control characters/],
  ['a health check path with a fragment', [hc({ path: '/h#x' })], 'origins[0] (o).healthCheck.path', /fragment/],
  ['an interval of 0', [hc({ intervalSeconds: 0 })], 'origins[0] (o).healthCheck.intervalSeconds', /from 1 to 3600/],
  ['an interval over an hour', [hc({ intervalSeconds: 3601 })], 'origins[0] (o).healthCheck.intervalSeconds', /from 1 to 3600/],
  ['a timeout under 100 ms', [hc({ timeoutMs: 99 })], 'origins[0] (o).healthCheck.timeoutMs', /from 100 to 60000/],
  ['a timeout over a minute', [hc({ timeoutMs: 60001, intervalSeconds: 120 })], 'origins[0] (o).healthCheck.timeoutMs', /from 100 to 60000/],
  ['a timeout longer than the interval', [hc({ intervalSeconds: 1, timeoutMs: 1500 })], 'origins[0] (o).healthCheck.timeoutMs', /at most intervalSeconds × 1000 \(1000\)/],
  ['the default timeout longer than a short interval', [hc({ intervalSeconds: 1 })], 'origins[0] (o).healthCheck.timeoutMs', /by default/],
  ['a status under 100', [hc({ expectedStatusMin: 99 })], 'origins[0] (o).healthCheck.expectedStatusMin', /from 100 to 599/],
  ['a status over 599', [hc({ expectedStatusMax: 600 })], 'origins[0] (o).healthCheck.expectedStatusMax', /from 100 to 599/],
  ['min above max', [hc({ expectedStatusMin: 300, expectedStatusMax: 299 })], 'origins[0] (o).healthCheck.expectedStatusMax', /at least expectedStatusMin \(300\)/],
  ['min above the default max', [hc({ expectedStatusMin: 500 })], 'origins[0] (o).healthCheck.expectedStatusMax', /\(500\), got 399/],
  ['a healthy threshold of 0', [hc({ healthyThreshold: 0 })], 'origins[0] (o).healthCheck.healthyThreshold', /from 1 to 100/],
  ['an unhealthy threshold of 101', [hc({ unhealthyThreshold: 101 })], 'origins[0] (o).healthCheck.unhealthyThreshold', /from 1 to 100/],
  ['a health check field unknown', [hc({ method: 'HEAD' })], 'origins[0] (o).healthCheck.method', /not a known field/],
];

for (const [what, list, field, message] of REFUSED) {
  test(`refused: ${what} (${field})`, () => {
    const problems = checkOrigins(list);
    assert.ok(problems.some((p) => p.field === field && message.test(p.message)), JSON.stringify(problems, null, 1));
  });
}

test('every problem of a list comes back at once, each naming its origin', () => {
  const problems = checkOrigins([o({ priority: 0 }), { name: 'b', url: 'nope', weight: 0 }], { field: '[3].origins' });
  assert.deepEqual(
    problems.map((p) => p.field),
    ['[3].origins[0] (o).priority', '[3].origins[1] (b).url', '[3].origins[1] (b).weight'],
  );
});

test('normalizeOrigins: defaults applied, URL canonical, names lower-case, preference order (priority, then name)', () => {
  const stored = normalizeOrigins([
    { name: 'z', url: 'https://z.example.com/', priority: 2 },
    { name: 'b', url: 'https://B.example.com/base//', priority: 1, hostHeader: 'WWW.Example.com.:8080', tlsServerName: 'Origin.Example.com.' },
    { name: 'a', url: 'https://a.example.com', priority: 1, weight: 3, basicAuth: { username: 'u', password: 'p' }, healthCheck: { path: '/h', timeoutMs: 500 } },
  ]);
  assert.deepEqual(stored.map((x) => x.name), ['a', 'b', 'z']);
  assert.deepEqual(stored[0], {
    name: 'a',
    url: 'https://a.example.com',
    basicAuth: { username: 'u', password: 'p' },
    priority: 1,
    weight: 3,
    hostHeader: null,
    tlsServerName: null,
    healthCheck: { ...HEALTH_CHECK_DEFAULTS, path: '/h', timeoutMs: 500 },
  });
  assert.equal(stored[1]!.url, 'https://b.example.com/base');
  assert.equal(stored[1]!.hostHeader, 'www.example.com:8080');
  assert.equal(stored[1]!.tlsServerName, 'origin.example.com');
  assert.deepEqual([stored[2]!.weight, stored[2]!.basicAuth, stored[2]!.healthCheck], [1, null, null]);
});

test('readOrigins: the normalised list, or nothing and the problems', () => {
  const ok = readOrigins([o({ name: 'b', priority: 2 }), o({ name: 'a', priority: 3 })]);
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(ok.origins.map((x) => x.name), ['b', 'a']);
  const bad = readOrigins([o(), o({ name: 'x', priority: 0 })]);
  assert.deepEqual(bad.origins, []);
  assert.equal(bad.problems.length, 1);
});

test('preferredOrigin: the lowest priority number, then the first name; none for an empty list', () => {
  const list = [
    { name: 'c', priority: 2 },
    { name: 'b', priority: 1 },
    { name: 'a', priority: 1 },
  ];
  assert.equal(preferredOrigin(list)?.name, 'a');
  assert.equal(preferredOrigin([{ name: 'only', priority: 100 }])?.name, 'only');
  assert.equal(preferredOrigin([]), undefined);
});

test('sealOrigin seals the password and nothing else; originsOf reads a config from before several origins', () => {
  const [plain] = normalizeOrigins([{ name: 'o', url: 'https://origin.example.com', basicAuth: { username: 'u', password: 'secret' } }]);
  const sealed = sealOrigin(plain!, (p) => `sealed(${p.length})`);
  assert.deepEqual(sealed.basicAuth, { username: 'u', passwordCiphertext: 'sealed(6)' });
  assert.doesNotMatch(JSON.stringify(sealed), /secret/);
  const legacy = originsOf({ originUrl: 'https://old.example.com', basicAuth: { username: 'u', passwordCiphertext: 'c' } });
  assert.deepEqual(legacy, [
    { name: 'primary', url: 'https://old.example.com', basicAuth: { username: 'u', passwordCiphertext: 'c' }, priority: 1, weight: 1, hostHeader: null, tlsServerName: null, healthCheck: null },
  ]);
  const two: OriginConfig[] = [{ ...legacy[0]!, name: 'z', priority: 2 }, { ...legacy[0]!, name: 'y', priority: 1 }];
  assert.deepEqual(originsOf({ originUrl: 'x', basicAuth: null, origins: two }).map((x) => x.name), ['y', 'z']);
});

const POLICY_REFUSED: Array<[unknown, string, RegExp]> = [
  ['fast', 'originPolicy', /must be an object/],
  [{ maxConnections: 0 }, 'originPolicy.maxConnections', /from 1 to 10000/],
  [{ maxConnections: 10001 }, 'originPolicy.maxConnections', /from 1 to 10000/],
  [{ queueTimeoutMs: -1 }, 'originPolicy.queueTimeoutMs', /from 0 to 60000/],
  [{ queueTimeoutMs: 60001 }, 'originPolicy.queueTimeoutMs', /from 0 to 60000/],
  [{ retryBudgetPercent: 101 }, 'originPolicy.retryBudgetPercent', /from 0 to 100/],
  [{ retryBudgetPercent: 2.5 }, 'originPolicy.retryBudgetPercent', /whole number/],
  [{ staleIfDownSeconds: 604801 }, 'originPolicy.staleIfDownSeconds', /from 0 to 604800/],
  [{ maxConnection: 5 }, 'originPolicy.maxConnection', /did you mean "maxConnections"/],
];

for (const [policy, field, message] of POLICY_REFUSED) {
  test(`policy refused: ${JSON.stringify(policy)} (${field})`, () => {
    const problems = checkOriginPolicy(policy);
    assert.ok(problems.some((p) => p.field === field && message.test(p.message)), JSON.stringify(problems));
  });
}

test('policy: the bounds accepted, every field stored (null: the edge default)', () => {
  assert.deepEqual(checkOriginPolicy({ maxConnections: 1, queueTimeoutMs: 0, retryBudgetPercent: 0, staleIfDownSeconds: 0 }), []);
  assert.deepEqual(checkOriginPolicy({ maxConnections: 10000, queueTimeoutMs: 60000, retryBudgetPercent: 100, staleIfDownSeconds: 604800 }), []);
  assert.deepEqual(readOriginPolicy({ retryBudgetPercent: 10, maxConnections: null }), {
    policy: { maxConnections: null, queueTimeoutMs: null, retryBudgetPercent: 10, staleIfDownSeconds: null },
    problems: [],
  });
  assert.deepEqual(readOriginPolicy(undefined).policy, { maxConnections: null, queueTimeoutMs: null, retryBudgetPercent: null, staleIfDownSeconds: null });
  const bad = readOriginPolicy({ retryBudgetPercent: 500 }, '[0].originPolicy');
  assert.equal(bad.problems[0]!.field, '[0].originPolicy.retryBudgetPercent');
  assert.equal(bad.policy.retryBudgetPercent, null);
});
