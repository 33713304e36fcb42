/**
 * The explicit joins between the three shapes of a customer: the database row
 * (CustomerEntity + DomainEntity), the core CustomerConfig that travels over the bus
 * (password as ciphertext), and the GraphQL Customer (no password at all).
 */
import type { CustomerConfig, QueryStringPolicy as CoreQueryStringPolicy } from '../../core/customer.types';
import { Customer } from '../graphql/customer.type';
import { QueryStringMode, QueryStringPolicy } from '../graphql/query-string.type';
import type { CustomerEntity } from './customer.entity';

function sortedDomains(entity: CustomerEntity): string[] {
  return (entity.domains ?? []).map((d) => d.hostname).sort();
}

// pg returns bigint as a string (2^63 does not fit a JS number); quotas are capped far below 2^53.
function quotaOf(entity: CustomerEntity): number | null {
  return entity.cacheQuotaBytes === null || entity.cacheQuotaBytes === undefined ? null : Number(entity.cacheQuotaBytes);
}

function queryStringOf(entity: CustomerEntity): CoreQueryStringPolicy {
  return { mode: entity.queryStringMode, allow: [...(entity.queryStringAllow ?? [])] };
}

const GRAPHQL_MODE: Record<CoreQueryStringPolicy['mode'], QueryStringMode> = {
  keep: QueryStringMode.KEEP,
  ignore: QueryStringMode.IGNORE,
  allowlist: QueryStringMode.ALLOWLIST,
};

/** Absent in configs written before the option existed: that meant keep. */
function toGraphqlQueryString(policy: CoreQueryStringPolicy | undefined): QueryStringPolicy {
  const q = new QueryStringPolicy();
  q.mode = GRAPHQL_MODE[policy?.mode ?? 'keep'];
  q.allow = [...(policy?.allow ?? [])];
  return q;
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

export function toGraphqlCustomer(entity: CustomerEntity): Customer {
  const c = new Customer();
  c.id = entity.id;
  c.name = entity.name;
  c.originUrl = entity.originUrl;
  c.domains = sortedDomains(entity);
  c.cacheTtl = entity.cacheTtl;
  c.hasBasicAuth = entity.basicAuthPasswordEnc !== null;
  c.cacheQuotaBytes = quotaOf(entity);
  c.staleIfErrorSeconds = entity.staleIfErrorSeconds ?? null;
  c.queryString = toGraphqlQueryString(queryStringOf(entity));
  c.createdAt = entity.createdAt;
  c.updatedAt = entity.updatedAt;
  return c;
}

/** For bus events, which carry a CustomerConfig but not the creation time. */
export function configToGraphqlCustomer(config: CustomerConfig, createdAt: Date): Customer {
  const c = new Customer();
  c.id = config.id;
  c.name = config.name;
  c.originUrl = config.originUrl;
  c.domains = [...config.domains].sort();
  c.cacheTtl = config.cacheTtl;
  c.hasBasicAuth = config.basicAuth !== null;
  c.cacheQuotaBytes = config.cacheQuotaBytes ?? null;
  c.staleIfErrorSeconds = config.staleIfErrorSeconds ?? null;
  c.queryString = toGraphqlQueryString(config.queryString);
  c.createdAt = createdAt;
  c.updatedAt = new Date(config.updatedAt);
  return c;
}
