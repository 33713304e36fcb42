/**
 * Rows of `customer_origin` and the customer's `origin_policy` → core's OriginConfig and
 * OriginPolicy (passwords stay ciphertext: the config travels to the edges like that).
 */
import type { OriginBasicAuth } from '../../core/customer.types';
import { inPreferenceOrder, normalizeOriginPolicy, primaryOrigin } from '../../core/origin.rules';
import type { OriginConfig, OriginPolicy } from '../../core/origin.types';
import type { CustomerOriginEntity } from './customer-origin.entity';
import type { CustomerEntity } from './customer.entity';

/** Basic Auth counts only with both halves, as the customer's own columns always have. */
export function basicAuthOf(username: string | null, passwordEnc: string | null): OriginBasicAuth | null {
  return username !== null && passwordEnc !== null ? { username, passwordCiphertext: passwordEnc } : null;
}

export function toOriginConfig(row: CustomerOriginEntity): OriginConfig {
  return {
    name: row.name,
    url: row.url,
    basicAuth: basicAuthOf(row.basicAuthUsername, row.basicAuthPasswordEnc),
    priority: row.priority,
    weight: row.weight,
    hostHeader: row.hostHeader,
    tlsServerName: row.tlsServerName,
    healthCheck: row.healthCheck === null ? null : { ...row.healthCheck },
  };
}

/**
 * The customer's origins in preference order. They must have been loaded with the row
 * (customer.store.ts loads them with every customer): a config built without them would send
 * the edges a customer with no origin. A customer without rows (none is, since migration
 * 1795620000000) reads as its one `primary` origin, from its own columns.
 */
export function originsOfEntity(entity: CustomerEntity): OriginConfig[] {
  if (entity.origins === undefined) throw new Error(`customer ${entity.id} was read without its origins`);
  if (entity.origins.length === 0) return [primaryOrigin(entity.originUrl, basicAuthOf(entity.basicAuthUsername, entity.basicAuthPasswordEnc))];
  return inPreferenceOrder(entity.origins.map(toOriginConfig));
}

/** Every field present; null (and a NULL column): the edge's default. */
export function originPolicyOf(entity: CustomerEntity): OriginPolicy {
  return normalizeOriginPolicy(entity.originPolicy);
}
