/**
 * A fixed list of customers (`cdn edge --config customers.json`): ready at once, never
 * changes. The file holds Basic Auth passwords in clear (the customer's and each origin's);
 * they are sealed with the SecretBox on load so the rest of the edge handles one shape
 * (CustomerConfig), the one the api sends: `origins` always listed (one `primary` made of
 * originUrl and basicAuth when the file gives no `origins`), `originPolicy` always present.
 */
import { readFile } from 'node:fs/promises';
import {
  checkBasicAuth,
  checkCacheQuota,
  checkCacheTtl,
  checkCustomerId,
  checkCustomerName,
  checkDomains,
  checkOriginUrl,
  checkQueryString,
  checkStaleIfError,
  normalizeHostname,
  normalizeOriginUrl,
  normalizeQueryString,
} from '../../core/customer.rules';
import { CACHE_TTL_DEFAULT, type CustomerConfig, type QueryStringMode, type QueryStringPolicy } from '../../core/customer.types';
import { checkCompressTypes, normalizeCompressTypes, readRules } from '../../core/delivery-rules.rules';
import { RULES_MAX_DEFAULT, type DeliveryRule } from '../../core/delivery-rules.types';
import { invalidInput, type FieldProblem } from '../../core/errors';
import { preferredOrigin, primaryOrigin, readOriginPolicy, readOrigins, sealOrigin } from '../../core/origin.rules';
import type { OriginConfig } from '../../core/origin.types';
import { SecretBox } from '../../core/secret-box';
import type { EdgeCustomerFeed } from '../customer-feed.port';
import { CustomerIndex } from './customer-index';
import { parseFileTls } from './file-tls';

export function createStaticCustomerFeed(customers: readonly CustomerConfig[]): EdgeCustomerFeed {
  const index = new CustomerIndex();
  for (const customer of customers) index.upsert(customer);
  return feedOverIndex(index);
}

/** A feed that is ready at once and serves whatever `index` holds (a test may change it under a running edge). */
export function feedOverIndex(index: CustomerIndex): EdgeCustomerFeed {
  return {
    start: async () => {},
    stop: async () => {},
    isReady: () => true,
    ready: Promise.resolve(),
    appliedSeq: () => 0,
    count: () => index.count(),
    byHost: (host) => index.byHost(host),
    byId: (id) => index.byId(id),
    all: () => index.all(),
    subscribe: (listener) => index.subscribe(listener),
  };
}

/**
 * Reads `[{ id, name?, originUrl, domains, cacheTtl?, basicAuth?: {username, password},
 * cacheQuotaBytes?, staleIfErrorSeconds?, queryString?: { mode: "keep"|"ignore"|"allowlist", allow?: [names] },
 * tls?: { certificates: [{ certPem, keyPem }], httpsRedirect?, hsts? } (file-tls.ts),
 * rules?: [delivery rules] (core/delivery-rules.types.ts; at most RULES_MAX_DEFAULT),
 * compressTypes?: ["type/subtype"],
 * origins?: [{ name, url, basicAuth?: {username, password}, priority?, weight?, hostHeader?, tlsServerName?, healthCheck? }]
 * (core/origin.rules.ts; instead of originUrl and basicAuth, which then are the preferred origin's),
 * originPolicy?: { maxConnections?, queueTimeoutMs?, retryBudgetPercent?, staleIfDownSeconds? } }]`.
 * Throws CDN_ERR_INPUT_INVALID naming every problem (`[0].originUrl: ...`,
 * `[1].rules[0] (images).match.globs[0]: ...`, `[2].origins[1] (backup).url: ...`).
 */
export async function loadCustomersFile(file: string, secretKey: string): Promise<CustomerConfig[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`Cannot read the customers file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseCustomersFile(parsed, new SecretBox(secretKey), new Date().toISOString());
}

export function parseCustomersFile(parsed: unknown, box: SecretBox, now: string): CustomerConfig[] {
  if (!Array.isArray(parsed)) {
    throw invalidInput([{ field: '(file)', message: 'must be a JSON array of customers: [{ "id", "originUrl", "domains": [...] }]' }]);
  }
  const problems: FieldProblem[] = [];
  const customers: CustomerConfig[] = [];
  const ids = new Map<string, number>();
  const hosts = new Map<string, number>();
  parsed.forEach((raw: unknown, i) => {
    const at = `[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push({ field: at, message: 'must be an object' });
      return;
    }
    const o = raw as Record<string, unknown>;
    const before = problems.length;
    const str = (name: string, required: boolean): string | undefined => {
      const v = o[name];
      if (v === undefined && !required) return undefined;
      if (typeof v !== 'string') {
        problems.push({ field: `${at}.${name}`, message: required ? 'is required and must be a string' : 'must be a string' });
        return undefined;
      }
      return v;
    };
    const id = str('id', true);
    if (id !== undefined) problems.push(...checkCustomerId(id, `${at}.id`));
    const name = str('name', false);
    if (name !== undefined) problems.push(...checkCustomerName(name, `${at}.name`));
    // Either one origin (originUrl, basicAuth) or several (origins), whose preferred one they then are.
    const hasOrigins = o.origins !== undefined && o.origins !== null;
    const originUrl = str('originUrl', !hasOrigins);
    if (originUrl !== undefined) problems.push(...checkOriginUrl(originUrl, `${at}.originUrl`));
    let origins: OriginConfig[] | undefined;
    if (hasOrigins) {
      if (o.originUrl !== undefined) problems.push({ field: `${at}.originUrl`, message: 'give either originUrl (one origin) or origins, not both: with origins, originUrl is the preferred origin\'s' });
      if (o.basicAuth !== undefined && o.basicAuth !== null) problems.push({ field: `${at}.basicAuth`, message: 'with origins, Basic Auth belongs to each origin: set it as origins[i].basicAuth' });
      const read = readOrigins(o.origins, { field: `${at}.origins` });
      problems.push(...read.problems);
      origins = read.origins.map((origin) => sealOrigin(origin, (password) => box.seal(password)));
    }
    const policy = readOriginPolicy(o.originPolicy, `${at}.originPolicy`);
    problems.push(...policy.problems);
    let domains: string[] | undefined;
    if (!Array.isArray(o.domains) || !o.domains.every((d) => typeof d === 'string')) {
      problems.push({ field: `${at}.domains`, message: 'is required and must be an array of host names' });
    } else {
      domains = o.domains as string[];
      problems.push(...checkDomains(domains, `${at}.domains`));
    }
    let cacheTtl = CACHE_TTL_DEFAULT;
    if (o.cacheTtl !== undefined) {
      cacheTtl = o.cacheTtl as number;
      problems.push(...checkCacheTtl(cacheTtl, `${at}.cacheTtl`));
    }
    let basicAuth: { username: string; password: string } | undefined;
    if (o.basicAuth !== undefined && o.basicAuth !== null) {
      const a = o.basicAuth as Record<string, unknown>;
      if (typeof a !== 'object' || typeof a.username !== 'string' || typeof a.password !== 'string') {
        problems.push({ field: `${at}.basicAuth`, message: 'must be { "username": string, "password": string }' });
      } else {
        basicAuth = { username: a.username, password: a.password };
        problems.push(...checkBasicAuth(basicAuth, `${at}.basicAuth`));
      }
    }
    let cacheQuotaBytes: number | null = null;
    if (o.cacheQuotaBytes !== undefined && o.cacheQuotaBytes !== null) {
      if (typeof o.cacheQuotaBytes !== 'number') {
        problems.push({ field: `${at}.cacheQuotaBytes`, message: 'must be a number of bytes (or null for no quota)' });
      } else {
        cacheQuotaBytes = o.cacheQuotaBytes;
        problems.push(...checkCacheQuota(cacheQuotaBytes, `${at}.cacheQuotaBytes`));
      }
    }
    let staleIfErrorSeconds: number | null = null;
    if (o.staleIfErrorSeconds !== undefined && o.staleIfErrorSeconds !== null) {
      if (typeof o.staleIfErrorSeconds !== 'number') {
        problems.push({ field: `${at}.staleIfErrorSeconds`, message: 'must be a number of seconds (or null for off)' });
      } else {
        staleIfErrorSeconds = o.staleIfErrorSeconds;
        problems.push(...checkStaleIfError(staleIfErrorSeconds, `${at}.staleIfErrorSeconds`));
      }
    }
    let queryString: QueryStringPolicy = { mode: 'keep', allow: [] };
    if (o.queryString !== undefined && o.queryString !== null) {
      const q = o.queryString as Record<string, unknown>;
      if (
        typeof q !== 'object' ||
        Array.isArray(q) ||
        typeof q.mode !== 'string' ||
        (q.allow !== undefined && (!Array.isArray(q.allow) || !q.allow.every((a) => typeof a === 'string')))
      ) {
        problems.push({ field: `${at}.queryString`, message: 'must be { "mode": "keep" | "ignore" | "allowlist", "allow"?: [parameter names] }' });
      } else {
        const raw = { mode: q.mode, allow: q.allow as string[] | undefined };
        const p = checkQueryString(raw, `${at}.queryString`);
        problems.push(...p);
        if (p.length === 0) queryString = normalizeQueryString({ mode: raw.mode as QueryStringMode, allow: raw.allow ?? null });
      }
    }
    let rules: DeliveryRule[] | undefined;
    if (o.rules !== undefined && o.rules !== null) {
      const read = readRules(o.rules, { field: `${at}.rules`, max: RULES_MAX_DEFAULT });
      problems.push(...read.problems);
      rules = read.rules;
    }
    let compressTypes: string[] | undefined;
    if (o.compressTypes !== undefined && o.compressTypes !== null) {
      const p = checkCompressTypes(o.compressTypes, `${at}.compressTypes`);
      problems.push(...p);
      if (p.length === 0) compressTypes = normalizeCompressTypes(o.compressTypes as string[]);
    }
    const tls = domains === undefined ? undefined : parseFileTls(o.tls, `${at}.tls`, domains.map(normalizeHostname), box, problems);
    if (id !== undefined) {
      const first = ids.get(id);
      if (first !== undefined) problems.push({ field: `${at}.id`, message: `"${id}" repeats [${first}].id` });
      else ids.set(id, i);
    }
    for (const d of domains ?? []) {
      const host = normalizeHostname(d);
      const owner = hosts.get(host);
      if (owner !== undefined && owner !== i) problems.push({ field: `${at}.domains`, message: `"${d}" already belongs to [${owner}]; a domain can belong to one customer only` });
      else hosts.set(host, i);
    }
    if (problems.length > before || id === undefined || domains === undefined || (originUrl === undefined && origins === undefined)) return;
    const all = origins ?? [primaryOrigin(normalizeOriginUrl(originUrl!), basicAuth === undefined ? null : { username: basicAuth.username, passwordCiphertext: box.seal(basicAuth.password) })];
    const preferred = preferredOrigin(all)!;
    customers.push({
      id,
      name: name?.trim() ?? id,
      originUrl: preferred.url,
      domains: domains.map(normalizeHostname),
      cacheTtl,
      basicAuth: preferred.basicAuth,
      cacheQuotaBytes,
      staleIfErrorSeconds,
      queryString,
      ...(tls === undefined ? {} : { tls }),
      ...(rules === undefined ? {} : { rules }),
      ...(compressTypes === undefined ? {} : { compressTypes }),
      origins: all,
      originPolicy: policy.policy,
      version: 1,
      updatedAt: now,
    });
  });
  if (problems.length > 0) throw invalidInput(problems);
  return customers;
}
