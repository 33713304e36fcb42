/**
 * Validation of a customer's whole origin list and its origin policy (origin.types.ts), for
 * every way in: the GraphQL input (setOrigins, setOriginPolicy), the customers file
 * (`cdn edge --config`), and any reader of a stored config. The input arrives as JSON, so it is
 * `unknown`: shapes and unknown fields are checked here too, and every problem names the
 * origin by index and name, and the field: `origins[1] (backup).healthCheck.path: ...`.
 * Nothing throws; all problems come back at once.
 *
 * Passwords arrive in clear and leave in clear (PlainOrigin): sealing them is the caller's
 * business (the api's SecretBox, the customers file's), so this file stays pure.
 */
import { isIP } from 'node:net';
import type { CustomerConfig } from './customer.types';
import { STALE_IF_ERROR_MAX } from './customer.types';
import { checkBasicAuth, checkHostname, checkOriginUrl, normalizeHostname, normalizeOriginUrl } from './customer.rules';
import { given, isPlainObject, Problems } from './delivery-rules.problems';
import type { FieldProblem } from './errors';
import {
  HEALTH_CHECK_DEFAULTS,
  ORIGIN_NAME_MAX,
  ORIGIN_PRIORITY_MAX,
  ORIGIN_WEIGHT_MAX,
  ORIGINS_MAX,
  PRIMARY_ORIGIN_NAME,
  type HealthCheckConfig,
  type OriginBasicAuth,
  type OriginConfig,
  type OriginPolicy,
} from './origin.types';

/** Ranges the comments of origin.types.ts give, in one table. */
export const HEALTH_CHECK_INTERVAL_MAX = 3600;
export const HEALTH_CHECK_TIMEOUT_MIN_MS = 100;
export const HEALTH_CHECK_TIMEOUT_MAX_MS = 60_000;
export const HEALTH_CHECK_STATUS_MIN = 100;
export const HEALTH_CHECK_STATUS_MAX = 599;
export const HEALTH_CHECK_THRESHOLD_MAX = 100;
export const HEALTH_CHECK_PATH_MAX = 2048;
export const ORIGIN_MAX_CONNECTIONS_MAX = 10_000;
export const ORIGIN_QUEUE_TIMEOUT_MAX_MS = 60_000;
/** One week, as the customer's staleIfErrorSeconds. */
export const ORIGIN_STALE_IF_DOWN_MAX = STALE_IF_ERROR_MAX;
/** 253 for the name, ":" and five digits of port; an IPv6 literal in brackets fits too. */
export const HOST_HEADER_MAX = 259;

/** Credentials as a person writes them; the caller seals the password. */
export interface PlainBasicAuth {
  username: string;
  password: string;
}

/** An origin as written: priority and weight default to 1, the rest to null (health check fields to HEALTH_CHECK_DEFAULTS). */
export interface OriginInput {
  name: string;
  url: string;
  basicAuth?: PlainBasicAuth | null;
  priority?: number | null;
  weight?: number | null;
  hostHeader?: string | null;
  tlsServerName?: string | null;
  healthCheck?: HealthCheckInput | null;
}

export interface HealthCheckInput {
  path: string;
  intervalSeconds?: number | null;
  timeoutMs?: number | null;
  expectedStatusMin?: number | null;
  expectedStatusMax?: number | null;
  healthyThreshold?: number | null;
  unhealthyThreshold?: number | null;
}

export type OriginPolicyInput = { [K in keyof OriginPolicy]?: number | null };

/** A checked origin in its stored form, its password still in clear. */
export interface PlainOrigin extends Omit<OriginConfig, 'basicAuth'> {
  basicAuth: PlainBasicAuth | null;
}

export interface OriginsCheckOptions {
  /** Where the list sits in the input: `origins` (default), `[2].origins`. */
  field?: string;
}

const KNOWN_ORIGIN = ['name', 'url', 'basicAuth', 'priority', 'weight', 'hostHeader', 'tlsServerName', 'healthCheck'] as const;
const KNOWN_BASIC_AUTH = ['username', 'password'] as const;
const KNOWN_HEALTH_CHECK = ['path', 'intervalSeconds', 'timeoutMs', 'expectedStatusMin', 'expectedStatusMax', 'healthyThreshold', 'unhealthyThreshold'] as const;
const KNOWN_POLICY = ['maxConnections', 'queueTimeoutMs', 'retryBudgetPercent', 'staleIfDownSeconds'] as const;

const ORIGIN_NAME = /^[a-z0-9][a-z0-9-]*$/;
// A request target as sent: visible ASCII (anything else percent-encoded), RFC 9112 §3.2.
const RAW_TARGET = /^[\x21-\x7e]*$/;
const PORT = /^[0-9]{1,5}$/;

/**
 * Every problem of an origin list: shape, unknown fields, 1 to ORIGINS_MAX origins, unique
 * names, each URL, Basic Auth, range, Host header, TLS name and health check. Empty when the
 * list may be stored.
 */
export function checkOrigins(value: unknown, options: OriginsCheckOptions = {}): FieldProblem[] {
  const field = options.field ?? 'origins';
  if (!Array.isArray(value)) return [{ field, message: 'must be a list of origins: [{ "name", "url", ... }]' }];
  if (value.length === 0) return [{ field, message: 'must list at least one origin' }];
  // Alone: a list far too long is not worth reading origin by origin.
  if (value.length > ORIGINS_MAX) return [{ field, message: `must list at most ${ORIGINS_MAX} origins (got ${value.length})` }];
  const p = new Problems();
  const names = new Map<string, number>();
  value.forEach((raw: unknown, i) => {
    const label = originLabel(field, i, isPlainObject(raw) ? raw.name : undefined);
    const o = p.object(raw, label, KNOWN_ORIGIN, '{ "name", "url", "basicAuth"?, "priority"?, "weight"?, "hostHeader"?, "tlsServerName"?, "healthCheck"? }');
    if (o === undefined) return;
    if (checkOriginName(o.name, `${label}.name`, p)) {
      const name = o.name as string;
      const first = names.get(name);
      if (first !== undefined) p.add(`${label}.name`, `"${name}" is already the name of ${field}[${first}]; origin names must be unique`);
      else names.set(name, i);
    }
    if (typeof o.url !== 'string') p.add(`${label}.url`, 'is required and must be a string such as "https://origin.example.com"');
    else p.addAll(checkOriginUrl(o.url, `${label}.url`));
    if (given(o.basicAuth)) checkBasicAuthValue(o.basicAuth, `${label}.basicAuth`, p);
    if (given(o.priority)) whole(o.priority, `${label}.priority`, 1, ORIGIN_PRIORITY_MAX, '1 is the most preferred; only the healthy origins of the lowest number get requests', p);
    if (given(o.weight)) whole(o.weight, `${label}.weight`, 1, ORIGIN_WEIGHT_MAX, 'the share of requests among the healthy origins of one priority', p);
    if (given(o.hostHeader)) {
      const s = p.string(o.hostHeader, `${label}.hostHeader`, HOST_HEADER_MAX);
      if (s !== undefined) p.addAll(checkHostHeader(s, `${label}.hostHeader`));
    }
    if (given(o.tlsServerName)) {
      const s = p.string(o.tlsServerName, `${label}.tlsServerName`, 253);
      if (s !== undefined) p.addAll(checkTlsServerName(s, `${label}.tlsServerName`));
    }
    if (given(o.healthCheck)) checkHealthCheck(o.healthCheck, `${label}.healthCheck`, p);
  });
  return p.list;
}

/** `origins[1] (backup)`: the index always, the name when it prints as it is. */
export function originLabel(field: string, index: number, name: unknown): string {
  const printable = typeof name === 'string' && name.length > 0 && name.length <= ORIGIN_NAME_MAX && /^[\x21-\x7e]+$/.test(name);
  return printable ? `${field}[${index}] (${name})` : `${field}[${index}]`;
}

function checkOriginName(value: unknown, at: string, p: Problems): boolean {
  const before = p.list.length;
  if (typeof value !== 'string') p.add(at, `is required and must be a string such as "${PRIMARY_ORIGIN_NAME}" or "backup"`);
  else if (value.length === 0) p.add(at, 'must not be empty');
  else if (value.length > ORIGIN_NAME_MAX) p.add(at, `must be at most ${ORIGIN_NAME_MAX} characters (got ${value.length})`);
  else if (!ORIGIN_NAME.test(value)) {
    p.add(at, `${JSON.stringify(value)} is not an origin name: use lower-case letters, digits and "-", starting with a letter or digit`);
  }
  return p.list.length === before;
}

function checkBasicAuthValue(value: unknown, at: string, p: Problems): void {
  const a = p.object(value, at, KNOWN_BASIC_AUTH, '{ "username", "password" }');
  if (a === undefined) return;
  if (typeof a.username !== 'string' || typeof a.password !== 'string') {
    p.add(at, 'must be { "username": string, "password": string }');
    return;
  }
  p.addAll(checkBasicAuth({ username: a.username, password: a.password }, at));
}

/**
 * The Host header an origin gets: a host name (two labels at least, as checkHostname), an IPv4
 * address or a bracketed IPv6 address, with an optional port (1 to 65535).
 */
export function checkHostHeader(value: string, field: string): FieldProblem[] {
  const problem = (message: string): FieldProblem[] => [{ field, message: `${JSON.stringify(value)} ${message}` }];
  if (value.length === 0) return [{ field, message: 'must not be empty; leave it out (null) to send the URL\'s host' }];
  let host = value;
  let port: string | undefined;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0) return problem('is not a host: an IPv6 address is written in brackets, such as [2001:db8::1]:8443');
    host = value.slice(1, end);
    const rest = value.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return problem('is not a host[:port]');
    if (rest !== '') port = rest.slice(1);
    if (isIP(host) !== 6) return problem('is not a host: the brackets must hold an IPv6 address');
  } else {
    const colon = value.lastIndexOf(':');
    if (colon >= 0) {
      host = value.slice(0, colon);
      port = value.slice(colon + 1);
    }
    if (host.includes(':')) return problem('is not a host: write an IPv6 address in brackets, such as [2001:db8::1]');
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    return problem('has an invalid port: give a number from 1 to 65535 after ":", or no port');
  }
  if (isIP(host) !== 0) return [];
  return checkHostname(host, field);
}

/** The TLS server name (SNI) for an https origin: a DNS host name, never an IP address (RFC 6066 §3). */
export function checkTlsServerName(value: string, field: string): FieldProblem[] {
  const problems = checkHostname(value, field);
  return problems.map((p) => (/IP address/.test(p.message) ? { field, message: `${JSON.stringify(value)} is an IP address: TLS server names (SNI) are host names only (RFC 6066); leave it out for an origin reached by address` } : p));
}

function checkHealthCheck(value: unknown, at: string, p: Problems): void {
  const h = p.object(value, at, KNOWN_HEALTH_CHECK, '{ "path", "intervalSeconds"?, "timeoutMs"?, "expectedStatusMin"?, "expectedStatusMax"?, "healthyThreshold"?, "unhealthyThreshold"? }');
  if (h === undefined) return;
  if (!given(h.path)) p.add(`${at}.path`, 'is required: the path (and query) the edges GET, such as "/healthz"');
  else {
    const path = p.string(h.path, `${at}.path`, HEALTH_CHECK_PATH_MAX);
    if (path !== undefined) checkHealthPath(path, `${at}.path`, p);
  }
  const int = (key: Exclude<keyof HealthCheckInput, 'path'>, min: number, max: number, unit: string): number | undefined =>
    given(h[key]) ? whole(h[key], `${at}.${key}`, min, max, `${unit}; leave it out for ${HEALTH_CHECK_DEFAULTS[key]}`, p) : HEALTH_CHECK_DEFAULTS[key];
  const interval = int('intervalSeconds', 1, HEALTH_CHECK_INTERVAL_MAX, 'seconds between two checks');
  const timeout = int('timeoutMs', HEALTH_CHECK_TIMEOUT_MIN_MS, HEALTH_CHECK_TIMEOUT_MAX_MS, 'milliseconds');
  const min = int('expectedStatusMin', HEALTH_CHECK_STATUS_MIN, HEALTH_CHECK_STATUS_MAX, 'an HTTP status');
  const max = int('expectedStatusMax', HEALTH_CHECK_STATUS_MIN, HEALTH_CHECK_STATUS_MAX, 'an HTTP status');
  int('healthyThreshold', 1, HEALTH_CHECK_THRESHOLD_MAX, 'consecutive successes that bring a down origin back');
  int('unhealthyThreshold', 1, HEALTH_CHECK_THRESHOLD_MAX, 'consecutive failures that take an origin down');
  if (min !== undefined && max !== undefined && min > max) {
    p.add(`${at}.expectedStatusMax`, `must be at least expectedStatusMin (${min}${given(h.expectedStatusMin) ? '' : ' by default'}), got ${max}`);
  }
  // A check still running when the next is due would pile up on a slow origin.
  if (interval !== undefined && timeout !== undefined && timeout > interval * 1000) {
    p.add(`${at}.timeoutMs`, `must be at most intervalSeconds × 1000 (${interval * 1000}), got ${timeout}${given(h.timeoutMs) ? '' : ' by default'}: a check must end before the next one starts`);
  }
}

/** A whole number in [min, max], or a problem saying the range and what the number means. */
function whole(value: unknown, at: string, min: number, max: number, meaning: string, p: Problems): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  const got = typeof value === 'number' ? String(value) : typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : Array.isArray(value) ? 'a list' : typeof value;
  p.add(at, `must be a whole number from ${min} to ${max} (${meaning}), got ${got}`);
  return undefined;
}

function checkHealthPath(path: string, at: string, p: Problems): void {
  if (!path.startsWith('/')) return p.add(at, `${JSON.stringify(path)} must start with "/"`);
  if (!RAW_TARGET.test(path)) {
    return p.add(at, 'must be written as sent: visible ASCII only, spaces and other characters percent-encoded (%20)');
  }
  if (path.includes('#')) return p.add(at, 'must not contain "#": a fragment is never sent to the server');
}

/** Every problem of an origin policy; null or absent fields take the edge's defaults. */
export function checkOriginPolicy(value: unknown, field = 'originPolicy'): FieldProblem[] {
  const p = new Problems();
  const o = p.object(value, field, KNOWN_POLICY, `with any of ${KNOWN_POLICY.join(', ')}`);
  if (o === undefined) return p.list;
  const int = (key: keyof OriginPolicy, min: number, max: number, unit: string): void => {
    if (given(o[key])) whole(o[key], `${field}.${key}`, min, max, `${unit}; null for the edge's default`, p);
  };
  int('maxConnections', 1, ORIGIN_MAX_CONNECTIONS_MAX, "concurrent origin requests of the customer on one edge process");
  int('queueTimeoutMs', 0, ORIGIN_QUEUE_TIMEOUT_MAX_MS, 'milliseconds a miss may wait for a connection');
  int('retryBudgetPercent', 0, 100, 'percent of origin requests that may be retries; 0 never retries');
  int('staleIfDownSeconds', 0, ORIGIN_STALE_IF_DOWN_MAX, 'seconds (one week at most); 0 turns it off');
  return p.list;
}

/** The stored form of a policy checkOriginPolicy accepted: every field present, null for the edge's default. */
export function normalizeOriginPolicy(policy: OriginPolicyInput | null | undefined): OriginPolicy {
  return {
    maxConnections: policy?.maxConnections ?? null,
    queueTimeoutMs: policy?.queueTimeoutMs ?? null,
    retryBudgetPercent: policy?.retryBudgetPercent ?? null,
    staleIfDownSeconds: policy?.staleIfDownSeconds ?? null,
  };
}

/** Unknown JSON (a customers file's `originPolicy`) to a policy, or the problems. null or undefined: every default. */
export function readOriginPolicy(value: unknown, field = 'originPolicy'): { policy: OriginPolicy; problems: FieldProblem[] } {
  const problems = given(value) ? checkOriginPolicy(value, field) : [];
  return { policy: normalizeOriginPolicy(problems.length === 0 ? (value as OriginPolicyInput | null | undefined) : null), problems };
}

/**
 * The canonical copy that is stored: defaults applied, the URL canonical (normalizeOriginUrl),
 * host names lower-case, only known fields, and the list in preference order (priority, then
 * name). Call it on a list checkOrigins accepted.
 */
export function normalizeOrigins(origins: readonly OriginInput[]): PlainOrigin[] {
  return inPreferenceOrder(
    origins.map((o) => ({
      name: o.name,
      url: normalizeOriginUrl(o.url),
      basicAuth: given(o.basicAuth) ? { username: o.basicAuth!.username, password: o.basicAuth!.password } : null,
      priority: o.priority ?? 1,
      weight: o.weight ?? 1,
      hostHeader: given(o.hostHeader) ? normalizeHostHeader(o.hostHeader!) : null,
      tlsServerName: given(o.tlsServerName) ? normalizeHostname(o.tlsServerName!) : null,
      healthCheck: given(o.healthCheck) ? normalizeHealthCheck(o.healthCheck!) : null,
    })),
  );
}

function normalizeHostHeader(value: string): string {
  return value.toLowerCase().replace(/\.(?=$|:\d+$)/, '');
}

function normalizeHealthCheck(h: HealthCheckInput): HealthCheckConfig {
  return {
    path: h.path,
    intervalSeconds: h.intervalSeconds ?? HEALTH_CHECK_DEFAULTS.intervalSeconds,
    timeoutMs: h.timeoutMs ?? HEALTH_CHECK_DEFAULTS.timeoutMs,
    expectedStatusMin: h.expectedStatusMin ?? HEALTH_CHECK_DEFAULTS.expectedStatusMin,
    expectedStatusMax: h.expectedStatusMax ?? HEALTH_CHECK_DEFAULTS.expectedStatusMax,
    healthyThreshold: h.healthyThreshold ?? HEALTH_CHECK_DEFAULTS.healthyThreshold,
    unhealthyThreshold: h.unhealthyThreshold ?? HEALTH_CHECK_DEFAULTS.unhealthyThreshold,
  };
}

/**
 * Unknown JSON (a customers file's `origins`) to the checked, normalised list with passwords in
 * clear, when there is no problem; none otherwise.
 */
export function readOrigins(value: unknown, options: OriginsCheckOptions = {}): { origins: PlainOrigin[]; problems: FieldProblem[] } {
  const problems = checkOrigins(value, options);
  if (problems.length > 0) return { origins: [], problems };
  return { origins: normalizeOrigins(value as OriginInput[]), problems: [] };
}

/** Lower priority number first, then name: the order `origins` is stored and sent in. */
export function comparePreference(a: Pick<OriginConfig, 'priority' | 'name'>, b: Pick<OriginConfig, 'priority' | 'name'>): number {
  return a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export function inPreferenceOrder<T extends Pick<OriginConfig, 'priority' | 'name'>>(origins: readonly T[]): T[] {
  return [...origins].sort(comparePreference);
}

/** The origin `originUrl` and `basicAuth` stand for: the first in preference order; undefined for an empty list. */
export function preferredOrigin<T extends Pick<OriginConfig, 'priority' | 'name'>>(origins: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const o of origins) if (best === undefined || comparePreference(o, best) < 0) best = o;
  return best;
}

/** A PlainOrigin with its password sealed by `seal` (the api's or the customers file's SecretBox). */
export function sealOrigin(origin: PlainOrigin, seal: (password: string) => string): OriginConfig {
  const basicAuth: OriginBasicAuth | null = origin.basicAuth === null ? null : { username: origin.basicAuth.username, passwordCiphertext: seal(origin.basicAuth.password) };
  return { ...origin, basicAuth };
}

/** The origin a customer had before several were possible: its originUrl and basicAuth, no health check. */
export function primaryOrigin(url: string, basicAuth: OriginBasicAuth | null): OriginConfig {
  return { name: PRIMARY_ORIGIN_NAME, url, basicAuth, priority: 1, weight: 1, hostHeader: null, tlsServerName: null, healthCheck: null };
}

/**
 * Every origin of a config in preference order: its `origins`, or, for a config from before
 * several were possible (no `origins`), one `primary` made of originUrl and basicAuth.
 */
export function originsOf(config: Pick<CustomerConfig, 'originUrl' | 'basicAuth' | 'origins'>): OriginConfig[] {
  return config.origins !== undefined && config.origins.length > 0 ? inPreferenceOrder(config.origins) : [primaryOrigin(config.originUrl, config.basicAuth)];
}
