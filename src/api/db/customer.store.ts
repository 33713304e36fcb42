/**
 * The customer queries: rows in, CustomerRecord / CustomerConfig out (customer.mapper.ts).
 * Services call these inside their own unit of work (`Database.transaction` / `read`), so a
 * mutation's checks, writes and outbox row commit together. Table names stay in db/.
 */
import { In, MoreThan } from 'typeorm';
import type { CustomerConfig, OriginBasicAuth, QueryStringPolicy } from '../../core/customer.types';
import type { DeliveryRule } from '../../core/delivery-rules.types';
import { primaryOrigin } from '../../core/origin.rules';
import { isPlainText } from '../../core/text.rules';
import type { HstsPolicy } from '../../core/tls.types';
import type { CustomerRecord } from '../domain/customer.types';
import { CustomerEntity } from './customer.entity';
import { toCustomerConfig, toCustomerRecord } from './customer.mapper';
import type { Tx } from './database';
import { DomainEntity } from './domain.entity';
import { replaceOrigins, updatePreferredOrigin } from './origin.store';
import { asUniqueViolation, conflictingValue } from './pg-errors';

/** A customer's own fields as services set them (the password already sealed). */
export interface CustomerFields {
  name: string;
  originUrl: string;
  cacheTtl: number;
  basicAuth: OriginBasicAuth | null;
  cacheQuotaBytes: number | null;
  staleIfErrorSeconds: number | null;
  queryString: QueryStringPolicy;
  /** null: redirect when a valid certificate covers the host. */
  httpsRedirect: boolean | null;
  /** null: no HSTS. */
  hsts: HstsPolicy | null;
  /** Validated and normalised (core/delivery-rules.rules.ts). */
  deliveryRules: DeliveryRule[];
  compressTypes: string[];
}

/**
 * What every read of a customer loads with it: its config carries its domains, and its
 * certificates, ACME challenges, signing keys and origins for the edges (customer.mapper.ts).
 * One query per relation rather than one join of them all, which would multiply the rows.
 */
const CUSTOMER_RELATIONS = { domains: true, certificates: true, acmeChallenges: true, signingKeys: true, origins: true } as const;

export interface NewCustomer extends CustomerFields {
  id: string;
  domains: readonly string[];
  /** Also its first updatedAt. */
  createdAt: Date;
  version: number;
}

/** Absent (undefined) keeps a field. */
export type CustomerPatch = Partial<CustomerFields> & { updatedAt: Date; version: number };

/** What a unique violation of a customer write was about. */
export type CustomerConflict = { on: 'domain'; hostname: string | undefined } | { on: 'id' };

/**
 * Ids are slugs, so one with control characters names no customer; PostgreSQL would refuse
 * a NUL in it with an error (the same guard sits before every lookup by a caller's id).
 */
export async function findCustomer(m: Tx, id: string): Promise<CustomerRecord | null> {
  if (!isPlainText(id)) return null;
  const row = await m.getRepository(CustomerEntity).findOne({ where: { id }, relations: CUSTOMER_RELATIONS, relationLoadStrategy: 'query' });
  return row ? toCustomerRecord(row) : null;
}

export function customerExists(m: Tx, id: string): Promise<boolean> {
  return m.getRepository(CustomerEntity).existsBy({ id });
}

/** Locks the row for the rest of the transaction (concurrent updates of one customer queue); null: no such customer. */
export async function lockCustomerForUpdate(m: Tx, id: string): Promise<{ version: number } | null> {
  const row = await m.getRepository(CustomerEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  return row ? { version: row.version } : null;
}

/**
 * Up to `limit` customers by id after the id `after`; `only`: just that one (none when
 * `after` is at or past it).
 */
export async function readCustomerPage(m: Tx, after: string | null, limit: number, only?: string): Promise<CustomerRecord[]> {
  const rows = await m.getRepository(CustomerEntity).find({
    where: only !== undefined ? (after && after >= only ? { id: In([]) } : { id: only }) : after ? { id: MoreThan(after) } : {},
    relations: CUSTOMER_RELATIONS,
    relationLoadStrategy: 'query',
    order: { id: 'ASC' },
    take: limit,
  });
  return rows.map((row) => toCustomerRecord(row));
}

/** Every customer, or (`only`) whether that one exists as 0 or 1. */
export function countCustomers(m: Tx, only?: string): Promise<number> {
  const repo = m.getRepository(CustomerEntity);
  return only !== undefined ? repo.count({ where: { id: only } }) : repo.count();
}

/** Every customer with its domains, by id, as the bus carries them (the snapshot). */
export async function readCustomerConfigs(m: Tx): Promise<CustomerConfig[]> {
  const rows = await m.getRepository(CustomerEntity).find({ relations: CUSTOMER_RELATIONS, relationLoadStrategy: 'query', order: { id: 'ASC' } });
  return rows.map((row) => toCustomerConfig(row));
}

/** Names of the customers among `ids` that exist. */
export async function readCustomerNames(m: Tx, ids: readonly string[]): Promise<Map<string, string>> {
  const rows = await m.getRepository(CustomerEntity).find({ where: { id: In([...ids]) }, select: { id: true, name: true } });
  return new Map(rows.map((r) => [r.id, r.name]));
}

/** When the customer was created; null when there is no such customer (any more). */
export async function readCustomerCreatedAt(m: Tx, id: string): Promise<Date | null> {
  const row = await m.getRepository(CustomerEntity).findOne({ where: { id }, select: { id: true, createdAt: true } });
  return row?.createdAt ?? null;
}

export async function insertCustomer(m: Tx, customer: NewCustomer): Promise<void> {
  await m.insert(CustomerEntity, {
    id: customer.id,
    name: customer.name,
    originUrl: customer.originUrl,
    cacheTtl: customer.cacheTtl,
    basicAuthUsername: customer.basicAuth?.username ?? null,
    basicAuthPasswordEnc: customer.basicAuth?.passwordCiphertext ?? null,
    cacheQuotaBytes: customer.cacheQuotaBytes === null ? null : String(customer.cacheQuotaBytes),
    staleIfErrorSeconds: customer.staleIfErrorSeconds,
    queryStringMode: customer.queryString.mode,
    queryStringAllow: customer.queryString.allow,
    httpsRedirect: customer.httpsRedirect,
    ...hstsColumns(customer.hsts),
    deliveryRules: customer.deliveryRules,
    compressTypes: customer.compressTypes,
    createdAt: customer.createdAt,
    updatedAt: customer.createdAt,
    version: customer.version,
  });
  await addDomains(m, customer.id, customer.domains, customer.createdAt);
  // A customer starts with one origin, `primary`: its originUrl and basicAuth (setOrigins adds more).
  await replaceOrigins(m, customer.id, [primaryOrigin(customer.originUrl, customer.basicAuth)], customer.createdAt);
}

export async function updateCustomer(m: Tx, id: string, patch: CustomerPatch): Promise<void> {
  const row: Partial<CustomerEntity> = { updatedAt: patch.updatedAt, version: patch.version };
  if (patch.name !== undefined) row.name = patch.name;
  if (patch.originUrl !== undefined) row.originUrl = patch.originUrl;
  if (patch.cacheTtl !== undefined) row.cacheTtl = patch.cacheTtl;
  if (patch.cacheQuotaBytes !== undefined) row.cacheQuotaBytes = patch.cacheQuotaBytes === null ? null : String(patch.cacheQuotaBytes);
  if (patch.staleIfErrorSeconds !== undefined) row.staleIfErrorSeconds = patch.staleIfErrorSeconds;
  if (patch.queryString !== undefined) {
    row.queryStringMode = patch.queryString.mode;
    row.queryStringAllow = patch.queryString.allow;
  }
  if (patch.httpsRedirect !== undefined) row.httpsRedirect = patch.httpsRedirect;
  if (patch.hsts !== undefined) Object.assign(row, hstsColumns(patch.hsts));
  if (patch.deliveryRules !== undefined) row.deliveryRules = patch.deliveryRules;
  if (patch.compressTypes !== undefined) row.compressTypes = patch.compressTypes;
  if (patch.basicAuth === null) {
    row.basicAuthUsername = null;
    row.basicAuthPasswordEnc = null;
  } else if (patch.basicAuth !== undefined) {
    row.basicAuthUsername = patch.basicAuth.username;
    row.basicAuthPasswordEnc = patch.basicAuth.passwordCiphertext;
  }
  await m.update(CustomerEntity, { id }, row);
  // originUrl and basicAuth are the preferred origin's: changing them changes that origin.
  if (patch.originUrl !== undefined || patch.basicAuth !== undefined) {
    await updatePreferredOrigin(m, id, { ...(patch.originUrl !== undefined ? { url: patch.originUrl } : {}), ...(patch.basicAuth !== undefined ? { basicAuth: patch.basicAuth } : {}) }, patch.updatedAt);
  }
}

function hstsColumns(hsts: HstsPolicy | null): Pick<CustomerEntity, 'hstsMaxAge' | 'hstsIncludeSubdomains' | 'hstsPreload'> {
  return { hstsMaxAge: hsts?.maxAge ?? null, hstsIncludeSubdomains: hsts?.includeSubDomains ?? false, hstsPreload: hsts?.preload ?? false };
}

/** Deletes the customer (its domains, purges, certificates and challenges go with it); false when there was none. */
export async function deleteCustomer(m: Tx, id: string): Promise<boolean> {
  const result = await m.delete(CustomerEntity, { id });
  return Boolean(result.affected);
}

/** The customer's hostnames, as stored. */
export async function customerDomains(m: Tx, customerId: string): Promise<string[]> {
  return (await m.getRepository(DomainEntity).findBy({ customerId })).map((d) => d.hostname);
}

/** Which customer holds each of `hostnames` that is taken. */
export async function domainOwners(m: Tx, hostnames: readonly string[]): Promise<Array<{ hostname: string; customerId: string }>> {
  const rows = await m.getRepository(DomainEntity).findBy({ hostname: In([...hostnames]) });
  return rows.map((d) => ({ hostname: d.hostname, customerId: d.customerId }));
}

/**
 * Other customers' domains that the certificate names `names` could cover: the exact names
 * themselves, and for a wildcard (`*.example.com`) every domain under `.example.com` (the
 * caller applies RFC 6125's one-label rule, core/certificate.rules.ts).
 */
export async function othersDomainsUnder(m: Tx, names: readonly string[], exceptCustomerId: string): Promise<Array<{ hostname: string; customerId: string }>> {
  if (names.length === 0) return [];
  const qb = m.getRepository(DomainEntity).createQueryBuilder('d').where('d.customer_id <> :except', { except: exceptCustomerId });
  const exact = names.filter((n) => !n.startsWith('*.'));
  const suffixes = names.filter((n) => n.startsWith('*.')).map((n) => `%${n.slice(1).replace(/[\\%_]/g, (c) => `\\${c}`)}`);
  qb.andWhere('(d.hostname IN (:...exact) OR d.hostname LIKE ANY(:suffixes))', { exact: exact.length > 0 ? exact : [''], suffixes });
  const rows = await qb.orderBy('d.hostname', 'ASC').getMany();
  return rows.map((d) => ({ hostname: d.hostname, customerId: d.customerId }));
}

/** The customer holding the hostname (normalised), or null. */
export async function domainOwner(m: Tx, hostname: string): Promise<string | null> {
  const row = await m.getRepository(DomainEntity).findOne({ where: { hostname } });
  return row?.customerId ?? null;
}

export async function addDomains(m: Tx, customerId: string, hostnames: readonly string[], at: Date): Promise<void> {
  await m.insert(DomainEntity, hostnames.map((hostname) => ({ hostname, customerId, createdAt: at })));
}

export async function removeDomains(m: Tx, hostnames: readonly string[]): Promise<void> {
  await m.delete(DomainEntity, { hostname: In([...hostnames]) });
}

/**
 * A unique violation from a customer write, by what it was about: a domain another customer
 * holds (its hostname when the error names it) or the customer id. Null for any other error.
 */
export function customerConflict(err: unknown): CustomerConflict | null {
  const violation = asUniqueViolation(err);
  if (!violation) return null;
  if (violation.constraint === 'pk_domain') return { on: 'domain', hostname: conflictingValue(violation) };
  return { on: 'id' };
}
