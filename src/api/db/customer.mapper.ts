/**
 * The explicit join between the database row of a customer (CustomerEntity + DomainEntity)
 * and the shapes the rest of the api sees: core's CustomerConfig, which travels over the bus
 * (password as ciphertext), and the CustomerRecord services return (the config plus the
 * creation time). The GraphQL Customer is graphql/customer.mapper.ts's business.
 */
import type { CustomerConfig, QueryStringPolicy } from '../../core/customer.types';
import type { SigningKeyConfig } from '../../core/delivery-rules.types';
import type { CustomerTls, HstsPolicy } from '../../core/tls.types';
import type { CustomerRecord } from '../domain/customer.types';
import { toAcmeChallenges, toEdgeCertificates } from './certificate.mapper';
import type { CustomerEntity } from './customer.entity';
import { originPolicyOf, originsOfEntity } from './origin.mapper';

function sortedDomains(entity: CustomerEntity): string[] {
  return (entity.domains ?? []).map((d) => d.hostname).sort();
}

// pg returns bigint as a string (2^63 does not fit a JS number); quotas are capped far below 2^53.
function quotaOf(entity: CustomerEntity): number | null {
  return entity.cacheQuotaBytes === null || entity.cacheQuotaBytes === undefined ? null : Number(entity.cacheQuotaBytes);
}

function queryStringOf(entity: CustomerEntity): QueryStringPolicy {
  return { mode: entity.queryStringMode, allow: [...(entity.queryStringAllow ?? [])] };
}

function hstsOf(entity: CustomerEntity): HstsPolicy | null {
  if (entity.hstsMaxAge === null || entity.hstsMaxAge === undefined) return null;
  return { maxAge: entity.hstsMaxAge, includeSubDomains: entity.hstsIncludeSubdomains, preload: entity.hstsPreload };
}

/**
 * What the edges know of the customer's HTTPS. The certificates and challenges must have
 * been loaded with the row (customer.store.ts loads them with every customer): a config
 * built without them would withdraw every certificate from the edges.
 */
function tlsOf(entity: CustomerEntity, nowMs: number): CustomerTls {
  if (entity.certificates === undefined || entity.acmeChallenges === undefined) {
    throw new Error(`customer ${entity.id} was read without its certificates and ACME challenges`);
  }
  return {
    certificates: toEdgeCertificates(entity.certificates, nowMs),
    httpsRedirect: entity.httpsRedirect ?? null,
    hsts: hstsOf(entity),
    acmeChallenges: toAcmeChallenges(entity.acmeChallenges),
  };
}

/** The customer's signing keys, oldest first; like the certificates, they must have been loaded with the row. */
function signingKeysOf(entity: CustomerEntity): SigningKeyConfig[] {
  if (entity.signingKeys === undefined) throw new Error(`customer ${entity.id} was read without its signing keys`);
  return [...entity.signingKeys]
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1))
    .map((k) => ({ id: k.id, secretCiphertext: k.secretEnc, createdAt: k.createdAt.toISOString() }));
}

export function toCustomerConfig(entity: CustomerEntity, nowMs: number = Date.now()): CustomerConfig {
  // originUrl and basicAuth: the preferred origin's (the first), for readers that know one origin.
  const origins = originsOfEntity(entity);
  const preferred = origins[0]!;
  return {
    id: entity.id,
    name: entity.name,
    originUrl: preferred.url,
    domains: sortedDomains(entity),
    cacheTtl: entity.cacheTtl,
    basicAuth: preferred.basicAuth === null ? null : { ...preferred.basicAuth },
    cacheQuotaBytes: quotaOf(entity),
    staleIfErrorSeconds: entity.staleIfErrorSeconds ?? null,
    queryString: queryStringOf(entity),
    tls: tlsOf(entity, nowMs),
    rules: [...(entity.deliveryRules ?? [])],
    signingKeys: signingKeysOf(entity),
    compressTypes: [...(entity.compressTypes ?? [])],
    origins,
    originPolicy: originPolicyOf(entity),
    version: entity.version,
    updatedAt: entity.updatedAt.toISOString(),
  };
}

export function toCustomerRecord(entity: CustomerEntity, nowMs: number = Date.now()): CustomerRecord {
  return { ...toCustomerConfig(entity, nowMs), createdAt: entity.createdAt };
}
