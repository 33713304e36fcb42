/**
 * What of a mutation's arguments the audit log may keep: secrets removed by an explicit
 * list of names and value shapes, and the size bounded (a client controls the arguments,
 * the table must stay small). The result is JSON-safe and PostgreSQL-safe (jsonb refuses
 * NUL characters and lone surrogates, which would otherwise make the audit write, and so
 * the mutation, fail).
 */

export const REDACTED = '[REDACTED]';

/**
 * Argument names (compared lower-case, without `_` and `-`) whose values are never kept.
 * A name containing one of these is a secret: `password`, `newPassword`, `clientSecret`,
 * `secretKey`, `authorization`, `proxyAuthorization`, `privateKeyPem` (uploadCertificate),
 * `apiKey`, `cookie`...
 */
export const SECRET_NAME_PARTS: readonly string[] = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'authorization',
  'credential',
  'privatekey',
  'apikey',
  'cookie',
  'signature',
];

/**
 * A name ending in one of these is a secret too (`token`, `accessToken`, `adminToken`,
 * `tokens`), while `tokenId` or `tokenName` are not: they name a token without being one.
 */
export const SECRET_NAME_SUFFIXES: readonly string[] = ['token', 'tokens', 'jwt'];

const MAX_DEPTH = 8;
const MAX_ITEMS = 100;
const MAX_KEYS = 100;
const MAX_STRING_CHARS = 2048;
/** The whole stored JSON; beyond it only a note that it was too large remains. */
export const MAX_ARGUMENTS_JSON_CHARS = 64 * 1024;

// Credentials written into a value whatever its name: a JWT, a bearer/basic header value.
const JWT = /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/;
const BEARER_VALUE = /^bearer\s+[\w~+/.-]{16,}=*$/i;
const BASIC_VALUE = /^basic\s+([A-Za-z0-9+/]+=*)$/i;
// A PEM private key (PKCS#8, RSA, EC, encrypted or not), e.g. pasted into certificatePem by mistake.
const PEM_PRIVATE_KEY = /BEGIN[ A-Z0-9]*PRIVATE KEY/i;
// scheme://user:password@host
const URL_WITH_USERINFO = /^(\s*[a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i;

export function isSecretName(name: string): boolean {
  const key = name.toLowerCase().replace(/[_-]/g, '');
  return SECRET_NAME_PARTS.some((part) => key.includes(part)) || SECRET_NAME_SUFFIXES.some((suffix) => key.endsWith(suffix));
}

/** A copy of `args` fit for the audit log. */
export function redactArguments(args: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out = redactObject(args, 0);
  return JSON.stringify(out).length > MAX_ARGUMENTS_JSON_CHARS ? { [REDACTED]: `arguments larger than ${MAX_ARGUMENTS_JSON_CHARS} characters were not kept` } : out;
}

function redactObject(value: Readonly<Record<string, unknown>>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const entries = Object.entries(value);
  for (const [key, item] of entries.slice(0, MAX_KEYS)) {
    if (item === undefined) continue;
    // null stays: "basicAuth: null" (removing it) is worth knowing and reveals nothing.
    out[safeString(key)] = isSecretName(key) && item !== null ? REDACTED : redactValue(item, depth + 1);
  }
  if (entries.length > MAX_KEYS) out['…'] = `${entries.length - MAX_KEYS} more fields not kept`;
  return out;
}

function redactValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return redactString(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (depth > MAX_DEPTH) return '[TOO DEEP]';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((item) => redactValue(item, depth + 1));
    if (value.length > MAX_ITEMS) items.push(`… ${value.length - MAX_ITEMS} more items not kept`);
    return items;
  }
  if (typeof value === 'object') return redactObject(value as Record<string, unknown>, depth);
  return null;
}

function redactString(value: string): string {
  const trimmed = value.trim();
  if (JWT.test(trimmed) || BEARER_VALUE.test(trimmed) || isBasicCredentials(trimmed) || PEM_PRIVATE_KEY.test(value)) return REDACTED;
  let text = value;
  const url = URL_WITH_USERINFO.exec(text);
  if (url) {
    // user:password keeps the user; a lone user part is often a token itself (https://<token>@host).
    const userinfo = url[2]!;
    const colon = userinfo.indexOf(':');
    const kept = colon >= 0 ? `${userinfo.slice(0, colon)}:${REDACTED}` : REDACTED;
    text = `${url[1]}${kept}@${text.slice(url[0].length)}`;
  }
  if (text.length > MAX_STRING_CHARS) text = `${text.slice(0, MAX_STRING_CHARS)}… (${text.length} characters)`;
  return safeString(text);
}

/** `Basic <base64 of user:password>`, told apart from prose such as "Basic Widgets". */
function isBasicCredentials(value: string): boolean {
  const match = BASIC_VALUE.exec(value);
  return match !== null && Buffer.from(match[1]!, 'base64').toString('utf8').includes(':');
}

/** Without NUL and lone surrogates, which PostgreSQL's text and jsonb refuse. */
export function safeString(value: string): string {
  return value.replace(/\u0000/g, '\uFFFD').replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
