/**
 * Checks a create or update command against core/customer.rules.ts and the origin
 * address policy, collecting every problem so the caller reports them all at once.
 * Field names are the GraphQL argument paths (`input.domains[1]`).
 */
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
import { checkCompressTypes, normalizeCompressTypes } from '../../core/delivery-rules.rules';
import { CACHE_TTL_DEFAULT, type QueryStringPolicy } from '../../core/customer.types';
import { invalidInput, type FieldProblem } from '../../core/errors';
import { HSTS_MAX_AGE_MAX, type HstsPolicy } from '../../core/tls.types';
import type { CreateCustomerCommand, UpdateCustomerCommand, BasicAuthCommand, HstsCommand } from './customer.commands';
import { checkOriginAddress, type ResolveAll } from './origin-address.check';

export interface OriginPolicy {
  allowPrivateOrigins: boolean;
  resolve?: ResolveAll;
}

/** A command that passed validation, normalised (hostnames lower-cased, URL canonical). */
export interface ValidCreate {
  id: string;
  name: string;
  originUrl: string;
  domains: string[];
  cacheTtl: number;
  basicAuth: BasicAuthCommand | null;
  cacheQuotaBytes: number | null;
  staleIfErrorSeconds: number | null;
  queryString: QueryStringPolicy;
  httpsRedirect: boolean | null;
  hsts: HstsPolicy | null;
  compressTypes: string[];
}

export interface ValidUpdate {
  name?: string;
  originUrl?: string;
  domains?: string[];
  cacheTtl?: number;
  /** undefined keeps, null removes. */
  basicAuth?: BasicAuthCommand | null;
  /** undefined keeps, null removes. */
  cacheQuotaBytes?: number | null;
  /** undefined keeps, null turns off. */
  staleIfErrorSeconds?: number | null;
  queryString?: QueryStringPolicy;
  /** undefined keeps, null restores the default. */
  httpsRedirect?: boolean | null;
  /** undefined keeps, null removes. */
  hsts?: HstsPolicy | null;
  compressTypes?: string[];
}

/** One year: the least max-age the browsers' HSTS preload lists accept (hstspreload.org). */
export const HSTS_PRELOAD_MIN_MAX_AGE = 365 * 24 * 3600;

/** An HSTS policy's problems: max-age in range; preload only with what the preload lists require. */
export function checkHsts(hsts: HstsCommand, field: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const maxAgeOk = Number.isInteger(hsts.maxAge) && hsts.maxAge >= 0 && hsts.maxAge <= HSTS_MAX_AGE_MAX;
  if (!maxAgeOk) {
    problems.push({ field: `${field}.maxAge`, message: `must be whole seconds from 0 to ${HSTS_MAX_AGE_MAX} (two years), got ${hsts.maxAge}; 0 tells browsers to forget the policy` });
  }
  if (hsts.preload === true && (hsts.maxAge < HSTS_PRELOAD_MIN_MAX_AGE || hsts.includeSubDomains !== true)) {
    problems.push({
      field: `${field}.preload`,
      message: `needs maxAge of at least ${HSTS_PRELOAD_MIN_MAX_AGE} (one year) and includeSubDomains: true, as the browsers' preload lists require; set both, or leave preload false`,
    });
  }
  return problems;
}

function hstsPolicy(hsts: HstsCommand): HstsPolicy {
  return { maxAge: hsts.maxAge, includeSubDomains: hsts.includeSubDomains === true, preload: hsts.preload === true };
}

/** An origin URL's problems: core's rules, then where it points (SSRF) unless the operator allows private origins. */
export async function checkOrigin(value: string, field: string, policy: OriginPolicy): Promise<FieldProblem[]> {
  const problems = checkOriginUrl(value, field);
  if (problems.length > 0 || policy.allowPrivateOrigins) return problems;
  return checkOriginAddress(value, { field, ...(policy.resolve ? { resolve: policy.resolve } : {}) });
}

function normalizeDomains(domains: string[]): string[] {
  return domains.map(normalizeHostname);
}

/** Throws CDN_ERR_INPUT_INVALID listing every problem, or returns the normalised command. */
export async function validateCreate(cmd: CreateCustomerCommand, policy: OriginPolicy, prefix = 'input'): Promise<ValidCreate> {
  const cacheTtl = cmd.cacheTtl ?? CACHE_TTL_DEFAULT;
  const problems = [
    ...checkCustomerId(cmd.id, `${prefix}.id`),
    ...checkCustomerName(cmd.name, `${prefix}.name`),
    ...(await checkOrigin(cmd.originUrl, `${prefix}.originUrl`, policy)),
    ...checkDomains(cmd.domains, `${prefix}.domains`),
    ...checkCacheTtl(cacheTtl, `${prefix}.cacheTtl`),
    ...(cmd.basicAuth ? checkBasicAuth(cmd.basicAuth, `${prefix}.basicAuth`) : []),
    ...checkCacheQuota(cmd.cacheQuotaBytes ?? null, `${prefix}.cacheQuotaBytes`),
    ...checkStaleIfError(cmd.staleIfErrorSeconds ?? null, `${prefix}.staleIfErrorSeconds`),
    ...(cmd.queryString ? checkQueryString(cmd.queryString, `${prefix}.queryString`) : []),
    ...(cmd.hsts ? checkHsts(cmd.hsts, `${prefix}.hsts`) : []),
    ...checkCompressTypes(cmd.compressTypes ?? [], `${prefix}.compressTypes`),
  ];
  if (problems.length > 0) throw invalidInput(problems);
  return {
    id: cmd.id,
    name: cmd.name.trim(),
    originUrl: normalizeOriginUrl(cmd.originUrl),
    domains: normalizeDomains(cmd.domains),
    cacheTtl,
    basicAuth: cmd.basicAuth ?? null,
    cacheQuotaBytes: cmd.cacheQuotaBytes ?? null,
    staleIfErrorSeconds: cmd.staleIfErrorSeconds ?? null,
    queryString: normalizeQueryString(cmd.queryString ?? { mode: 'keep' }),
    httpsRedirect: cmd.httpsRedirect ?? null,
    hsts: cmd.hsts ? hstsPolicy(cmd.hsts) : null,
    compressTypes: normalizeCompressTypes(cmd.compressTypes ?? []),
  };
}

export async function validateUpdate(cmd: UpdateCustomerCommand, policy: OriginPolicy, prefix = 'input'): Promise<ValidUpdate> {
  const problems: FieldProblem[] = [];
  const valid: ValidUpdate = {};
  // null means "remove" only for basicAuth, cacheQuotaBytes, staleIfErrorSeconds and hsts (httpsRedirect: the default); elsewhere it is a mistake worth naming.
  const notNull = (name: keyof UpdateCustomerCommand): boolean => {
    if (cmd[name] !== null) return cmd[name] !== undefined;
    problems.push({ field: `${prefix}.${name}`, message: 'must not be null; leave the field out to keep the current value' });
    return false;
  };
  if (notNull('name')) {
    problems.push(...checkCustomerName(cmd.name!, `${prefix}.name`));
    valid.name = cmd.name!.trim();
  }
  if (notNull('originUrl')) {
    const p = await checkOrigin(cmd.originUrl!, `${prefix}.originUrl`, policy);
    problems.push(...p);
    if (p.length === 0) valid.originUrl = normalizeOriginUrl(cmd.originUrl!);
  }
  if (notNull('domains')) {
    problems.push(...checkDomains(cmd.domains!, `${prefix}.domains`));
    valid.domains = normalizeDomains(cmd.domains!);
  }
  if (notNull('cacheTtl')) {
    problems.push(...checkCacheTtl(cmd.cacheTtl!, `${prefix}.cacheTtl`));
    valid.cacheTtl = cmd.cacheTtl!;
  }
  if (cmd.basicAuth !== undefined) {
    if (cmd.basicAuth !== null) problems.push(...checkBasicAuth(cmd.basicAuth, `${prefix}.basicAuth`));
    valid.basicAuth = cmd.basicAuth;
  }
  if (cmd.cacheQuotaBytes !== undefined) {
    problems.push(...checkCacheQuota(cmd.cacheQuotaBytes, `${prefix}.cacheQuotaBytes`));
    valid.cacheQuotaBytes = cmd.cacheQuotaBytes;
  }
  if (cmd.staleIfErrorSeconds !== undefined) {
    problems.push(...checkStaleIfError(cmd.staleIfErrorSeconds, `${prefix}.staleIfErrorSeconds`));
    valid.staleIfErrorSeconds = cmd.staleIfErrorSeconds;
  }
  if (notNull('queryString')) {
    const p = checkQueryString(cmd.queryString!, `${prefix}.queryString`);
    problems.push(...p);
    if (p.length === 0) valid.queryString = normalizeQueryString(cmd.queryString!);
  }
  if (cmd.httpsRedirect !== undefined) valid.httpsRedirect = cmd.httpsRedirect;
  if (cmd.hsts !== undefined) {
    if (cmd.hsts !== null) problems.push(...checkHsts(cmd.hsts, `${prefix}.hsts`));
    valid.hsts = cmd.hsts === null ? null : hstsPolicy(cmd.hsts);
  }
  if (notNull('compressTypes')) {
    problems.push(...checkCompressTypes(cmd.compressTypes!, `${prefix}.compressTypes`));
    valid.compressTypes = normalizeCompressTypes(cmd.compressTypes!);
  }
  if (problems.length > 0) throw invalidInput(problems);
  return valid;
}
