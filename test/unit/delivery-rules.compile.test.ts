/**
 * Contract of the rule compiler and what the edge does with its Decisions
 * (core/delivery-rules.compile.ts, delivery-rules.apply.ts, delivery-rules.glob.ts):
 * matching, merging, memoization, access, the query policy, redirects and header operations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CustomerConfig } from '../../src/core/customer.types';
import {
  applyHeaderOps,
  applyQueryPolicy,
  checkAccess,
  compileRules,
  DECISIONS_KEPT_MAX,
  defaultRule,
  extensionOf,
  parseCookies,
  renderRedirect,
  requestFacts,
  type CompiledAccess,
  type RequestFacts,
} from '../../src/core/delivery-rules.compile';
import { compileGlob } from '../../src/core/delivery-rules.glob';
import type { DeliveryRule, QueryKeyPolicy, RuleMatch } from '../../src/core/delivery-rules.types';
import { isCdnError } from '../../src/core/errors';
import { normalizeQuery } from '../support/legacy-query';
import { rng } from '../support/random';

type Customer = Pick<CustomerConfig, 'cacheTtl' | 'queryString' | 'staleIfErrorSeconds' | 'rules'>;
const customer = (rules: DeliveryRule[], extra: Partial<Customer> = {}): Customer => ({ cacheTtl: 3600, staleIfErrorSeconds: null, rules, ...extra });
const MARK = { cache: { browserTtl: 1 } };
const marker = (name: string, match?: RuleMatch): DeliveryRule => ({ name, ...(match === undefined ? {} : { match }), actions: MARK });

function facts(path: string, options: { method?: string; headers?: Record<string, string | string[]> } = {}): RequestFacts {
  return requestFacts({ method: options.method ?? 'GET', path, headers: options.headers ?? {} });
}

/** Whether a rule with this match matches the request. */
function matches(match: RuleMatch, request: RequestFacts): boolean {
  return compileRules(customer([marker('m', match)])).decide(request).matched.includes('m');
}

test('defaultRule: the customer\'s cacheTtl, queryString and staleIfErrorSeconds as the first rule', () => {
  const cases: Array<[Partial<Customer>, DeliveryRule['actions']]> = [
    [{}, { cache: { edgeTtl: { seconds: 3600, mode: 'default' } }, cacheKey: { query: { mode: 'all' } } }],
    [{ queryString: { mode: 'keep', allow: [] } }, { cache: { edgeTtl: { seconds: 3600, mode: 'default' } }, cacheKey: { query: { mode: 'all' } } }],
    [{ queryString: { mode: 'ignore', allow: [] }, cacheTtl: 0 }, { cache: { edgeTtl: { seconds: 0, mode: 'default' } }, cacheKey: { query: { mode: 'none' } } }],
    [
      { queryString: { mode: 'allowlist', allow: ['v', 'lang'] }, staleIfErrorSeconds: 600 },
      { cache: { edgeTtl: { seconds: 3600, mode: 'default' }, staleIfError: 600 }, cacheKey: { query: { mode: 'allow', names: ['v', 'lang'] } } },
    ],
    [{ staleIfErrorSeconds: 0 }, { cache: { edgeTtl: { seconds: 3600, mode: 'default' }, staleIfError: 0 }, cacheKey: { query: { mode: 'all' } } }],
  ];
  for (const [fields, actions] of cases) {
    assert.deepEqual(defaultRule({ ...customer([]), ...fields }), { name: 'default', actions }, JSON.stringify(fields));
  }
  const decision = compileRules(customer([], { staleIfErrorSeconds: 600 })).decide(facts('/'));
  assert.deepEqual(decision.matched, ['default']);
  assert.deepEqual(decision.edgeTtl, { seconds: 3600, mode: 'default' });
  assert.equal(decision.staleIfError, 600);
  assert.equal(decision.bypass, false);
  assert.equal(decision.access, undefined);
  assert.equal(decision.redirect, undefined);
});

const GLOBS: Array<[string, string, boolean]> = [
  ['/a.b/(x)+', '/a.b/(x)+', true],
  ['/a.b/(x)+', '/axb/(x)+', false],
  ['/a.b/(x)+', '/a.b/xx', false],
  ['/[abc]/{1,2}/^$|\\', '/[abc]/{1,2}/^$|\\', true],
  ['/[abc]', '/a', false],
  ['/a-b', '/a-b', true],
  ['/img/*.png', '/img/a.png', true],
  ['/img/*.png', '/img/.png', true],
  ['/img/*.png', '/img/x/a.png', false],
  ['/img/*.png', '/img/a.PNG', false],
  ['/img/*', '/img/', true],
  ['/img/*', '/img', false],
  ['/static/**', '/static/a/b/c', true],
  ['/static/**', '/static/', true],
  ['/static/**', '/static', false],
  ['/**.js', '/a/b/c.js', true],
  ['/**/*.js', '/app.js', true],
  ['/assets/**/*.js', '/assets/app.js', true],
  ['/assets/**/*.js', '/assets/v1/app.js', true],
  ['/assets/**/*.js', '/assets/v1/v2/app.js', true],
  ['/assets/**/*.js', '/assets.js', false],
  ['/assets/**/*.js', '/assetsx/app.js', false],
  ['/a/**/b/**/c', '/a/b/c', true],
  ['/a/**/b/**/c', '/a/x/b/y/z/c', true],
  ['/a/**/b/**/c', '/a/x/c', false],
  ['/a?c', '/abc', true],
  ['/a?c', '/a/c', false],
  ['/a?c', '/ac', false],
  ['/a??', '/a%2', true],
  ['/my%20file/*', '/my%20file/x', true],
  ['/my%20file/*', '/my file/x', false],
  ['/*-*.png', '/a-b-c.png', true],
  ['/*-*.png', '/a/b-c.png', false],
  ['/x', '/x/', false],
];

test('globs: * within a segment, ** across, ? one character, everything else literal (regex metacharacters included)', () => {
  for (const [glob, path, expected] of GLOBS) {
    assert.equal(compileGlob(glob).test(path), expected, `${glob} on ${path}`);
    assert.equal(compileGlob(glob, 'regexp').test(path), expected, `${glob} on ${path} (regexp)`);
    assert.equal(compileGlob(glob, 'automaton').test(path), expected, `${glob} on ${path} (automaton)`);
    assert.equal(matches({ globs: [glob] }, facts(path)), expected, `${glob} on ${path} through a rule`);
  }
  assert.equal(compileGlob('/img/*.png').kind, 'regexp');
  assert.equal(compileGlob('/assets/**/*.js').kind, 'regexp');
  assert.equal(compileGlob('/a/**/b/**/c').kind, 'automaton', 'two ** compete for the same characters');
  assert.equal(compileGlob('/*-*.png').kind, 'automaton', 'two * in one segment');
});

/** The reference: a direct reading of the glob rules, by recursion with memo (independent of the compiler). */
function globReference(glob: string, path: string): boolean {
  const memo = new Map<string, boolean>();
  const at = (g: number, p: number): boolean => {
    const key = `${g},${p}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (g === glob.length) result = p === path.length;
    else if (glob.startsWith('**', g)) {
      const rest = g + 2;
      // "/**/" may also match a single "/".
      const zeroDirs = glob[g - 1] === '/' && glob[rest] === '/' && at(rest + 1, p);
      result = zeroDirs;
      for (let q = p; !result && q <= path.length; q += 1) result = at(rest, q);
    } else if (glob[g] === '*') {
      result = false;
      for (let q = p; !result && q <= path.length; q += 1) {
        result = at(g + 1, q);
        if (path[q] === '/') break;
      }
    } else if (glob[g] === '?') result = p < path.length && path[p] !== '/' && at(g + 1, p + 1);
    else result = p < path.length && path[p] === glob[g] && at(g + 1, p + 1);
    memo.set(key, result);
    return result;
  };
  return at(0, 0);
}

test('globs, property: both matchers agree with the reference on random globs and paths (seeded)', () => {
  const pieces = ['/', '/', 'a', 'b', '.', '*', '**', '?', '/**/', '(', '+'];
  const chars = ['/', 'a', 'b', '.', '(', '+'];
  for (let seed = 1; seed <= 2000; seed += 1) {
    const r = rng(seed);
    let glob = '/';
    for (let i = Math.floor(r() * 7); i > 0; i -= 1) glob += pieces[Math.floor(r() * pieces.length)];
    if (glob.includes('***')) continue;
    // Both matchers on every glob (the paths are short: the RegExp's backtracking does not matter here).
    const matchers = [compileGlob(glob, 'regexp'), compileGlob(glob, 'automaton')];
    for (let j = 0; j < 30; j += 1) {
      let path = '/';
      for (let i = Math.floor(r() * 9); i > 0; i -= 1) path += chars[Math.floor(r() * chars.length)];
      for (const matcher of matchers) assert.equal(matcher.test(path), globReference(glob, path), `seed ${seed}: ${glob} (${matcher.kind}) on ${path}`);
    }
  }
});

test('globs: a path crafted against a glob costs linear-ish time, not the minutes a backtracking RegExp would take', () => {
  const path = `/${'a'.repeat(8000)}`;
  for (const glob of ['/**a**a**a**b', '/*a*a*a*a*b', '/**a*a*x', '/**/*/*/*x', '/a/**/b/**/c/**/d']) {
    const started = performance.now();
    assert.equal(compileGlob(glob).test(path), false);
    assert.ok(performance.now() - started < 500, `${glob} took ${performance.now() - started} ms`);
  }
});

test('path prefixes, extensions (case-insensitive, last segment only) and methods', () => {
  const cases: Array<[RuleMatch, string, string, boolean]> = [
    [{ pathPrefixes: ['/img/', '/css/'] }, 'GET', '/css/a.css', true],
    [{ pathPrefixes: ['/img/'] }, 'GET', '/img', false],
    [{ pathPrefixes: ['/img/'] }, 'GET', '/IMG/a', false],
    [{ extensions: ['jpg'] }, 'GET', '/a/b.JPG', true],
    [{ extensions: ['JPG'] }, 'GET', '/a/b.jpg', true],
    [{ extensions: ['jpg'] }, 'GET', '/a.jpg/b', false],
    [{ extensions: ['gz'] }, 'GET', '/a/b.tar.gz', true],
    [{ extensions: ['tar'] }, 'GET', '/a/b.tar.gz', false],
    [{ extensions: ['png'] }, 'GET', '/a/b.', false],
    [{ extensions: ['png'] }, 'GET', '/a/png', false],
    [{ extensions: ['htaccess'] }, 'GET', '/.htaccess', true],
    [{ methods: ['GET'] }, 'GET', '/', true],
    [{ methods: ['GET'] }, 'HEAD', '/', false],
    [{ methods: ['POST', 'PUT'] }, 'PUT', '/', true],
    [{ pathPrefixes: ['/a'], extensions: ['png'] }, 'GET', '/a/x.png', true],
    [{ pathPrefixes: ['/a'], extensions: ['png'] }, 'GET', '/b/x.png', false],
  ];
  for (const [match, method, path, expected] of cases) assert.equal(matches(match, facts(path, { method })), expected, `${JSON.stringify(match)} ${method} ${path}`);
  assert.equal(extensionOf('/a/b.tar.GZ'), 'gz');
  assert.equal(extensionOf('/a.b/c'), '');
});

test('headers: present vs value (exact, case-sensitive), repeated fields joined; cookies: parsed with spaces, quotes, repeats', () => {
  const cases: Array<[RuleMatch, Record<string, string | string[]>, boolean]> = [
    [{ headers: [{ name: 'x-beta' }] }, { 'x-beta': '' }, true],
    [{ headers: [{ name: 'x-beta' }] }, {}, false],
    [{ headers: [{ name: 'X-Beta' }] }, { 'x-beta': '1' }, true],
    [{ headers: [{ name: 'x-beta', values: ['1', '2'] }] }, { 'x-beta': '2' }, true],
    [{ headers: [{ name: 'x-beta', values: ['on'] }] }, { 'x-beta': 'ON' }, false],
    [{ headers: [{ name: 'x-beta', values: ['a, b'] }] }, { 'x-beta': ['a', 'b'] }, true],
    [{ headers: [{ name: 'a' }, { name: 'b' }] }, { a: '1' }, false],
    [{ cookies: [{ name: 'session' }] }, { cookie: 'a=1; session=x' }, true],
    [{ cookies: [{ name: 'session' }] }, { cookie: 'a=1; sessionx=x' }, false],
    [{ cookies: [{ name: 'session' }] }, { cookie: 'session' }, false],
    [{ cookies: [{ name: 'Session' }] }, { cookie: 'session=1' }, false],
    [{ cookies: [{ name: 'ab', values: ['b'] }] }, { cookie: '  ab = b ;c=d' }, true],
    [{ cookies: [{ name: 'ab', values: ['b'] }] }, { cookie: 'ab="b"' }, true],
    [{ cookies: [{ name: 'ab', values: ['b'] }] }, { cookie: 'ab=b; ab=c' }, true],
    [{ cookies: [{ name: 'ab', values: ['c'] }] }, { cookie: 'ab=b; ab=c' }, false],
    [{ cookies: [{ name: 'ab', values: ['c'] }] }, { cookie: ['x=1', 'ab=c'] }, true],
    [{ cookies: [{ name: 'e' }] }, { cookie: 'e=' }, true],
  ];
  for (const [match, headers, expected] of cases) assert.equal(matches(match, facts('/', { headers })), expected, `${JSON.stringify(match)} with ${JSON.stringify(headers)}`);

  const parsed: Array<[string | undefined, Array<[string, string]>]> = [
    [undefined, []],
    ['', []],
    ['a=1; b=2', [['a', '1'], ['b', '2']]],
    [' a = 1 ;b=2;', [['a', '1'], ['b', '2']]],
    ['a="x y"; b="', [['a', 'x y'], ['b', '"']]],
    ['a=""', [['a', '']]],
    ['a="x', [['a', '"x']]],
    ['a=1; a=2', [['a', '1']]],
    ['novalue; =anon; c=3', [['c', '3']]],
    ['t=a=b', [['t', 'a=b']]],
    ['p=%20x', [['p', '%20x']]],
  ];
  for (const [header, expected] of parsed) assert.deepEqual([...parseCookies(header)], expected, JSON.stringify(header));
});

test('ALL, ANY and NOT nest', () => {
  const beta = { headers: [{ name: 'x-beta' }] };
  const cases: Array<[RuleMatch, string, Record<string, string>, boolean]> = [
    [{ not: { pathPrefixes: ['/api/'] } }, '/a', {}, true],
    [{ not: { pathPrefixes: ['/api/'] } }, '/api/x', {}, false],
    [{ all: [{ pathPrefixes: ['/a'] }, beta] }, '/a', { 'x-beta': '1' }, true],
    [{ all: [{ pathPrefixes: ['/a'] }, beta] }, '/a', {}, false],
    [{ any: [{ pathPrefixes: ['/a'] }, beta] }, '/b', { 'x-beta': '1' }, true],
    [{ any: [{ pathPrefixes: ['/a'] }, beta] }, '/b', {}, false],
    [{ not: { any: [{ extensions: ['png'] }, { extensions: ['jpg'] }] } }, '/x.gif', {}, true],
    [{ not: { any: [{ extensions: ['png'] }, { extensions: ['jpg'] }] } }, '/x.JPG', {}, false],
    [{ not: { not: beta } }, '/', { 'x-beta': '' }, true],
    [{ pathPrefixes: ['/a'], any: [beta, { not: { methods: ['GET'] } }] }, '/a', {}, false],
    [{ any: [{ all: [{ extensions: ['js'] }, { not: { pathPrefixes: ['/vendor/'] } }] }, { globs: ['/vendor/keep/**'] }] }, '/vendor/keep/a.js', {}, true],
    [{ any: [{ all: [{ extensions: ['js'] }, { not: { pathPrefixes: ['/vendor/'] } }] }, { globs: ['/vendor/keep/**'] }] }, '/vendor/x.js', {}, false],
  ];
  for (const [match, path, headers, expected] of cases) assert.equal(matches(match, facts(path, { headers })), expected, `${JSON.stringify(match)} on ${path}`);
});

test('merge: a later rule\'s single value wins; header operations and key fields accumulate', () => {
  const rules: DeliveryRule[] = [
    {
      name: 'static',
      match: { pathPrefixes: ['/static/'] },
      actions: {
        cache: { edgeTtl: { seconds: 86400, mode: 'override' }, browserTtl: 600, staleWhileRevalidate: 30 },
        cacheKey: { query: { mode: 'none' }, headers: ['accept-language'] },
        responseHeaders: [{ op: 'set', name: 'x-a', value: '1' }],
        originHeaders: [{ op: 'set', name: 'x-from', value: 'static' }],
      },
    },
    {
      name: 'css',
      match: { extensions: ['css'] },
      actions: {
        cache: { edgeTtl: { seconds: 60, mode: 'default' } },
        cacheKey: { query: { mode: 'allow', names: ['v'] }, headers: ['accept-language', 'accept'], cookies: ['ab'] },
        responseHeaders: [{ op: 'append', name: 'x-a', value: '2' }, { op: 'remove', name: 'server' }],
      },
    },
    { name: 'private', match: { pathPrefixes: ['/static/private/'] }, actions: { cache: { bypass: true } } },
    { name: 'unprivate', match: { pathPrefixes: ['/static/private/public/'] }, actions: { cache: { bypass: false } } },
    { name: 'moved', match: { pathPrefixes: ['/static/old/'] }, actions: { redirect: { status: 301, location: '/static/new/' } } },
    { name: 'moved-again', match: { pathPrefixes: ['/static/old/again/'] }, actions: { redirect: { status: 308, location: '/elsewhere' } } },
  ];
  const compiled = compileRules(customer(rules, { staleIfErrorSeconds: 30 }));
  const both = compiled.decide(facts('/static/site.css'));
  assert.deepEqual(both.matched, ['default', 'static', 'css']);
  assert.deepEqual(both.edgeTtl, { seconds: 60, mode: 'default' });
  assert.equal(both.browserTtl, 600, 'kept from the earlier rule: the later one says nothing about it');
  assert.equal(both.staleWhileRevalidate, 30);
  assert.equal(both.staleIfError, 30, 'from the default rule');
  assert.deepEqual(both.query, { mode: 'allow', names: ['v'] });
  assert.deepEqual(both.keyHeaders, ['accept', 'accept-language']);
  assert.deepEqual(both.keyCookies, ['ab']);
  assert.deepEqual(both.responseHeaders, [
    { op: 'set', name: 'x-a', value: '1' },
    { op: 'append', name: 'x-a', value: '2' },
    { op: 'remove', name: 'server' },
  ]);
  assert.deepEqual(both.originHeaders, [{ op: 'set', name: 'x-from', value: 'static' }]);
  assert.equal(both.bypass, false);

  const one = compiled.decide(facts('/static/a.js'));
  assert.deepEqual(one.matched, ['default', 'static']);
  assert.deepEqual(one.query, { mode: 'none' });
  assert.equal(compiled.decide(facts('/static/private/a.js')).bypass, true);
  assert.equal(compiled.decide(facts('/static/private/public/a.js')).bypass, false, 'a later bypass: false undoes it');
  assert.deepEqual(compiled.decide(facts('/static/old/x')).redirect, { status: 301, location: '/static/new/' });
  assert.deepEqual(compiled.decide(facts('/static/old/again/x')).redirect, { status: 308, location: '/elsewhere' });
  assert.equal(compiled.decide(facts('/other')).browserTtl, undefined);
});

test('merge: access accumulates (any deny, every allow list, every Referer policy, signedUrl from any rule, the last rate limit with its rule)', () => {
  const rules: DeliveryRule[] = [
    { name: 'office', match: { pathPrefixes: ['/admin/'] }, actions: { access: { allowCidrs: ['10.0.0.0/8'], rateLimit: { perSecond: 100, burst: 200 } } } },
    { name: 'team', match: { pathPrefixes: ['/admin/team/'] }, actions: { access: { allowCidrs: ['10.1.0.0/16'], signedUrl: true } } },
    { name: 'slow', match: { pathPrefixes: ['/admin/team/export'] }, actions: { access: { rateLimit: { perSecond: 1, burst: 2 } } } },
    { name: 'closed', match: { pathPrefixes: ['/admin/closed'] }, actions: { access: { deny: true } } },
    { name: 'open', match: { pathPrefixes: ['/admin/closed'] }, actions: { access: { deny: false } } },
    { name: 'hotlink', match: { extensions: ['png'] }, actions: { access: { referers: { allow: ['example.com'] } } } },
  ];
  const compiled = compileRules(customer(rules));
  assert.equal(compiled.decide(facts('/public')).access, undefined, 'nothing to check');
  const team = compiled.decide(facts('/admin/team/export')).access!;
  assert.equal(team.signedUrl, true);
  assert.deepEqual(team.rateLimit, { perSecond: 1, burst: 2, rule: 'slow' });
  assert.equal(team.allowCidrs.length, 2);
  assert.equal(checkAccess(team, { address: '10.1.2.3', referer: undefined }).ok, true);
  assert.equal(checkAccess(team, { address: '10.2.0.1', referer: undefined }).ok, false, 'in the first list, not in the second');
  assert.deepEqual(compiled.decide(facts('/admin/x')).access!.rateLimit, { perSecond: 100, burst: 200, rule: 'office' });
  assert.equal(compiled.decide(facts('/admin/x')).access!.signedUrl, false);
  assert.equal(compiled.decide(facts('/admin/closed')).access!.deny, true, 'a later deny: false does not lift a deny');
  const image = compiled.decide(facts('/admin/a.png')).access!;
  assert.equal(checkAccess(image, { address: '10.0.0.1', referer: 'https://evil.example/' }).ok, false);
  assert.equal(checkAccess(image, { address: '10.0.0.1', referer: 'https://example.com/' }).ok, true);
});

test('memoization: one frozen Decision per combination of matching rules, shared by every request that makes it', () => {
  const compiled = compileRules(
    customer([
      { name: 'img', match: { extensions: ['png'] }, actions: { cache: { browserTtl: 60 }, responseHeaders: [{ op: 'set', name: 'x-i', value: '1' }] } },
      { name: 'beta', match: { headers: [{ name: 'x-beta' }] }, actions: { cacheKey: { headers: ['x-beta'] }, access: { allowCidrs: ['10.0.0.0/8'] } } },
    ]),
  );
  const a = compiled.decide(facts('/a.png'));
  assert.equal(compiled.decide(facts('/a.png')), a, 'the same request');
  assert.equal(compiled.decide(facts('/other/b.PNG')), a, 'another request, same rules');
  const withBeta = compiled.decide(facts('/a.png', { headers: { 'x-beta': '1' } }));
  assert.notEqual(withBeta, a);
  assert.deepEqual(withBeta.matched, ['default', 'img', 'beta']);
  assert.equal(compiled.decide(facts('/z.png', { headers: { 'x-beta': '2' } })), withBeta);
  assert.notEqual(compiled.decide(facts('/x.gif', { headers: { 'x-beta': '1' } })), withBeta);
  for (const d of [a, withBeta]) {
    assert.ok(Object.isFrozen(d) && Object.isFrozen(d.matched) && Object.isFrozen(d.responseHeaders) && Object.isFrozen(d.responseHeaders[0]) && Object.isFrozen(d.edgeTtl));
    assert.throws(() => (d.matched as string[]).push('x'), TypeError);
  }
  assert.ok(Object.isFrozen(withBeta.access) && Object.isFrozen(withBeta.access!.allowCidrs));
});

test('memoization is bounded: past DECISIONS_KEPT_MAX combinations, Decisions are still right but no longer kept', () => {
  const n = 13; // 2^13 combinations, more than DECISIONS_KEPT_MAX
  assert.ok(2 ** n > DECISIONS_KEPT_MAX);
  const compiled = compileRules(customer(Array.from({ length: n }, (_, i) => marker(`h${i}`, { headers: [{ name: `h${i}` }] }))));
  const request = (combo: number) => facts('/', { headers: Object.fromEntries(Array.from({ length: n }, (_, i) => i).filter((i) => combo & (1 << i)).map((i) => [`h${i}`, '1'])) });
  for (let combo = 0; combo < 2 ** n; combo += 1) {
    const expected = ['default', ...Array.from({ length: n }, (_, i) => i).filter((i) => combo & (1 << i)).map((i) => `h${i}`)];
    assert.deepEqual(compiled.decide(request(combo)).matched, expected);
  }
  assert.equal(compiled.decide(request(1)), compiled.decide(request(1)), 'an early combination was kept');
  const last = 2 ** n - 1;
  assert.notEqual(compiled.decide(request(last)), compiled.decide(request(last)), 'a late one is merged per request');
  assert.deepEqual(compiled.decide(request(last)).matched.length, n + 1);
});

test('pathOnly and usesCookies say what the rules look at', () => {
  const cases: Array<[DeliveryRule[], boolean, boolean]> = [
    [[], true, false],
    [[marker('a', { pathPrefixes: ['/a'] }), marker('b', { extensions: ['css'], globs: ['/**'] })], true, false],
    [[marker('a', { methods: ['GET'] })], false, false],
    [[marker('a', { not: { any: [{ headers: [{ name: 'x' }] }] } })], false, false],
    [[marker('a', { all: [{ cookies: [{ name: 'c' }] }] })], false, true],
    [[{ name: 'k', actions: { cacheKey: { cookies: ['ab'] } } }], true, true],
    [[{ name: 'k', actions: { cacheKey: { headers: ['accept'] } } }], true, false],
  ];
  for (const [rules, pathOnly, usesCookies] of cases) {
    const compiled = compileRules(customer(rules));
    assert.equal(compiled.pathOnly, pathOnly, JSON.stringify(rules));
    assert.equal(compiled.usesCookies, usesCookies, JSON.stringify(rules));
    assert.equal(compiled.count, rules.length + 1);
    assert.deepEqual(compiled.names, ['default', ...rules.map((r) => r.name)]);
  }
});

test('compileRules refuses rules the validator refuses, and normalises what it compiles', () => {
  assert.throws(
    () => compileRules(customer([{ name: 'r', match: { globs: ['img/*'] }, actions: MARK }])),
    (err: unknown) => isCdnError(err) && err.code === 'CDN_ERR_INPUT_INVALID' && err.message.includes('rules[0] (r).match.globs[0]'),
  );
  assert.throws(() => compileRules(customer([{ name: 'r', actions: { cache: { future: 1 } } } as unknown as DeliveryRule])), /rules\[0\] \(r\)\.actions\.cache\.future/);
  // Header names written in capitals (not normalised by whoever stored them) still match.
  assert.equal(matches({ headers: [{ name: 'X-Beta' }] }, facts('/', { headers: { 'x-beta': '1' } })), true);
});

function access(rules: DeliveryRule['actions']['access'][]): CompiledAccess {
  return compileRules(customer(rules.map((a, i) => ({ name: `a${i}`, actions: { access: a! } })))).decide(facts('/')).access!;
}

test('checkAccess: deny, CIDRs (IPv4, IPv6, IPv4-mapped), Referer; reasons never show what is configured', () => {
  const v4 = access([{ allowCidrs: ['203.0.113.0/24', '198.51.100.7'] }]);
  const v6 = access([{ allowCidrs: ['2001:db8::/32'] }]);
  const denied = access([{ denyCidrs: ['203.0.113.128/25', '2001:DB8:BAD::/48'] }]);
  const both = access([{ allowCidrs: ['203.0.113.0/24'], denyCidrs: ['203.0.113.128/25'] }]);
  const mapped = access([{ denyCidrs: ['10.0.0.0/8'] }]);
  const referers = access([{ referers: { allow: ['example.com', '*.example.org'] } }]);
  const strict = access([{ referers: { allow: ['example.com'], allowEmpty: false } }]);
  const cases: Array<[string, CompiledAccess, string, string | undefined, boolean | string]> = [
    ['deny', access([{ deny: true }]), '203.0.113.1', undefined, 'access to this path is denied'],
    ['in an allowed block', v4, '203.0.113.9', undefined, true],
    ['the single allowed address', v4, '198.51.100.7', undefined, true],
    ['outside', v4, '198.51.100.8', undefined, 'your address is not allowed for this path'],
    ['IPv4-mapped inside', v4, '::ffff:203.0.113.9', undefined, true],
    ['IPv4-mapped in hex inside', v4, '::ffff:cb00:7109', undefined, true],
    ['IPv4-mapped outside', v4, '::ffff:192.0.2.1', undefined, false],
    ['IPv6 against IPv4 blocks', v4, '2001:db8::1', undefined, false],
    ['IPv6 inside', v6, '2001:db8:ffff::1', undefined, true],
    ['IPv6 in capitals inside', v6, '2001:DB8::1', undefined, true],
    ['IPv6 outside', v6, '2001:db9::1', undefined, false],
    ['not denied', denied, '203.0.113.1', undefined, true],
    ['denied', denied, '203.0.113.200', undefined, false],
    ['denied IPv6', denied, '2001:db8:bad::1', undefined, false],
    ['allowed and denied overlap: deny wins', both, '203.0.113.200', undefined, false],
    ['allowed and not denied', both, '203.0.113.1', undefined, true],
    ['IPv4-mapped denied', mapped, '::ffff:10.1.2.3', undefined, false],
    ['no address at all', mapped, '', undefined, false],
    ['an address that is none', v4, 'unknown', undefined, false],
    ['referer exact', referers, '1.2.3.4', 'https://example.com/page?x=1', true],
    ['referer exact, http and a port', referers, '1.2.3.4', 'http://example.com:8080/', true],
    ['referer in capitals and a trailing dot', referers, '1.2.3.4', 'HTTPS://EXAMPLE.COM./', true],
    ['referer subdomain of an exact host', referers, '1.2.3.4', 'https://www.example.com/', 'this path may not be linked from this site'],
    ['referer subdomain of a wildcard', referers, '1.2.3.4', 'https://a.b.example.org/', true],
    ['referer apex of a wildcard', referers, '1.2.3.4', 'https://example.org/', false],
    ['referer lookalike', referers, '1.2.3.4', 'https://evilexample.org/', false],
    ['referer host in the path', referers, '1.2.3.4', 'https://evil.example/example.com', false],
    ['referer userinfo trick', referers, '1.2.3.4', 'https://example.com@evil.example/', false],
    ['no referer (allowEmpty by default)', referers, '1.2.3.4', undefined, true],
    ['empty referer', referers, '1.2.3.4', '', true],
    ['no referer, allowEmpty false', strict, '1.2.3.4', undefined, 'this path may only be opened from a link on an allowed site'],
    ['unparseable referer', referers, '1.2.3.4', 'not a url', 'the Referer header is not a valid URL'],
    ['referer of another scheme', referers, '1.2.3.4', 'android-app://example.com/', false],
  ];
  for (const [why, compiled, address, referer, expected] of cases) {
    const verdict = checkAccess(compiled, { address, referer });
    assert.equal(verdict.ok, expected === true, why);
    if (!verdict.ok) {
      if (typeof expected === 'string') assert.equal(verdict.reason, expected, why);
      assert.doesNotMatch(verdict.reason, /example|203\.0|2001|10\.0/, `${why}: the reason shows nothing configured`);
    }
  }
  assert.deepEqual(checkAccess(v4, { address: '1.1.1.1', referer: undefined }), { ok: false, reason: 'your address is not allowed for this path', check: 'address' });
});

const QUERIES: Array<[string, QueryKeyPolicy, string]> = [
  ['', { mode: 'all' }, ''],
  ['b=2', { mode: 'all' }, 'b=2'],
  ['b=2&a=1', { mode: 'all' }, 'a=1&b=2'],
  ['a=2&b&a=1', { mode: 'all' }, 'a=2&a=1&b'],
  ['&&b=1&', { mode: 'all' }, 'b=1'],
  ['a=1&b=2', { mode: 'none' }, ''],
  ['v=1&x=2&lang=de', { mode: 'allow', names: ['v', 'lang'] }, 'lang=de&v=1'],
  ['v=1', { mode: 'allow', names: ['w'] }, ''],
  ['utm_source=a&id=7&utm_medium=b&fbclid=z', { mode: 'deny', names: ['utm_*', 'fbclid'] }, 'id=7'],
  ['utm_source=a&id=7', { mode: 'allow', names: ['utm_*'] }, 'utm_source=a'],
  ['utm=a&utm_=b', { mode: 'deny', names: ['utm_*'] }, 'utm=a'],
  ['a%20b=1&c=2', { mode: 'allow', names: ['a b'] }, 'a%20b=1'],
  ['a+b=1&c=2', { mode: 'allow', names: ['a b'] }, 'a+b=1'],
  ['%zz=1&a=2', { mode: 'all' }, '%zz=1&a=2'],
  // The signed-URL parameters never stay, whatever the mode.
  ['ep_sig=abc', { mode: 'all' }, ''],
  ['id=1&ep_exp=1&ep_kid=k&ep_sig=s&ep_prefix=%2F&ep_ip=1', { mode: 'all' }, 'id=1'],
  ['id=1&%65p_sig=s', { mode: 'all' }, 'id=1'],
  ['ep_sig=s&id=1', { mode: 'allow', names: ['ep_sig', 'id'] }, 'id=1'],
  ['ep_sig=s&id=1', { mode: 'allow', names: ['ep_*'] }, ''],
  ['ep_sig=s&id=1', { mode: 'deny', names: ['x'] }, 'id=1'],
  ['ep_sigx=1&ep=2', { mode: 'all' }, 'ep=2&ep_sigx=1'],
];

test('applyQueryPolicy: none, allow and deny with prefixes, sorted stably by decoded name, signature parameters always dropped', () => {
  for (const [query, policy, expected] of QUERIES) assert.equal(applyQueryPolicy(query, policy), expected, `${query} with ${JSON.stringify(policy)}`);
});

test('applyQueryPolicy under all keeps every existing cache key: the same as normalizeQuery under keep (seeded)', () => {
  const names = ['a', 'b', 'a%20b', 'a+b', '%61', 'é', '%zz', 'id', 'ep'];
  for (let seed = 1; seed <= 2000; seed += 1) {
    const r = rng(seed);
    const params = Array.from({ length: Math.floor(r() * 6) }, () => {
      const name = names[Math.floor(r() * names.length)]!;
      return r() < 0.2 ? name : `${name}=${Math.floor(r() * 3)}`;
    });
    const query = params.map((p) => (r() < 0.1 ? `${p}&` : p)).join('&');
    assert.equal(applyQueryPolicy(query, { mode: 'all' }), normalizeQuery(query, { mode: 'keep', allow: [] }), `seed ${seed}: ${query}`);
    assert.equal(applyQueryPolicy(query, { mode: 'allow', names: ['a', 'id'] }), normalizeQuery(query, { mode: 'allowlist', allow: ['a', 'id'] }), `seed ${seed}: ${query}`);
  }
});

test('renderRedirect: placeholders filled once, never a redirect to another host from a path, non-ASCII encoded', () => {
  const request = { scheme: 'https', host: 'cdn.example.com', path: '/old/a%20b', query: 'x=1&y=2' };
  const cases: Array<[string, Partial<typeof request>, string]> = [
    ['{scheme}://www.{host}{path}{search}', {}, 'https://www.cdn.example.com/old/a%20b?x=1&y=2'],
    ['https://new.example/{path}?{query}', {}, 'https://new.example//old/a%20b?x=1&y=2'],
    ['/new{path}{search}', { query: '' }, '/new/old/a%20b'],
    ['https://x.example/?q={query}', { query: '' }, 'https://x.example/?q='],
    ['{path}', { path: '//evil.example/x' }, '/evil.example/x'],
    ['{path}', { path: '/\\evil.example' }, '/evil.example'],
    ['{path}{search}', { path: '/a', query: '{path}' }, '/a?{path}'],
    ['/fixed', {}, '/fixed'],
    ['{path}', { path: '/é x' }, '/%C3%A9%20x'],
  ];
  for (const [location, overrides, expected] of cases) {
    assert.equal(renderRedirect({ status: 301, location }, { ...request, ...overrides }), expected, `${location} with ${JSON.stringify(overrides)}`);
  }
});

test('applyHeaderOps: set replaces every spelling, append adds a line (Set-Cookie stays a list), remove deletes; the input is not changed', () => {
  const input = Object.freeze({ 'Content-Type': 'text/html', 'x-a': '1', 'set-cookie': ['a=1'], 'content-length': 42, 'x-u': undefined, vary: 'Accept-Encoding' });
  const cases: Array<[Parameters<typeof applyHeaderOps>[1], Record<string, string | string[]>]> = [
    [[], { 'Content-Type': 'text/html', 'x-a': '1', 'set-cookie': ['a=1'], 'content-length': '42', vary: 'Accept-Encoding' }],
    [[{ op: 'set', name: 'content-type', value: 'text/plain' }], { 'x-a': '1', 'set-cookie': ['a=1'], 'content-length': '42', vary: 'Accept-Encoding', 'content-type': 'text/plain' }],
    [[{ op: 'append', name: 'x-a', value: '2' }, { op: 'append', name: 'x-a', value: '3' }], { 'Content-Type': 'text/html', 'set-cookie': ['a=1'], 'content-length': '42', vary: 'Accept-Encoding', 'x-a': '1, 2, 3' }],
    [[{ op: 'append', name: 'vary', value: 'Origin' }], { 'Content-Type': 'text/html', 'x-a': '1', 'set-cookie': ['a=1'], 'content-length': '42', vary: 'Accept-Encoding, Origin' }],
    [[{ op: 'append', name: 'set-cookie', value: 'b=2' }], { 'Content-Type': 'text/html', 'x-a': '1', 'content-length': '42', vary: 'Accept-Encoding', 'set-cookie': ['a=1', 'b=2'] }],
    [[{ op: 'set', name: 'set-cookie', value: 'c=3' }], { 'Content-Type': 'text/html', 'x-a': '1', 'content-length': '42', vary: 'Accept-Encoding', 'set-cookie': ['c=3'] }],
    [[{ op: 'remove', name: 'content-type' }, { op: 'remove', name: 'nothing' }], { 'x-a': '1', 'set-cookie': ['a=1'], 'content-length': '42', vary: 'Accept-Encoding' }],
    [[{ op: 'append', name: 'x-new', value: 'v' }, { op: 'set', name: 'x-new', value: 'w' }], { 'Content-Type': 'text/html', 'x-a': '1', 'set-cookie': ['a=1'], 'content-length': '42', vary: 'Accept-Encoding', 'x-new': 'w' }],
  ];
  for (const [ops, expected] of cases) assert.deepEqual(applyHeaderOps(input, ops), expected, JSON.stringify(ops));
  assert.deepEqual(input['set-cookie'], ['a=1']);
  const proto = applyHeaderOps({}, [{ op: 'set', name: '__proto__', value: 'x' }]);
  assert.equal(Object.getPrototypeOf(proto), Object.prototype, '__proto__ is a field, not the prototype');
  assert.equal(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value, 'x');
});

test('forPath(path) decides as decide does, for every request of that path (rules reading the path judged once)', () => {
  const compiled = compileRules({
    cacheTtl: 60,
    rules: [
      { name: 'css', match: { extensions: ['css'] }, actions: { cache: { browserTtl: 60 } } },
      { name: 'api', match: { globs: ['/api/**'] }, actions: { cache: { bypass: true } } },
      { name: 'cors', match: { all: [{ pathPrefixes: ['/api/'] }, { headers: [{ name: 'origin' }] }] }, actions: { responseHeaders: [{ op: 'set', name: 'access-control-allow-origin', value: '*' }] } },
      { name: 'debug', match: { headers: [{ name: 'x-debug', values: ['1'] }] }, actions: { responseHeaders: [{ op: 'set', name: 'x-debug-edge', value: '1' }] } },
      { name: 'preview', match: { not: { cookies: [{ name: 'preview', values: ['1'] }] } }, actions: { cache: { browserTtl: 5 } } },
      { name: 'posts', match: { methods: ['POST'], pathPrefixes: ['/api/'] }, actions: { cache: { bypass: true } } },
    ],
  });
  const paths = ['/a.css', '/api/x', '/api/x.css', '/other', '/api'];
  const headerSets: Array<Record<string, string>> = [{}, { origin: 'https://a.test' }, { 'x-debug': '1' }, { cookie: 'preview=1' }, { origin: 'o', 'x-debug': '1', cookie: 'a=b; preview=0' }];
  for (const path of paths) {
    const forPath = compiled.forPath(path);
    for (const method of ['GET', 'POST']) {
      for (const headers of headerSets) {
        const facts = requestFacts({ method, path, headers });
        assert.equal(forPath(requestFacts({ method, path, headers })), compiled.decide(facts), `${method} ${path} ${JSON.stringify(headers)}`);
      }
    }
  }
});
