/**
 * Cache poisoning and leaks, each written as the attack: an attacker's request shapes what
 * the origin answers, the edge stores it, and a clean request for the same URL must still
 * get the origin's clean answer. The origins are real servers on loopback that answer from
 * what they receive, as careless real ones do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { rfcEdge } from './edge.rfc.harness';

/** Framework fields that rewrite the URL, method, scheme or host at origins that honour them. */
const OVERRIDES: Record<string, string> = {
  'X-Forwarded-Scheme': 'nothttps',
  'X-Forwarded-Proto': 'nothttps',
  'X-Forwarded-Port': '1337',
  'X-Forwarded-Host': 'evil.example',
  'X-Forwarded-Server': 'evil.example',
  'X-Forwarded-For': '6.6.6.6',
  'X-Real-IP': '6.6.6.6',
  'X-Host': 'evil.example',
  Forwarded: 'for=6.6.6.6;host=evil.example;proto=nothttps',
  'X-Original-URL': '/admin',
  'X-Rewrite-URL': '/admin',
  'X-HTTP-Method-Override': 'DELETE',
  'X-HTTP-Method': 'DELETE',
  'X-Method-Override': 'DELETE',
};

/** What the attacker's values would look like anywhere in the origin's answer. */
const POISON = /nothttps|1337|evil\.example|6\.6\.6\.6|\/admin|DELETE/;

/** An origin that builds its page from whatever forwarding and override fields it receives. */
function reflectingPage(headers: IncomingHttpHeaders): string {
  const seen = Object.keys(OVERRIDES).map((name) => `${name}=${String(headers[name.toLowerCase()] ?? '')}`);
  return `<a href="${String(headers['x-forwarded-proto'])}://${String(headers['x-forwarded-host'])}/next">next</a> ${seen.join(' ')}`;
}

test('forwarding and override fields sent by a client never reach the origin; a clean request gets the clean page', async () => {
  const env = await rfcEdge((req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'text/html' }).end(reflectingPage(req.headers));
  });
  try {
    const attack = await env.get('/page', { headers: OVERRIDES });
    assert.equal(attack.status, 200);
    const got = env.origin.requests[0]!.headers;
    for (const name of Object.keys(OVERRIDES)) {
      assert.doesNotMatch(String(got[name.toLowerCase()] ?? ''), POISON, `${name} must not carry the client's value to the origin`);
    }
    // The edge's own forwarding fields, from what it knows (RFC 7239).
    assert.equal(got['x-forwarded-host'], 'cdn.a.test');
    assert.equal(got['x-forwarded-proto'], 'http');
    assert.equal(got['x-forwarded-for'], '127.0.0.1');
    assert.equal(got.forwarded, 'for=127.0.0.1;host=cdn.a.test;proto=http');
    for (const name of ['x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override', 'x-forwarded-scheme', 'x-forwarded-port', 'x-forwarded-server', 'x-real-ip', 'x-host']) {
      assert.equal(got[name], undefined, `${name} is not on the allow-list`);
    }

    const clean = await env.get('/page');
    assert.equal(clean.headers['x-cache'], 'HIT');
    assert.doesNotMatch(clean.body, POISON);
    assert.match(clean.body, /href="http:\/\/cdn\.a\.test\/next"/);
    assert.equal(env.hits('/page'), 1);
  } finally {
    await env.cleanup();
  }
});

test('a port or odd spelling in Host never reaches the origin: it gets the customer domain, and clean requests get clean links', async () => {
  const env = await rfcEdge((req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600' }).end(`<link rel="canonical" href="http://${String(req.headers['x-forwarded-host'])}${req.url}">`);
  });
  try {
    const attack = await env.get('/doc', { host: 'CDN.A.Test.:1337' });
    assert.equal(attack.status, 200);
    assert.equal(env.origin.requests[0]!.headers['x-forwarded-host'], 'cdn.a.test');
    assert.doesNotMatch(attack.body, /1337/);

    const clean = await env.get('/doc');
    assert.equal(clean.headers['x-cache'], 'HIT');
    assert.equal(clean.body, '<link rel="canonical" href="http://cdn.a.test/doc">');
  } finally {
    await env.cleanup();
  }
});

test('an origin that reflects Origin into Access-Control-Allow-Origin without Vary: each site gets its own answer', async () => {
  const env = await rfcEdge((req, res) => {
    const origin = req.headers.origin;
    const headers: Record<string, string> = { 'cache-control': 'max-age=600', 'content-type': 'application/json' };
    if (typeof origin === 'string') {
      headers['access-control-allow-origin'] = origin;
      headers['access-control-allow-credentials'] = 'true';
    }
    res.writeHead(200, headers).end('{"fonts":1}');
  });
  try {
    const attack = await env.get('/api.json', { headers: { Origin: 'https://evil.example' } });
    assert.equal(attack.headers['access-control-allow-origin'], 'https://evil.example');
    assert.match(String(attack.headers.vary), /\bOrigin\b/i, 'clients are told the answer varies on Origin');

    const clean = await env.get('/api.json');
    assert.equal(clean.headers['access-control-allow-origin'], undefined, 'a client without Origin never gets the attacker\'s CORS grant');
    const good = await env.get('/api.json', { headers: { Origin: 'https://shop.example' } });
    assert.equal(good.headers['access-control-allow-origin'], 'https://shop.example');
    const evilAgain = await env.get('/api.json', { headers: { Origin: 'https://evil.example' } });
    assert.equal(evilAgain.headers['x-cache'], 'HIT', 'each Origin value is its own cache entry');
    assert.equal(evilAgain.headers['access-control-allow-origin'], 'https://evil.example');
    assert.equal(env.hits('/api.json'), 3);

    // A grant to every site is the same for all: one entry, no split.
    const star = await rfcEdge((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600', 'access-control-allow-origin': '*' }).end('open');
    });
    try {
      await star.get('/open', { headers: { Origin: 'https://a.example' } });
      const other = await star.get('/open', { headers: { Origin: 'https://b.example' } });
      assert.equal(other.headers['x-cache'], 'HIT');
      assert.equal(star.hits('/open'), 1);
    } finally {
      await star.cleanup();
    }
  } finally {
    await env.cleanup();
  }
});

test('a 304 carrying Set-Cookie refreshes the stored object without the cookie, which no later client gets', async () => {
  const env = await rfcEdge((req, res) => {
    if (req.headers['if-none-match'] === '"v1"') {
      return void res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=60', 'set-cookie': 'session=victim-session; Path=/' }).end();
    }
    res.writeHead(200, { etag: '"v1"', 'cache-control': 'max-age=60' }).end('shared body');
  });
  try {
    assert.equal((await env.get('/r')).headers['x-cache'], 'MISS');
    env.clock.advance(61_000);
    const refreshed = await env.get('/r', { headers: { Cookie: 'session=victim-session' } });
    assert.equal(refreshed.headers['x-cache'], 'REVALIDATED');
    assert.equal(env.origin.requests.at(-1)!.headers['if-none-match'], '"v1"');
    const later = await env.get('/r');
    assert.equal(later.headers['x-cache'], 'HIT');
    assert.equal(later.body, 'shared body');
    assert.equal(later.headers['set-cookie'], undefined, 'the 304\'s Set-Cookie is never merged into the shared object');
    assert.equal(refreshed.headers['set-cookie'], undefined);
  } finally {
    await env.cleanup();
  }
});

test('web cache deception: a personal page with no freshness is never stored, whatever its path looks like', async () => {
  const env = await rfcEdge(
    (req, res) => {
      const who = /session=(\w+)/.exec(String(req.headers.cookie ?? ''))?.[1] ?? (req.headers.authorization ? 'token-holder' : undefined);
      // A framework that routes /account/anything to the account page, with no Cache-Control.
      if (req.url!.startsWith('/account') || req.url!.startsWith('/static/..%2faccount')) {
        return void res.writeHead(200, { 'content-type': 'text/html' }).end(who ? `account of ${who}: card 4111` : 'please sign in');
      }
      res.writeHead(200, { 'content-type': 'text/css' }).end(who ? `css for ${who}` : 'css');
    },
    { cacheTtl: 3600 },
  );
  try {
    for (const path of ['/account/x.css', '/account;x.css', '/account/..%2fx.css', '/static/..%2faccount/x.css']) {
      const victim = await env.get(path, { headers: { Cookie: 'session=alice' } });
      assert.equal(victim.body, 'account of alice: card 4111', path);
      const attacker = await env.get(path);
      assert.equal(attacker.body, 'please sign in', `${path}: a cookie-less client must not get the victim's page`);
      assert.notEqual(attacker.headers['x-cache'], 'HIT', path);
    }
    const bearer = await env.get('/account/y.js', { headers: { Authorization: 'Bearer t0k3n' } });
    assert.equal(bearer.body, 'account of token-holder: card 4111');
    assert.equal((await env.get('/account/y.js')).body, 'please sign in');

    // Nothing personal: the customer's cacheTtl still makes a plain answer cacheable.
    await env.get('/site.css');
    assert.equal((await env.get('/site.css')).headers['x-cache'], 'HIT');
  } finally {
    await env.cleanup();
  }
});

test('an answer to a personal request is shared when the origin says so explicitly', async () => {
  const env = await rfcEdge((_req, res) => {
    res.writeHead(200, { 'cache-control': 'public, max-age=300' }).end('same for everyone');
  });
  try {
    await env.get('/logo.png', { headers: { Cookie: 'session=alice' } });
    const next = await env.get('/logo.png');
    assert.equal(next.headers['x-cache'], 'HIT');
    assert.equal(env.hits('/logo.png'), 1);
  } finally {
    await env.cleanup();
  }
});

test('Expires that is not an HTTP-date means already expired; a valid one is honoured (RFC 9111 §5.3)', async () => {
  const env = await rfcEdge(
    (req, res, _body, clock) => {
      const expires: Record<string, string> = {
        '/iso': new Date(clock.now() + 86_400_000).toISOString(),
        '/zero': '0',
        '/words': 'next year',
        '/loose': new Date(clock.now() + 86_400_000).toString(),
        '/good': new Date(clock.now() + 86_400_000).toUTCString(),
      };
      res.writeHead(200, { expires: expires[req.url!] ?? '' }).end(req.url);
    },
    { cacheTtl: 3600 },
  );
  try {
    for (const path of ['/iso', '/zero', '/words', '/loose']) {
      await env.get(path);
      const again = await env.get(path);
      assert.notEqual(again.headers['x-cache'], 'HIT', `${path}: an invalid Expires is not a day of freshness, nor the customer's cacheTtl`);
      assert.equal(env.hits(path), 2, path);
    }
    await env.get('/good');
    assert.equal((await env.get('/good')).headers['x-cache'], 'HIT');
  } finally {
    await env.cleanup();
  }
});

test('Age that is not a non-negative integer is ignored; a list counts by its first member (RFC 9111 §5.1)', async () => {
  const env = await rfcEdge((req, res) => {
    const age: Record<string, string | string[]> = { '/junk': '55abc', '/float': '55.5', '/negative': '-5', '/list': ['50', '5'] };
    res.setHeader('age', age[req.url!]!);
    res.writeHead(200, { 'cache-control': 'max-age=60' }).end('x');
  });
  try {
    for (const path of ['/junk', '/float', '/negative']) {
      const first = await env.get(path);
      assert.equal(first.headers.age, undefined, `${path}: the bad Age is not passed on as if it were the object's age`);
    }
    await env.get('/list');
    env.clock.advance(20_000);
    for (const path of ['/junk', '/float', '/negative']) {
      assert.equal((await env.get(path)).headers['x-cache'], 'HIT', `${path}: an ignored Age leaves 60 s of freshness`);
    }
    assert.notEqual((await env.get('/list')).headers['x-cache'], 'HIT', 'Age 50 (the first member) left 10 s');
  } finally {
    await env.cleanup();
  }
});
