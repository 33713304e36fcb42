/**
 * Signed URLs (the `access.signedUrl` rule): a link that carries its expiry and an HMAC by one
 * of the customer's signing keys, so a site can hand out links to paid or private objects that
 * stop working at a given time, without the edge asking anyone.
 *
 * Query parameters: `ep_exp` (unix seconds), `ep_kid` (key id), `ep_sig`, and optionally
 * `ep_prefix` (the link covers every path starting with it) and `ep_ip=1` (the link works only
 * for the client address it was made for). They are never part of the cache key nor sent to
 * the origin (applyQueryPolicy), so every signed link to one object is one cache entry.
 *
 * The signature, in a few lines of any language:
 *
 *   string to sign = scope + "\n" + ep_exp + "\n" + ip
 *     scope: the path as it appears in the URL (percent-encoded, no query), or ep_prefix
 *     ip:    the client address when ep_ip=1 (IPv4 dotted; IPv6 lower-case with "::"), else ""
 *   ep_sig = base64url, without "=" padding, of HMAC-SHA256(key = secret as UTF-8, string to sign)
 *
 * The edge compares signatures in constant time, accepts a link up to `leewaySeconds` past
 * its expiry (the signer's clock and the edge's differ a little), and with a prefix refuses a
 * path holding a ".." segment in any spelling (the origin would resolve it out of the prefix).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { normalizeClientAddress } from './client-address.rules';

export const SIGNED_URL_PARAMS = ['ep_exp', 'ep_kid', 'ep_sig', 'ep_prefix', 'ep_ip'] as const;
export type SignedUrlParam = (typeof SIGNED_URL_PARAMS)[number];

/** How long past its expiry an edge still accepts a link, unless configured otherwise. */
export const SIGNED_URL_LEEWAY_SECONDS_DEFAULT = 60;

const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
// HMAC-SHA256: 32 bytes, 43 base64url characters without padding.
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;
const EXPIRY = /^[0-9]{1,12}$/;
const RAW_PATH = /^\/[\x21-\x7e]*$/;
const PREFIX_MAX = 2048;
// Expiries beyond this are milliseconds passed for seconds (the year 5138 in seconds).
const EXPIRY_MAX_SECONDS = 1e11;

export function isSignedUrlParam(name: string): boolean {
  return (SIGNED_URL_PARAMS as readonly string[]).includes(name);
}

/** A new key id: 8 lower-case hex characters (SigningKeyConfig.id). */
export function generateKeyId(): string {
  return randomBytes(4).toString('hex');
}

/** The string the HMAC covers (see the file comment). */
export function stringToSign(scope: string, expiresAt: string, ip: string): string {
  return `${scope}\n${expiresAt}\n${ip}`;
}

function hmac(secret: string, message: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(message, 'utf8').digest('base64url');
}

export interface SignPathOptions {
  /** The raw path, as in the URL (percent-encoded), starting with "/". */
  path: string;
  /** The query without "?", kept (any ep_ parameters in it are replaced). */
  query?: string;
  keyId: string;
  secret: string;
  /** Unix seconds, or a Date. */
  expiresAt: number | Date;
  /** Sign this prefix of the path instead of the path: the link then covers every path under it. */
  pathPrefix?: string;
  /** Bind the link to this client address. */
  clientIp?: string;
}

/**
 * `path?query` with the signature parameters appended. Throws a RangeError for input that
 * could never verify (a path not starting with "/", a prefix the path does not start with,
 * an address that is not one); callers validate user input first.
 */
export function signPath(options: SignPathOptions): string {
  const { path, keyId, secret, pathPrefix, clientIp } = options;
  if (!RAW_PATH.test(path)) throw new RangeError(`path must start with "/" and be percent-encoded visible ASCII without "?" (got ${JSON.stringify(path)})`);
  if (path.includes('?') || path.includes('#')) throw new RangeError('path must not hold the query string or a fragment; pass the query separately');
  if (!KEY_ID.test(keyId)) throw new RangeError(`keyId must be 1 to 64 letters, digits, "-" or "_" (got ${JSON.stringify(keyId)})`);
  if (secret.length === 0) throw new RangeError('secret must not be empty');
  const seconds = options.expiresAt instanceof Date ? Math.floor(options.expiresAt.getTime() / 1000) : options.expiresAt;
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError(`expiresAt must be whole unix seconds or a Date (got ${options.expiresAt})`);
  if (seconds > EXPIRY_MAX_SECONDS) throw new RangeError(`expiresAt ${seconds} looks like milliseconds; pass unix seconds or a Date`);
  if (pathPrefix !== undefined) {
    if (!RAW_PATH.test(pathPrefix) || pathPrefix.length > PREFIX_MAX) throw new RangeError(`pathPrefix must start with "/" (got ${JSON.stringify(pathPrefix)})`);
    if (!path.startsWith(pathPrefix)) throw new RangeError(`path ${JSON.stringify(path)} does not start with pathPrefix ${JSON.stringify(pathPrefix)}`);
    if (hasDotDotSegment(path)) throw new RangeError(`path ${JSON.stringify(path)} has a ".." segment; an edge refuses it under a prefix`);
  }
  let ip = '';
  if (clientIp !== undefined) {
    ip = normalizeClientAddress(clientIp);
    if (isIP(ip) === 0) throw new RangeError(`clientIp must be an IP address (got ${JSON.stringify(clientIp)})`);
  }
  const exp = String(seconds);
  const signature = hmac(secret, stringToSign(pathPrefix ?? path, exp, ip));
  const kept = (options.query ?? '').split('&').filter((p) => p !== '' && !isSignedUrlParam(queryParamName(p)));
  const params = [
    ...kept,
    `ep_exp=${exp}`,
    `ep_kid=${keyId}`,
    ...(pathPrefix !== undefined ? [`ep_prefix=${encodeURIComponent(pathPrefix)}`] : []),
    ...(clientIp !== undefined ? ['ep_ip=1'] : []),
    `ep_sig=${signature}`,
  ];
  return `${path}?${params.join('&')}`;
}

export type SignedUrlFailure = 'missing' | 'malformed' | 'expired' | 'unknown-key' | 'bad-signature' | 'wrong-prefix';

export type SignedUrlVerdict = { ok: true; keyId: string } | { ok: false; reason: SignedUrlFailure; message: string };

export interface VerifySignedUrlInput {
  /** The raw path as received (percent-encoded, no query). */
  path: string;
  /** The raw query as received, without "?". */
  query: string;
  /** The client's address as the socket reports it (IPv4-mapped IPv6 is read as IPv4). */
  clientAddress: string;
  nowMs: number;
  /** Seconds past ep_exp a link is still accepted (clock skew between signer and edge). */
  leewaySeconds: number;
  /** The customer's keys with their secrets opened. */
  keys: readonly { id: string; secret: string }[];
}

/**
 * Whether the URL carries a valid signature. The message is meant for the 403 body: it says
 * what is wrong with the link, never anything about the keys.
 */
export function verifySignedUrl(input: VerifySignedUrlInput): SignedUrlVerdict {
  const fail = (reason: SignedUrlFailure, message: string): SignedUrlVerdict => ({ ok: false, reason, message });
  const params = new Map<string, string>();
  for (const param of input.query.split('&')) {
    if (param === '') continue;
    const name = queryParamName(param);
    if (!isSignedUrlParam(name)) continue;
    // Two values for one parameter: which one a proxy or origin would read is anyone's guess.
    if (params.has(name)) return fail('malformed', `the link has ${name} twice`);
    const eq = param.indexOf('=');
    params.set(name, eq < 0 ? '' : param.slice(eq + 1));
  }
  const sig = params.get('ep_sig');
  if (sig === undefined) return fail('missing', 'this URL must be signed: it needs the ep_exp, ep_kid and ep_sig parameters of a signed link');
  const exp = params.get('ep_exp');
  const kid = decodeValue(params.get('ep_kid'));
  if (exp === undefined || !EXPIRY.test(exp)) return fail('malformed', 'the link\'s expiry (ep_exp) is missing or not unix seconds');
  if (kid === undefined || !KEY_ID.test(kid)) return fail('malformed', 'the link\'s key id (ep_kid) is missing or malformed');
  if (!SIGNATURE.test(sig)) return fail('malformed', 'the link\'s signature (ep_sig) is not 43 base64url characters');
  const ipParam = params.get('ep_ip');
  if (ipParam !== undefined && ipParam !== '1') return fail('malformed', 'ep_ip may only be 1');
  const rawPrefix = params.get('ep_prefix');
  const prefix = rawPrefix === undefined ? undefined : decodeValue(rawPrefix);
  if (rawPrefix !== undefined && (prefix === undefined || !prefix.startsWith('/') || prefix.length > PREFIX_MAX)) {
    return fail('malformed', 'the link\'s path prefix (ep_prefix) is not a path');
  }
  const keys = input.keys.filter((k) => k.id === kid);
  if (keys.length === 0) return fail('unknown-key', 'this link was signed with a key this site does not have (deleted, or never made)');
  const ip = ipParam === '1' ? normalizeClientAddress(input.clientAddress) : '';
  const message = stringToSign(prefix ?? input.path, exp, ip);
  const given = Buffer.from(sig, 'latin1');
  // Every key with that id is tried, so the time taken does not say which one matched.
  let valid = false;
  for (const key of keys) valid = timingSafeEqual(given, Buffer.from(hmac(key.secret, message), 'latin1')) || valid;
  if (!valid) {
    return fail('bad-signature', ipParam === '1' ? 'the signature does not match this URL and address (the link is bound to the address it was made for)' : 'the signature does not match this URL');
  }
  if (prefix !== undefined && (!input.path.startsWith(prefix) || hasDotDotSegment(input.path))) {
    return fail('wrong-prefix', 'this link does not cover this path');
  }
  if (Math.floor(input.nowMs / 1000) - Number(exp) > input.leewaySeconds) return fail('expired', 'this link has expired; ask for a new one');
  return { ok: true, keyId: kid };
}

/**
 * A query parameter's name as the cache key compares it (edge/cache/cache-key.ts): "+" is a
 * space, percent-decoded when valid (`%65p_sig` is ep_sig, for the stripping and for the check).
 */
export function queryParamName(param: string): string {
  const eq = param.indexOf('=');
  const raw = eq < 0 ? param : param.slice(0, eq);
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw.replace(/\+/g, ' ');
  }
}

function decodeValue(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * Whether a ".." segment hides in the path in any spelling an origin might resolve:
 * `%2e` for ".", and "\", `%2f`, `%5c` as separators (some servers treat "\" as "/").
 */
export function hasDotDotSegment(path: string): boolean {
  const plain = path.replace(/%2e/gi, '.').replace(/%2f|%5c|\\/gi, '/');
  return plain.split('/').some((segment) => segment === '..');
}
