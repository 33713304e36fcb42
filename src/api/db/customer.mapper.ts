/**
 * The explicit joins between the three shapes of a customer: the database row
 * (CustomerEntity + DomainEntity), the core CustomerConfig that travels over the bus
 * (password as ciphertext), and the GraphQL Customer (no password at all).
 */
import type { CustomerConfig } from '../../core/customer.types';
import { Customer } from '../graphql/customer.type';
import type { CustomerEntity } from './customer.entity';

function sortedDomains(entity: CustomerEntity): string[] {
  return (entity.domains ?? []).map((d) => d.hostname).sort();
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
  c.createdAt = createdAt;
  c.updatedAt = new Date(config.updatedAt);
  return c;
}
