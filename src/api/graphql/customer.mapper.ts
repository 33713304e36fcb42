/**
 * Customer → GraphQL Customer: from the CustomerRecord services return, or from the
 * CustomerConfig a bus event carries (with the creation time looked up). The GraphQL
 * Customer has no password at all, only whether there is one, and no certificate key.
 */
import type { CustomerConfig, QueryStringPolicy } from '../../core/customer.types';
import type { HstsPolicy } from '../../core/tls.types';
import type { CustomerRecord } from '../domain/customer.types';
import { defaultRule } from '../../core/delivery-rules.compile';
import { Customer } from './customer.type';
import { toGraphqlRules } from './delivery-rule.type';
import { SigningKey } from './signing-key.type';
import { Hsts } from './hsts.type';
import { toGraphqlOriginPolicy, toGraphqlOrigins } from './origin.mapper';
import { QueryStringMode, QueryStringPolicy as GraphqlQueryStringPolicy } from './query-string.type';

const GRAPHQL_MODE: Record<QueryStringPolicy['mode'], QueryStringMode> = {
  keep: QueryStringMode.KEEP,
  ignore: QueryStringMode.IGNORE,
  allowlist: QueryStringMode.ALLOWLIST,
};

/** Absent in configs written before the option existed: that meant keep. */
function toGraphqlQueryString(policy: QueryStringPolicy | undefined): GraphqlQueryStringPolicy {
  const q = new GraphqlQueryStringPolicy();
  q.mode = GRAPHQL_MODE[policy?.mode ?? 'keep'];
  q.allow = [...(policy?.allow ?? [])];
  return q;
}

function toGraphqlHsts(policy: HstsPolicy | null | undefined): Hsts | null {
  return policy ? Object.assign(new Hsts(), { maxAge: policy.maxAge, includeSubDomains: policy.includeSubDomains, preload: policy.preload }) : null;
}

export function toGraphqlCustomer(customer: CustomerRecord): Customer {
  return configToGraphqlCustomer(customer, customer.createdAt);
}

/** For bus events, which carry a CustomerConfig but not the creation time. */
export function configToGraphqlCustomer(config: CustomerConfig, createdAt: Date): Customer {
  const c = new Customer();
  c.id = config.id;
  c.name = config.name;
  c.originUrl = config.originUrl;
  c.origins = toGraphqlOrigins(config);
  c.originPolicy = toGraphqlOriginPolicy(config);
  c.domains = [...config.domains].sort();
  c.cacheTtl = config.cacheTtl;
  c.hasBasicAuth = config.basicAuth !== null;
  c.cacheQuotaBytes = config.cacheQuotaBytes ?? null;
  c.staleIfErrorSeconds = config.staleIfErrorSeconds ?? null;
  c.queryString = toGraphqlQueryString(config.queryString);
  // Only the options: the certificates are the `certificates` query's, and never with their keys.
  c.httpsRedirect = config.tls?.httpsRedirect ?? null;
  c.hsts = toGraphqlHsts(config.tls?.hsts);
  c.rules = toGraphqlRules(config.rules ?? []);
  c.defaultRule = toGraphqlRules([defaultRule(config)])[0]!;
  c.compressTypes = [...(config.compressTypes ?? [])];
  c.signingKeys = (config.signingKeys ?? []).map((k) => Object.assign(new SigningKey(), { id: k.id, createdAt: new Date(k.createdAt) }));
  c.createdAt = createdAt;
  c.updatedAt = new Date(config.updatedAt);
  return c;
}
