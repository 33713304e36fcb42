/**
 * Contract of the delivery-rule validator (core/delivery-rules.rules.ts): what is accepted,
 * and for every refusal the exact field named (rule index and name, then the field) and why.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkCompressTypes,
  checkDeliveryRules,
  normalizeCompressTypes,
  normalizeRules,
  readRules,
  readRulesJson,
} from '../../src/core/delivery-rules.rules';
import type { DeliveryRule } from '../../src/core/delivery-rules.types';

const CACHE = { cache: { edgeTtl: { seconds: 60, mode: 'override' } } };
/** One rule named "r", so every field below is `rules[0] (r)` and a suffix. */
const r = (extra: Record<string, unknown>): Record<string, unknown> => ({ name: 'r', actions: CACHE, ...extra });
const withActions = (actions: unknown): Record<string, unknown> => ({ name: 'r', actions });
const withMatch = (match: unknown): Record<string, unknown> => ({ name: 'r', match, actions: CACHE });
const nest = (depth: number): Record<string, unknown> => (depth === 1 ? { methods: ['GET'] } : { not: nest(depth - 1) });

const ACCEPTED: Array<[string, unknown[]]> = [
  ['no rules', []],
  ['a rule without match (every request)', [withActions({ cache: { bypass: true } })]],
  [
    'every condition and action at once',
    [
      {
        name: 'everything_1',
        match: {
          pathPrefixes: ['/a/'],
          globs: ['/a/**/*.js', '/a.b/(x)+', '/x?y'],
          extensions: ['js', 'MJS'],
          methods: ['GET', 'HEAD', 'PURGE'],
          headers: [{ name: 'Accept-Language' }, { name: 'x-v', values: ['1', 'two words'] }],
          cookies: [{ name: 'session' }, { name: 'AB', values: ['b'] }],
          all: [{ methods: ['GET'] }],
          any: [{ pathPrefixes: ['/b'] }, { extensions: ['css'] }],
          not: { headers: [{ name: 'authorization' }] },
        },
        actions: {
          cache: { edgeTtl: { seconds: 0, mode: 'default' }, browserTtl: 31536000, staleWhileRevalidate: 60, staleIfError: 604800 },
          cacheKey: { query: { mode: 'deny', names: ['utm_*', 'fbclid'] }, headers: ['Accept-Language'], cookies: ['AB'] },
          responseHeaders: [
            { op: 'set', name: 'Access-Control-Allow-Origin', value: '*' },
            { op: 'append', name: 'vary', value: 'Origin' },
            { op: 'remove', name: 'server' },
            { op: 'set', name: 'x-empty', value: '' },
          ],
          originHeaders: [{ op: 'set', name: 'x-cache', value: 'fine towards the origin' }],
          access: {
            allowCidrs: ['10.0.0.0/8', '2001:DB8::/32', '192.0.2.7'],
            denyCidrs: ['10.1.0.0/16'],
            referers: { allow: ['example.com', '*.Example.org'], allowEmpty: false },
            signedUrl: true,
            rateLimit: { perSecond: 1_000_000, burst: 1 },
          },
        },
      },
    ],
  ],
  ['conditions nested exactly 8 deep', [withMatch(nest(8))]],
  ['redirect with access', [withActions({ redirect: { status: 308, location: '{scheme}://www.{host}{path}{search}' }, access: { allowCidrs: ['0.0.0.0/0'] } })]],
  ['redirect to a path', [withActions({ redirect: { status: 302, location: '/new{path}?from={query}' } })]],
  ['bypass with a browser TTL', [withActions({ cache: { bypass: true, browserTtl: 0 } })]],
  ['bypass false with an edge TTL (undoes an earlier bypass)', [withActions({ cache: { bypass: false, edgeTtl: { seconds: 5, mode: 'override' } } })]],
  ['deny with signedUrl false', [withActions({ access: { deny: true, signedUrl: false } })]],
  ['null reads as absent', [{ name: 'r', match: null, actions: { cache: { bypass: true, edgeTtl: null }, access: null } }]],
  ['objects without a prototype (graphql-scalars JSON)', [Object.assign(Object.create(null) as object, { name: 'r', actions: Object.assign(Object.create(null) as object, CACHE) })]],
  ['a list of exactly max rules', Array.from({ length: 3 }, (_, i) => ({ name: `r${i}`, actions: CACHE }))],
];

test('accepted rule lists have no problem', async (t) => {
  for (const [why, rules] of ACCEPTED) await t.test(why, () => assert.deepEqual(checkDeliveryRules(rules, { max: 3 }), []));
  assert.deepEqual(checkDeliveryRules(undefined), []);
  assert.deepEqual(checkDeliveryRules(null), []);
});

const at = (suffix: string): string => `rules[0] (r)${suffix}`;

/** [why, the one rule, [field, message] of every problem, in order]. */
const REFUSED: Array<[string, unknown, Array<[string, RegExp]>]> = [
  // Shape and unknown fields.
  ['a rule that is not an object', 5, [['rules[0]', /must be an object/]]],
  ['a rule that is a class instance', new (class Rule { name = 'r'; actions = CACHE })(), [['rules[0]', /must be an object/]]],
  ['an unknown rule field, with a suggestion', r({ matchh: {} }), [[at('.matchh'), /is not a known field \(did you mean "match"\?\); the fields here are name, match, actions/]]],
  ['an unknown cache field', withActions({ cache: { bypas: true, browserTtl: 5 } }), [[at('.actions.cache.bypas'), /did you mean "bypass"/]]],
  ['an unknown action', withActions({ cache: { bypass: true }, rewrite: {} }), [[at('.actions.rewrite'), /is not a known field; the fields here are cache, cacheKey/]]],
  ['an unknown field deep in a match', withMatch({ any: [{ not: { pathPrefix: ['/a'] } }] }), [[at('.match.any[0].not.pathPrefix'), /did you mean "pathPrefixes"/], [at('.match.any[0].not'), /has no condition/]]],
  ['__proto__ from JSON', JSON.parse('{"name":"r","actions":{"cache":{"bypass":true}},"__proto__":{"x":1}}'), [[at('.__proto__'), /is not a known field/]]],
  ['a field name that is not an identifier is quoted', r({ 'a b': 1 }), [[at('."a b"'), /is not a known field/]]],
  // Names.
  ['no name', { actions: CACHE }, [['rules[0].name', /is required and must be a string/]]],
  ['an empty name', { name: '', actions: CACHE }, [['rules[0].name', /must not be empty/]]],
  ['a name that is not a slug', { name: 'Images', actions: CACHE }, [['rules[0] (Images).name', /"Images" is not a rule name/]]],
  ['a name with a space is not printed in the path', { name: 'a b', actions: CACHE }, [['rules[0].name', /"a b" is not a rule name/]]],
  ['the reserved name default', { name: 'default', actions: CACHE }, [['rules[0] (default).name', /implicit first rule/]]],
  ['a name of 64 characters', { name: 'a'.repeat(64), actions: CACHE }, [['rules[0].name', /at most 63 characters \(got 64\)/]]],
  // Actions present.
  ['no actions', { name: 'r' }, [[at('.actions'), /is required/]]],
  ['empty actions', withActions({}), [[at('.actions'), /has no action/]]],
  ['actions all null', withActions({ cache: null }), [[at('.actions'), /has no action/]]],
  ['an empty cache action', withActions({ cache: {} }), [[at('.actions.cache'), /is empty; give at least one of bypass, edgeTtl/]]],
  ['an empty access action', withActions({ access: {} }), [[at('.actions.access'), /is empty/]]],
  ['an empty cacheKey action', withActions({ cacheKey: {} }), [[at('.actions.cacheKey'), /is empty/]]],
  // Match.
  ['an empty match', withMatch({}), [[at('.match'), /has no condition; leave "match" out to match every request/]]],
  ['an empty nested match', withMatch({ not: {} }), [[at('.match.not'), /has no condition; give at least one of/]]],
  ['nesting 9 deep', withMatch(nest(9)), [[at(`.match${'.not'.repeat(8)}`), /more than 8 deep/]]],
  ['more than 64 conditions', withMatch({ any: Array.from({ length: 64 }, () => ({ methods: ['GET'] })) }), [[at('.match.any[63]'), /more than 64 conditions/]]],
  ['a match list that is not a list', withMatch({ globs: '/a/*' }), [[at('.match.globs'), /must be a list of globs/]]],
  ['an empty match list', withMatch({ extensions: [] }), [[at('.match.extensions'), /at least one/]]],
  ['a match list of 101', withMatch({ extensions: Array.from({ length: 101 }, () => 'png') }), [[at('.match.extensions'), /at most 100 \(got 101\)/]]],
  ['an empty any', withMatch({ any: [] }), [[at('.match.any'), /at least one/]]],
  // Globs and prefixes.
  ['a glob not starting with /', withMatch({ globs: ['*.png'] }), [[at('.match.globs[0]'), /must start with "\/"/]]],
  ['an empty glob', withMatch({ globs: [''] }), [[at('.match.globs[0]'), /must not be empty/]]],
  ['a glob with ***', withMatch({ globs: ['/a/***.png'] }), [[at('.match.globs[0]'), /"\*\*\*", which means nothing/]]],
  ['a glob of 257 characters', withMatch({ globs: [`/${'a'.repeat(256)}`] }), [[at('.match.globs[0]'), /at most 256 characters \(got 257\)/]]],
  ['a glob with 17 wildcards', withMatch({ globs: [`/${'*x'.repeat(17)}`] }), [[at('.match.globs[0]'), /17 wildcards; at most 16/]]],
  ['a glob with a space', withMatch({ globs: ['/my file.png'] }), [[at('.match.globs[0]'), /percent-encoded; write it as %20/]]],
  ['a glob with a non-ASCII letter', withMatch({ globs: ['/é/*'] }), [[at('.match.globs[0]'), /write it as %C3%A9/]]],
  ['a glob with #', withMatch({ globs: ['/a#b'] }), [[at('.match.globs[0]'), /fragment/]]],
  ['a glob with a control character', withMatch({ globs: ['/a\nb'] }), [[at('.match.globs[0]'), /control characters \(found U\+000A/]]],
  ['a glob that is a number', withMatch({ globs: [7] }), [[at('.match.globs[0]'), /must be a string/]]],
  ['a prefix not starting with /', withMatch({ pathPrefixes: ['img/'] }), [[at('.match.pathPrefixes[0]'), /must start with "\/"/]]],
  ['a prefix with ?', withMatch({ pathPrefixes: ['/a?b=1'] }), [[at('.match.pathPrefixes[0]'), /query string is not part of the path/]]],
  // Extensions, methods, headers, cookies.
  ['an extension with a dot', withMatch({ extensions: ['.png'] }), [[at('.match.extensions[0]'), /without the dot: "png"/]]],
  ['an extension with a dash', withMatch({ extensions: ['p-g'] }), [[at('.match.extensions[0]'), /not an extension/]]],
  ['a lower-case method', withMatch({ methods: ['get'] }), [[at('.match.methods[0]'), /case-sensitive: write "GET"/]]],
  ['a method with a space', withMatch({ methods: ['GE T'] }), [[at('.match.methods[0]'), /not an HTTP method/]]],
  ['a header name with a space', withMatch({ headers: [{ name: 'x y' }] }), [[at('.match.headers[0].name'), /not a header name/]]],
  ['a header name with a colon', withMatch({ headers: [{ name: ':authority' }] }), [[at('.match.headers[0].name'), /not a header name/]]],
  ['a header condition without name', withMatch({ headers: [{ values: ['a'] }] }), [[at('.match.headers[0].name'), /is required/]]],
  ['a header condition with no values', withMatch({ headers: [{ name: 'x', values: [] }] }), [[at('.match.headers[0].values'), /leave "values" out to match any header that is present/]]],
  ['a header value with CR', withMatch({ headers: [{ name: 'x', values: ['a\rb'] }] }), [[at('.match.headers[0].values[0]'), /control characters/]]],
  ['a cookie name with =', withMatch({ cookies: [{ name: 'a=b' }] }), [[at('.match.cookies[0].name'), /not a cookie name/]]],
  ['an unknown field in a cookie condition', withMatch({ cookies: [{ name: 'a', value: 'b' }] }), [[at('.match.cookies[0].value'), /did you mean "values"/]]],
  // Cache.
  ['a negative edge TTL', withActions({ cache: { edgeTtl: { seconds: -1, mode: 'override' } } }), [[at('.actions.cache.edgeTtl.seconds'), /from 0 to 31536000, got -1/]]],
  ['a fractional edge TTL', withActions({ cache: { edgeTtl: { seconds: 1.5, mode: 'override' } } }), [[at('.actions.cache.edgeTtl.seconds'), /whole number/]]],
  ['an edge TTL mode that does not exist', withActions({ cache: { edgeTtl: { seconds: 1, mode: 'max' } } }), [[at('.actions.cache.edgeTtl.mode'), /"override".*or "default".*got "max"/]]],
  ['an edge TTL that is a number', withActions({ cache: { edgeTtl: 60 } }), [[at('.actions.cache.edgeTtl'), /must be an object \{ "seconds", "mode"/]]],
  ['a browser TTL over a year', withActions({ cache: { browserTtl: 31536001 } }), [[at('.actions.cache.browserTtl'), /0 to 31536000/]]],
  ['stale-if-error over a week', withActions({ cache: { staleIfError: 604801 } }), [[at('.actions.cache.staleIfError'), /0 to 604800/]]],
  ['stale-while-revalidate as a string', withActions({ cache: { staleWhileRevalidate: '60' } }), [[at('.actions.cache.staleWhileRevalidate'), /got "60"/]]],
  ['bypass as a string', withActions({ cache: { bypass: 'yes' } }), [[at('.actions.cache.bypass'), /true or false, got "yes"/]]],
  // Cache key.
  ['a query mode that does not exist', withActions({ cacheKey: { query: { mode: 'keep' } } }), [[at('.actions.cacheKey.query.mode'), /one of all, none, allow, deny, got "keep"/]]],
  ['allow without names', withActions({ cacheKey: { query: { mode: 'allow' } } }), [[at('.actions.cacheKey.query.names'), /must name the parameters to allow/]]],
  ['all with names', withActions({ cacheKey: { query: { mode: 'all', names: ['a'] } } }), [[at('.actions.cacheKey.query.names'), /only used with mode allow or deny/]]],
  ['an empty query name', withActions({ cacheKey: { query: { mode: 'deny', names: ['a', ''] } } }), [[at('.actions.cacheKey.query.names[1]'), /must not be empty/]]],
  ['* inside a query name', withActions({ cacheKey: { query: { mode: 'deny', names: ['utm_*x'] } } }), [[at('.actions.cacheKey.query.names[0]'), /"\*" before its end/]]],
  ['* alone as a query name', withActions({ cacheKey: { query: { mode: 'allow', names: ['*'] } } }), [[at('.actions.cacheKey.query.names[0]'), /use mode all instead/]]],
  ['the Cookie header in the key', withActions({ cacheKey: { headers: ['Cookie'] } }), [[at('.actions.cacheKey.headers[0]'), /cacheKey.cookies instead/]]],
  ['21 key headers', withActions({ cacheKey: { headers: Array.from({ length: 21 }, (_, i) => `h${i}`) } }), [[at('.actions.cacheKey.headers'), /at most 20/]]],
  // Header operations.
  ['an op that does not exist', withActions({ responseHeaders: [{ op: 'add', name: 'x', value: 'v' }] }), [[at('.actions.responseHeaders[0].op'), /one of set, append, remove, got "add"/]]],
  ['set without value', withActions({ responseHeaders: [{ op: 'set', name: 'x' }] }), [[at('.actions.responseHeaders[0].value'), /required for op "set"/]]],
  ['append without value', withActions({ originHeaders: [{ op: 'append', name: 'x' }] }), [[at('.actions.originHeaders[0].value'), /required for op "append"/]]],
  ['remove with a value', withActions({ responseHeaders: [{ op: 'remove', name: 'x', value: 'v' }] }), [[at('.actions.responseHeaders[0].value'), /left out for op "remove"/]]],
  ['a value with a line break', withActions({ responseHeaders: [{ op: 'set', name: 'x', value: 'a\r\nset-cookie: b' }] }), [[at('.actions.responseHeaders[0].value'), /control characters/]]],
  ['a value outside ASCII', withActions({ responseHeaders: [{ op: 'set', name: 'x', value: 'café' }] }), [[at('.actions.responseHeaders[0].value'), /visible ASCII and spaces only/]]],
  ['an empty list of operations', withActions({ responseHeaders: [] }), [[at('.actions.responseHeaders'), /at least one/]]],
  ['connection on the response', withActions({ responseHeaders: [{ op: 'set', name: 'connection', value: 'close' }] }), [[at('.actions.responseHeaders[0].name'), /"connection" is hop-by-hop/]]],
  ['Content-Length in any case', withActions({ responseHeaders: [{ op: 'remove', name: 'Content-Length' }] }), [[at('.actions.responseHeaders[0].name'), /"content-length" is framing/]]],
  ['transfer-encoding to the origin', withActions({ originHeaders: [{ op: 'set', name: 'transfer-encoding', value: 'chunked' }] }), [[at('.actions.originHeaders[0].name'), /framing/]]],
  ['a proxy- field', withActions({ originHeaders: [{ op: 'remove', name: 'proxy-authorization' }] }), [[at('.actions.originHeaders[0].name'), /hop-by-hop/]]],
  ['te, trailer, upgrade, keep-alive', withActions({ originHeaders: ['te', 'trailer', 'upgrade', 'keep-alive'].map((name) => ({ op: 'remove', name })) }), [0, 1, 2, 3].map((i) => [at(`.actions.originHeaders[${i}].name`), /hop-by-hop/])],
  ['host to the origin', withActions({ originHeaders: [{ op: 'set', name: 'Host', value: 'other.example' }] }), [[at('.actions.originHeaders[0].name'), /origin's own host name/]]],
  ['cdn-loop to the origin', withActions({ originHeaders: [{ op: 'remove', name: 'cdn-loop' }] }), [[at('.actions.originHeaders[0].name'), /RFC 8586/]]],
  ['x-cache on the response', withActions({ responseHeaders: [{ op: 'set', name: 'X-Cache', value: 'HIT' }] }), [[at('.actions.responseHeaders[0].name'), /the edge's own report/]]],
  ['age on the response', withActions({ responseHeaders: [{ op: 'remove', name: 'age' }] }), [[at('.actions.responseHeaders[0].name'), /RFC 9111 §5.1/]]],
  ['content-encoding on the response', withActions({ responseHeaders: [{ op: 'set', name: 'content-encoding', value: 'gzip' }] }), [[at('.actions.responseHeaders[0].name'), /the edge compresses/]]],
  ['vary set on the response', withActions({ responseHeaders: [{ op: 'set', name: 'vary', value: 'Origin' }] }), [[at('.actions.responseHeaders[0].name'), /use op "append"/]]],
  ['vary removed on the response', withActions({ responseHeaders: [{ op: 'remove', name: 'vary' }] }), [[at('.actions.responseHeaders[0].name'), /use op "append"/]]],
  // Access.
  ['a prefix length of 33', withActions({ access: { allowCidrs: ['10.0.0.0/33'] } }), [[at('.actions.access.allowCidrs[0]'), /0 to 32 for an IPv4 address/]]],
  ['an IPv6 prefix length of 129', withActions({ access: { denyCidrs: ['2001:db8::/129'] } }), [[at('.actions.access.denyCidrs[0]'), /0 to 128/]]],
  ['a block that is no address', withActions({ access: { denyCidrs: ['10.0.0/8'] } }), [[at('.actions.access.denyCidrs[0]'), /is not a block such as/]]],
  ['an IPv4-mapped block', withActions({ access: { allowCidrs: ['::ffff:10.0.0.0/104'] } }), [[at('.actions.access.allowCidrs[0]'), /write the IPv4 block \(such as 10\.0\.0\.0\/8\)/]]],
  ['a block with a zone id', withActions({ access: { allowCidrs: ['fe80::1%eth0'] } }), [[at('.actions.access.allowCidrs[0]'), /is not a block/]]],
  ['a referer that is a URL', withActions({ access: { referers: { allow: ['https://example.com/page'] } } }), [[at('.actions.access.referers.allow[0]'), /not a URL: write "example.com"/]]],
  ['a referer wildcard on a top-level domain', withActions({ access: { referers: { allow: ['*.com'] } } }), [[at('.actions.access.referers.allow[0]'), /at least two labels/]]],
  ['a referer wildcard inside', withActions({ access: { referers: { allow: ['a.*.example.com'] } } }), [[at('.actions.access.referers.allow[0]'), /only as its whole first label/]]],
  ['a referer that is an IP address', withActions({ access: { referers: { allow: ['192.0.2.1'] } } }), [[at('.actions.access.referers.allow[0]'), /IP address/]]],
  ['referers without allow', withActions({ access: { referers: { allowEmpty: false } } }), [[at('.actions.access.referers.allow'), /is required/]]],
  ['a rate of 0 per second and a burst of 0', withActions({ access: { rateLimit: { perSecond: 0, burst: 0 } } }), [[at('.actions.access.rateLimit.perSecond'), /from 1 to 1000000/], [at('.actions.access.rateLimit.burst'), /from 1 to 1000000/]]],
  ['a rate over a million', withActions({ access: { rateLimit: { perSecond: 1_000_001, burst: 5 } } }), [[at('.actions.access.rateLimit.perSecond'), /from 1 to 1000000, got 1000001/]]],
  ['a rate limit without burst', withActions({ access: { rateLimit: { perSecond: 5 } } }), [[at('.actions.access.rateLimit.burst'), /got undefined/]]],
  // Redirect.
  ['a redirect status of 303', withActions({ redirect: { status: 303, location: '/x' } }), [[at('.actions.redirect.status'), /one of 301, 302, 307, 308/]]],
  ['a redirect status as a string', withActions({ redirect: { status: '301', location: '/x' } }), [[at('.actions.redirect.status'), /got "301"/]]],
  ['a redirect to ftp', withActions({ redirect: { status: 301, location: 'ftp://files.example/x' } }), [[at('.actions.redirect.location'), /http or https, not ftp/]]],
  ['a protocol-relative redirect', withActions({ redirect: { status: 301, location: '//evil.example/x' } }), [[at('.actions.redirect.location'), /starting with one "\/"/]]],
  ['a redirect starting with /\\', withActions({ redirect: { status: 301, location: '/\\evil.example' } }), [[at('.actions.redirect.location'), /starting with one "\/"/]]],
  ['an unknown placeholder', withActions({ redirect: { status: 301, location: 'https://{hostname}/x' } }), [[at('.actions.redirect.location'), /unknown placeholder "\{hostname\}"/]]],
  ['an unmatched brace', withActions({ redirect: { status: 301, location: 'https://{host}{path' } }), [[at('.actions.redirect.location'), /unmatched/]]],
  ['a relative location', withActions({ redirect: { status: 301, location: 'new/place' } }), [[at('.actions.redirect.location'), /neither an absolute http\(s\) URL nor a path/]]],
  ['a location with a space', withActions({ redirect: { status: 301, location: '/a b' } }), [[at('.actions.redirect.location'), /visible ASCII without spaces/]]],
  ['a location that starts with a placeholder making a host', withActions({ redirect: { status: 301, location: '{host}/x' } }), [[at('.actions.redirect.location'), /neither/]]],
  ['a redirect without location', withActions({ redirect: { status: 301 } }), [[at('.actions.redirect.location'), /is required/]]],
  // Conflicts.
  [
    'bypass with edge TTL, stale windows and a key',
    withActions({ cache: { bypass: true, edgeTtl: { seconds: 1, mode: 'override' }, staleIfError: 5 }, cacheKey: { cookies: ['a'] } }),
    [[at('.actions.cache.bypass'), /cannot go with cache.edgeTtl, cache.staleIfError, cacheKey: a bypassed request is never looked up nor stored/]],
  ],
  ['bypass with stale-while-revalidate', withActions({ cache: { bypass: true, staleWhileRevalidate: 5 } }), [[at('.actions.cache.bypass'), /cache.staleWhileRevalidate/]]],
  ['redirect with cache', withActions({ redirect: { status: 301, location: '/x' }, cache: { browserTtl: 5 } }), [[at('.actions.redirect'), /cannot go with cache: a redirected request/]]],
  [
    'redirect with headers and a key',
    withActions({ redirect: { status: 301, location: '/x' }, cacheKey: { cookies: ['a'] }, responseHeaders: [{ op: 'remove', name: 'server' }], originHeaders: [{ op: 'remove', name: 'x' }] }),
    [[at('.actions.redirect'), /cannot go with cacheKey, responseHeaders, originHeaders/]],
  ],
  [
    'deny with every other access check',
    withActions({ access: { deny: true, allowCidrs: ['10.0.0.0/8'], denyCidrs: ['10.1.0.0/16'], referers: { allow: ['example.com'] }, signedUrl: true, rateLimit: { perSecond: 1, burst: 1 } } }),
    [[at('.actions.access.deny'), /cannot go with access.allowCidrs, access.denyCidrs, access.referers, access.signedUrl, access.rateLimit/]],
  ],
];

test('every refusal names the rule by index and name, and the field', async (t) => {
  for (const [why, rule, expected] of REFUSED) {
    await t.test(why, () => {
      const problems = checkDeliveryRules([rule]);
      assert.deepEqual(
        problems.map((p) => p.field),
        expected.map(([field]) => field),
        JSON.stringify(problems),
      );
      expected.forEach(([, message], i) => assert.match(problems[i]!.message, message));
    });
  }
});

test('list problems: not a list, too many rules (alone), repeated names, a rule among others named by its own index', () => {
  assert.deepEqual(checkDeliveryRules({ name: 'r' }), [{ field: 'rules', message: 'must be a list of rules: [{ "name", "match"?, "actions" }]' }]);
  const four = Array.from({ length: 4 }, () => ({ name: 'bad name', actions: {} }));
  const tooMany = checkDeliveryRules(four, { max: 3 });
  assert.equal(tooMany.length, 1, 'the rules of a list that is too long are not read');
  assert.match(tooMany[0]!.message, /at most 3 rules \(got 4\); merge rules, or ask the operator to raise CDN_RULES_MAX/);
  assert.equal(checkDeliveryRules(Array.from({ length: 101 }, (_, i) => ({ name: `r${i}`, actions: CACHE })))[0]!.message.includes('at most 100 rules'), true, 'RULES_MAX_DEFAULT');

  const rules = [
    { name: 'a', actions: CACHE },
    { name: 'b', actions: CACHE },
    { name: 'a', actions: CACHE },
    { name: 'images', match: { globs: ['/img/***'] }, actions: CACHE },
  ];
  assert.deepEqual(checkDeliveryRules(rules, { field: 'input.rules' }), [
    { field: 'input.rules[2] (a).name', message: '"a" is already the name of input.rules[0]; rule names must be unique' },
    { field: 'input.rules[3] (images).match.globs[0]', message: '"/img/***" has "***", which means nothing: use "*" within a segment or "**" across segments' },
  ]);
});

test('normalizeRules: only known fields in one order, nothing null, case-insensitive text lower-cased, order of lists kept; idempotent', () => {
  const input = [
    {
      actions: {
        access: { referers: { allow: ['*.Example.COM.', 'Shop.Example'] }, denyCidrs: ['2001:DB8::/32'], deny: undefined },
        responseHeaders: [
          { op: 'append', name: 'Vary', value: 'Origin' },
          { op: 'remove', name: 'Server', value: undefined },
          { op: 'set', name: 'X-A', value: '1' },
        ],
        cacheKey: { headers: ['Accept-Language', 'accept-language'], cookies: ['AB', 'AB'], query: { names: undefined, mode: 'none' } },
        cache: { staleIfError: null, bypass: false },
      },
      match: { headers: [{ values: undefined, name: 'X-Mixed' }], extensions: ['PNG', 'png', 'Jpg'], cookies: [{ name: 'Session' }], methods: ['GET'], not: null },
      name: 'r',
    },
  ] as unknown as DeliveryRule[];
  assert.deepEqual(checkDeliveryRules(input), []);
  const out = normalizeRules(input);
  assert.equal(
    JSON.stringify(out),
    JSON.stringify([
      {
        name: 'r',
        match: { extensions: ['png', 'jpg'], methods: ['GET'], headers: [{ name: 'x-mixed' }], cookies: [{ name: 'Session' }] },
        actions: {
          cache: { bypass: false },
          cacheKey: { query: { mode: 'none' }, headers: ['accept-language'], cookies: ['AB'] },
          responseHeaders: [
            { op: 'append', name: 'vary', value: 'Origin' },
            { op: 'remove', name: 'server' },
            { op: 'set', name: 'x-a', value: '1' },
          ],
          access: { denyCidrs: ['2001:db8::/32'], referers: { allow: ['*.example.com', 'shop.example'] } },
        },
      },
    ]),
  );
  assert.deepEqual(normalizeRules(out), out, 'idempotent');
  assert.ok(!JSON.stringify(out).includes('undefined') && !Object.values(out[0]!.actions.access!).includes(undefined));
  assert.equal(input[0]!.match!.extensions![0], 'PNG', 'the input is not changed');
});

test('readRules: the normalised list, or the problems and no rules; readRulesJson also refuses text that is not JSON', () => {
  const ok = readRules([{ name: 'r', match: { extensions: ['PNG'] }, actions: CACHE }]);
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(ok.rules[0]!.match, { extensions: ['png'] });
  assert.deepEqual(readRules(undefined), { rules: [], problems: [] });
  const bad = readRules([{ name: 'r', actions: {} }], { field: 'input.rules' });
  assert.deepEqual(bad.rules, []);
  assert.equal(bad.problems[0]!.field, 'input.rules[0] (r).actions');
  assert.deepEqual(readRulesJson('[{"name":"r","actions":{"cache":{"bypass":true}}}]').rules, [{ name: 'r', actions: { cache: { bypass: true } } }]);
  const notJson = readRulesJson('[{', { field: 'rules' });
  assert.equal(notJson.problems[0]!.field, 'rules');
  assert.match(notJson.problems[0]!.message, /^is not JSON \(/);
});

test('compressTypes: type/subtype media types, at most 50, stored lower-case without repeats', () => {
  assert.deepEqual(checkCompressTypes(['application/x-ndjson', 'Text/X-Custom+JSON', 'application/vnd.api+json']), []);
  assert.deepEqual(checkCompressTypes(undefined), []);
  const cases: Array<[unknown, string, RegExp]> = [
    ['text/plain', 'compressTypes', /must be a list/],
    [Array.from({ length: 51 }, (_, i) => `text/x-${i}`), 'compressTypes', /at most 50 media types \(got 51\)/],
    [['text/*'], 'compressTypes[0]', /no "\*"/],
    [['text/html; charset=utf-8'], 'compressTypes[0]', /no parameters/],
    [['json'], 'compressTypes[0]', /type\/subtype/],
    [[7], 'compressTypes[0]', /must be a string/],
    [['text/plain\n'], 'compressTypes[0]', /control characters/],
  ];
  for (const [value, field, message] of cases) {
    const problems = checkCompressTypes(value);
    assert.equal(problems.length, 1, JSON.stringify(value));
    assert.equal(problems[0]!.field, field);
    assert.match(problems[0]!.message, message);
  }
  assert.deepEqual(normalizeCompressTypes(['Text/X-A', 'text/x-a', 'text/x-b']), ['text/x-a', 'text/x-b']);
});
