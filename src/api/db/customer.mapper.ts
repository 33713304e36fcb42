/**
 * The explicit join between the database row of a customer (CustomerEntity + DomainEntity)
 * and the shapes the rest of the api sees: core's CustomerConfig, which travels over the bus
 * (password as ciphertext), and the CustomerRecord services return (the config plus the
 * creation time). The GraphQL Customer is graphql/customer.mapper.ts's business.
 */
import type { CustomerConfig, QueryStringPolicy } from '../../core/customer.types';
import type { CustomerRecord } from '../domain/customer.types';
import type { CustomerEntity } from './customer.entity';

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

export function toCustomerConfig(entity: CustomerEntity): CustomerConfig {
  return {
    id: entity.id,
    name: entity.name,
    originUrl: entity.originUrl,
    domains: sortedDomains(entity),
    cacheTtl: entity.cacheTtl,
    basicAuth:
      entity.basicAuthUsername !== null && entity.basicAuthPasswordEnc !== null
        ? { username: entity.basicAuthUsername, passwordCiphertext: entity.basicAuthPasswordEnc }
        : null,
    cacheQuotaBytes: quotaOf(entity),
    staleIfErrorSeconds: entity.staleIfErrorSeconds ?? null,
    queryString: queryStringOf(entity),
    version: entity.version,
    updatedAt: entity.updatedAt.toISOString(),
  };
}

export function toCustomerRecord(entity: CustomerEntity): CustomerRecord {
  return { ...toCustomerConfig(entity), createdAt: entity.createdAt };
}
