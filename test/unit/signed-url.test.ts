/**
 * Contract of signed URLs (core/signed-url.ts): the signature recipe the docs give, and what
 * the edge accepts and refuses (expiry with clock-skew leeway, tampering, prefixes, address
 * binding, key rotation, malformed and missing parameters).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import {
  generateKeyId,
  hasDotDotSegment,
  SIGNED_URL_PARAMS,
  signPath,
  stringToSign,
  verifySignedUrl,
  type SignedUrlFailure,
  type SignPathOptions,
  type VerifySignedUrlInput,
} from '../../src/core/signed-url';

const OLD = { id: '0a1b2c3d', secret: 'old-secret-0123456789abcdefghijkl' };
const NEW = { id: 'f0e1d2c3', secret: 'new-secret-ñ-UTF-8-0123456789abcd' };
const NOW_MS = 1_800_000_000_000;
const NOW = NOW_MS / 1000;

/** The recipe of the docs, written out again here (base64url without padding of the HMAC). */
function recipe(secret: string, scope: string, exp: number, ip: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${scope}\n${exp}\n${ip}`).digest('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function split(signed: string): { path: string; query: string } {
  const q = signed.indexOf('?');
  return { path: signed.slice(0, q), query: signed.slice(q + 1) };
}

function sign(options: Partial<SignPathOptions> & { path: string }): { path: string; query: string } {
  return split(signPath({ keyId: NEW.id, secret: NEW.secret, expiresAt: NOW + 600, ...options }));
}

function outcome(url: { path: string; query: string }, extra: Partial<VerifySignedUrlInput> = {}): SignedUrlFailure | 'ok' {
  const verdict = verifySignedUrl({ ...url, clientAddress: '203.0.113.9', nowMs: NOW_MS, leewaySeconds: 30, keys: [OLD, NEW], ...extra });
  return verdict.ok ? 'ok' : verdict.reason;
}

test('the signature is the documented recipe: base64url (no padding) of HMAC-SHA256 over "scope\\nexp\\nip" with the UTF-8 secret', () => {
  const exp = NOW + 600;
  assert.equal(
    signPath({ path: '/files/r%C3%A9sum%C3%A9.pdf', query: 'v=2', keyId: NEW.id, secret: NEW.secret, expiresAt: exp }),
    `/files/r%C3%A9sum%C3%A9.pdf?v=2&ep_exp=${exp}&ep_kid=${NEW.id}&ep_sig=${recipe(NEW.secret, '/files/r%C3%A9sum%C3%A9.pdf', exp, '')}`,
  );
  assert.equal(
    signPath({ path: '/v/a.mp4', keyId: NEW.id, secret: NEW.secret, expiresAt: new Date(exp * 1000), pathPrefix: '/v/', clientIp: '::FFFF:203.0.113.9' }),
    `/v/a.mp4?ep_exp=${exp}&ep_kid=${NEW.id}&ep_prefix=%2Fv%2F&ep_ip=1&ep_sig=${recipe(NEW.secret, '/v/', exp, '203.0.113.9')}`,
  );
  assert.equal(stringToSign('/p/', '1', '::1'), '/p/\n1\n::1');
  assert.deepEqual([...SIGNED_URL_PARAMS], ['ep_exp', 'ep_kid', 'ep_sig', 'ep_prefix', 'ep_ip']);
});

test('signPath keeps the query, replaces signature parameters already in it, and refuses what could never verify', () => {
  const resigned = signPath({ path: '/a', query: 'x=1&ep_sig=old&ep_exp=1&%65p_kid=k&y=2', keyId: NEW.id, secret: NEW.secret, expiresAt: NOW + 1 });
  assert.match(resigned, new RegExp(`^/a\\?x=1&y=2&ep_exp=${NOW + 1}&ep_kid=${NEW.id}&ep_sig=[A-Za-z0-9_-]{43}$`));
  assert.equal(outcome(split(resigned)), 'ok');
  const refused: Array<[Partial<SignPathOptions>, RegExp]> = [
    [{ path: 'a' }, /must start with "\/"/],
    [{ path: '/a b' }, /percent-encoded/],
    [{ path: '/a?x=1' }, /query string/],
    [{ keyId: 'bad id' }, /keyId/],
    [{ secret: '' }, /secret/],
    [{ expiresAt: NOW_MS }, /looks like milliseconds/],
    [{ expiresAt: 1.5 }, /whole unix seconds/],
    [{ pathPrefix: '/b/' }, /does not start with pathPrefix/],
    [{ pathPrefix: 'a' }, /pathPrefix must start with/],
    [{ path: '/v/../x', pathPrefix: '/v/' }, /"\.\." segment/],
    [{ clientIp: 'not-an-ip' }, /clientIp must be an IP address/],
  ];
  for (const [options, message] of refused) {
    assert.throws(() => signPath({ path: '/a', keyId: NEW.id, secret: NEW.secret, expiresAt: NOW + 1, ...options }), message, JSON.stringify(options));
  }
});

test('verification: valid, expired within and beyond the leeway, tampered, prefixes, address binding, rotation', () => {
  const plain = sign({ path: '/files/a.zip', query: 'v=3' });
  const prefix = sign({ path: '/videos/ep1.mp4', pathPrefix: '/videos/' });
  const bound = sign({ path: '/a', clientIp: '203.0.113.9' });
  const bound6 = sign({ path: '/a', clientIp: '2001:DB8::1' });
  const byOld = split(signPath({ path: '/a', keyId: OLD.id, secret: OLD.secret, expiresAt: NOW + 600 }));
  const cases: Array<[string, { path: string; query: string }, Partial<VerifySignedUrlInput>, SignedUrlFailure | 'ok']> = [
    ['valid', plain, {}, 'ok'],
    ['valid with the parameters in another order', { path: plain.path, query: plain.query.split('&').reverse().join('&') }, {}, 'ok'],
    ['valid with other parameters added (they are not signed)', { path: plain.path, query: `${plain.query}&utm_source=x` }, {}, 'ok'],
    ['at its expiry', plain, { nowMs: (NOW + 600) * 1000 }, 'ok'],
    ['expired within the leeway', plain, { nowMs: (NOW + 630) * 1000 + 999 }, 'ok'],
    ['expired beyond the leeway', plain, { nowMs: (NOW + 631) * 1000 }, 'expired'],
    ['expired with no leeway', plain, { nowMs: (NOW + 601) * 1000, leewaySeconds: 0 }, 'expired'],
    ['another path', { ...plain, path: '/files/b.zip' }, {}, 'bad-signature'],
    ['the path in another spelling', { ...plain, path: '/files/%61.zip' }, {}, 'bad-signature'],
    ['a later expiry', { ...plain, query: plain.query.replace(`ep_exp=${NOW + 600}`, `ep_exp=${NOW + 6000}`) }, {}, 'bad-signature'],
    ['a changed signature', { ...plain, query: plain.query.replace(/ep_sig=(.)/, (_, c: string) => `ep_sig=${c === 'A' ? 'B' : 'A'}`) }, {}, 'bad-signature'],
    ['under its prefix', { ...prefix, path: '/videos/ep2/part1.mp4' }, {}, 'ok'],
    ['outside its prefix', { ...prefix, path: '/private/ep1.mp4' }, {}, 'wrong-prefix'],
    ['a prefix widened to /', { ...prefix, query: prefix.query.replace('ep_prefix=%2Fvideos%2F', 'ep_prefix=%2F') }, {}, 'bad-signature'],
    ['a prefix removed', { ...prefix, query: prefix.query.replace(/&ep_prefix=[^&]*/, '') }, {}, 'bad-signature'],
    ['".." out of the prefix', { ...prefix, path: '/videos/../private/x' }, {}, 'wrong-prefix'],
    ['"%2e%2e" out of the prefix', { ...prefix, path: '/videos/%2e%2E/private/x' }, {}, 'wrong-prefix'],
    ['"..%2f" out of the prefix', { ...prefix, path: '/videos/..%2Fprivate/x' }, {}, 'wrong-prefix'],
    ['"..\\" out of the prefix', { ...prefix, path: '/videos/..\\private/x' }, {}, 'wrong-prefix'],
    ['bound, same address', bound, {}, 'ok'],
    ['bound, same address IPv4-mapped', bound, { clientAddress: '::ffff:203.0.113.9' }, 'ok'],
    ['bound, another address', bound, { clientAddress: '203.0.113.10' }, 'bad-signature'],
    ['bound, no address', bound, { clientAddress: '' }, 'bad-signature'],
    ['bound, binding removed', { ...bound, query: bound.query.replace('&ep_ip=1', '') }, {}, 'bad-signature'],
    ['bound IPv6 in another spelling', bound6, { clientAddress: '2001:db8:0:0::1' }, 'ok'],
    ['signed by the older of two keys', byOld, {}, 'ok'],
    ['the older key deleted', byOld, { keys: [NEW] }, 'unknown-key'],
    ['a key id nobody has', { ...plain, query: plain.query.replace(NEW.id, 'deadbeef') }, {}, 'unknown-key'],
    ['the key id of the other key', { ...plain, query: plain.query.replace(NEW.id, OLD.id) }, {}, 'bad-signature'],
    ['no keys at all', plain, { keys: [] }, 'unknown-key'],
  ];
  for (const [why, url, extra, expected] of cases) assert.equal(outcome(url, extra), expected, why);
});

test('missing and malformed parameters', () => {
  const { path, query } = sign({ path: '/a' });
  const without = (name: string) => query.split('&').filter((p) => !p.startsWith(`${name}=`)).join('&');
  const cases: Array<[string, string, SignedUrlFailure | 'ok', RegExp]> = [
    ['no query', '', 'missing', /must be signed/],
    ['other parameters only', 'a=1', 'missing', /must be signed/],
    ['no signature', without('ep_sig'), 'missing', /must be signed/],
    ['no expiry', without('ep_exp'), 'malformed', /ep_exp/],
    ['no key id', without('ep_kid'), 'malformed', /ep_kid/],
    ['an expiry that is not a number', query.replace(/ep_exp=\d+/, 'ep_exp=soon'), 'malformed', /ep_exp/],
    ['a negative expiry', query.replace(/ep_exp=\d+/, 'ep_exp=-1'), 'malformed', /ep_exp/],
    ['a short signature', query.replace(/ep_sig=[^&]+/, 'ep_sig=abc'), 'malformed', /43 base64url/],
    ['a padded signature', query.replace(/ep_sig=([^&]+)/, 'ep_sig=$1='), 'malformed', /43 base64url/],
    ['ep_ip that is not 1', `${query}&ep_ip=203.0.113.9`, 'malformed', /ep_ip/],
    ['a prefix that is not a path', `${query}&ep_prefix=videos`, 'malformed', /ep_prefix/],
    ['a prefix that is bad percent-encoding', `${query}&ep_prefix=%zz`, 'malformed', /ep_prefix/],
    ['a signature twice', `${query}&ep_sig=${'A'.repeat(43)}`, 'malformed', /ep_sig twice/],
    ['a signature twice, once percent-encoded', `${query}&%65p_sig=${'A'.repeat(43)}`, 'malformed', /ep_sig twice/],
  ];
  for (const [why, q, expected, message] of cases) {
    const verdict = verifySignedUrl({ path, query: q, clientAddress: '1.2.3.4', nowMs: NOW_MS, leewaySeconds: 0, keys: [NEW] });
    assert.equal(verdict.ok ? 'ok' : verdict.reason, expected, why);
    if (!verdict.ok) {
      assert.match(verdict.message, message, why);
      assert.ok(!verdict.message.includes(NEW.secret) && !verdict.message.includes(NEW.id), `${why}: the message tells nothing about the keys`);
    }
  }
  assert.deepEqual(verifySignedUrl({ path, query, clientAddress: '', nowMs: NOW_MS, leewaySeconds: 0, keys: [NEW] }), { ok: true, keyId: NEW.id });
});

test('dot-dot segments in every spelling, and key ids', () => {
  const cases: Array<[string, boolean]> = [
    ['/a/../b', true],
    ['/..', true],
    ['/a/%2e%2e/b', true],
    ['/a/.%2E/b', true],
    ['/a/..%2fb', true],
    ['/a/..%5Cb', true],
    ['/a/..\\b', true],
    ['/a/..b', false],
    ['/a/.../b', false],
    ['/a/./b', false],
    ['/a..b/c', false],
  ];
  for (const [path, expected] of cases) assert.equal(hasDotDotSegment(path), expected, path);
  const ids = new Set(Array.from({ length: 50 }, generateKeyId));
  assert.equal(ids.size, 50);
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}$/);
});
