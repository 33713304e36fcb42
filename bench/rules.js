// The delivery-rules rows of `npm run bench` (`--only rules`; bench/run.js starts the servers
// and calls these): cache hits of a customer with 50 rules against the same hits of a customer
// with none, on the same edge, interleaved run by run. Issue 14's target: the customer with
// 50 rules keeps at least 0.9x the hit throughput of the customer without. The rules are what
// a real site carries (tracking parameters out of the key, security headers, TTLs by type,
// private paths, redirects, address rules, a signed download area), and two sets of them:
// one matching on the path only (the hit lane judges those once per URL), and one where three
// rules also look at request headers or cookies (decided per request).
'use strict';

const RULES_HOST = 'rules.bench.local';
const RULES_HEADERS_HOST = 'rules-h.bench.local';

/** 50 rules a site might have; `headerRules`: three of them also read request headers or cookies. */
function siteRules(headerRules) {
  const rules = [
    { name: 'tracking', actions: { cacheKey: { query: { mode: 'deny', names: ['utm_*', 'fbclid', 'gclid', 'mc_*'] } } } },
    {
      name: 'security-headers',
      actions: {
        responseHeaders: [
          { op: 'set', name: 'x-content-type-options', value: 'nosniff' },
          { op: 'set', name: 'referrer-policy', value: 'strict-origin-when-cross-origin' },
          { op: 'set', name: 'x-frame-options', value: 'SAMEORIGIN' },
        ],
      },
    },
    { name: 'objects', match: { pathPrefixes: ['/obj/'] }, actions: { cache: { browserTtl: 60 } } },
  ];
  for (const [i, ext] of ['css', 'js', 'woff2', 'png', 'jpg', 'svg', 'webp', 'mp4'].entries()) {
    rules.push({ name: `static-${ext}`, match: { extensions: [ext] }, actions: { cache: { edgeTtl: { seconds: 86400 * (i + 1), mode: 'override' }, browserTtl: 3600 } } });
  }
  for (let i = 0; i < 12; i += 1) {
    rules.push({ name: `section-${i}`, match: { pathPrefixes: [`/section-${i}/`] }, actions: { cache: { edgeTtl: { seconds: 60 * (i + 1), mode: 'default' }, staleWhileRevalidate: 30 } } });
  }
  for (let i = 0; i < 8; i += 1) {
    rules.push({ name: `assets-${i}`, match: { globs: [`/assets-${i}/**/v*/*.bundle.*`] }, actions: { cache: { edgeTtl: { seconds: 31536000, mode: 'override' } } } });
  }
  for (let i = 0; i < 5; i += 1) {
    rules.push({ name: `moved-${i}`, match: { pathPrefixes: [`/old-${i}/`] }, actions: { redirect: { status: 301, location: `https://{host}/new-${i}{path}{search}` } } });
  }
  for (let i = 0; i < 4; i += 1) {
    rules.push({ name: `admin-${i}`, match: { pathPrefixes: [`/admin-${i}/`] }, actions: { access: { allowCidrs: ['10.0.0.0/8', '192.168.0.0/16'] } } });
  }
  rules.push({ name: 'private', match: { any: [{ pathPrefixes: ['/account/'] }, { pathPrefixes: ['/cart/'] }, { pathPrefixes: ['/checkout/'] }] }, actions: { cache: { bypass: true } } });
  rules.push({ name: 'downloads', match: { pathPrefixes: ['/paid/'] }, actions: { access: { signedUrl: true } } });
  rules.push({ name: 'api-cors', match: { globs: ['/api/**'] }, actions: { responseHeaders: [{ op: 'set', name: 'access-control-allow-origin', value: '*' }] } });
  rules.push({ name: 'images-hotlink', match: { all: [{ pathPrefixes: ['/img/'] }, { not: { extensions: ['ico'] } }] }, actions: { access: { referers: { allow: ['*.bench.local'] } } } });
  rules.push({ name: 'feeds', match: { extensions: ['xml', 'rss'] }, actions: { cache: { edgeTtl: { seconds: 300, mode: 'override' } } } });
  rules.push({ name: 'lang', match: { pathPrefixes: ['/i18n/'] }, actions: { cacheKey: { headers: ['accept-language'] } } });
  if (headerRules) {
    rules.push({ name: 'cors-preflight-origin', match: { headers: [{ name: 'origin' }] }, actions: { responseHeaders: [{ op: 'append', name: 'vary', value: 'Origin' }] } });
    rules.push({ name: 'preview', match: { cookies: [{ name: 'preview', values: ['1'] }] }, actions: { cache: { bypass: true } } });
    rules.push({ name: 'debug', match: { headers: [{ name: 'x-debug', values: ['1'] }] }, actions: { responseHeaders: [{ op: 'set', name: 'x-debug-edge', value: '1' }] } });
  }
  while (rules.length < 50) {
    const i = rules.length;
    rules.push({ name: `campaign-${i}`, match: { pathPrefixes: [`/landing-${i}/`] }, actions: { cacheKey: { query: { mode: 'allow', names: ['variant'] } } } });
  }
  return rules;
}

/** The customers the rules rows add to the bench edge's customers file (beside `bench`, which has none). */
function rulesCustomers(originUrl) {
  return [
    { id: 'bench-rules', name: 'Bench, 50 path rules', originUrl, domains: [RULES_HOST], cacheTtl: 3600, rules: siteRules(false) },
    { id: 'bench-rules-h', name: 'Bench, 50 rules (3 read headers)', originUrl, domains: [RULES_HEADERS_HOST], cacheTtl: 3600, rules: siteRules(true) },
  ];
}

module.exports = { RULES_HOST, RULES_HEADERS_HOST, siteRules, rulesCustomers };
