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
import { CACHE_TTL_DEFAULT, type QueryStringPolicy } from '../../core/customer.types';
import { invalidInput, type FieldProblem } from '../../core/errors';
import type { CreateCustomerCommand, UpdateCustomerCommand, BasicAuthCommand } from './customer.commands';
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
}

async function checkOrigin(value: string, field: string, policy: OriginPolicy): Promise<FieldProblem[]> {
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
  };
}

export async function validateUpdate(cmd: UpdateCustomerCommand, policy: OriginPolicy, prefix = 'input'): Promise<ValidUpdate> {
  const problems: FieldProblem[] = [];
  const valid: ValidUpdate = {};
  // null means "remove" only for basicAuth, cacheQuotaBytes and staleIfErrorSeconds; elsewhere it is a mistake worth naming.
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
  if (problems.length > 0) throw invalidInput(problems);
  return valid;
}
