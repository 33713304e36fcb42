/** A config's origins and origin policy → GraphQL (no password: hasBasicAuth only). */
import type { CustomerConfig } from '../../core/customer.types';
import { normalizeOriginPolicy, originsOf } from '../../core/origin.rules';
import { OriginGql, OriginHealthCheckGql, OriginPolicyGql } from './origin.type';

/** In preference order; a config from before several origins (none listed) shows its one `primary`. */
export function toGraphqlOrigins(config: Pick<CustomerConfig, 'originUrl' | 'basicAuth' | 'origins'>): OriginGql[] {
  return originsOf(config).map((o) =>
    Object.assign(new OriginGql(), {
      name: o.name,
      url: o.url,
      hasBasicAuth: o.basicAuth !== null,
      priority: o.priority,
      weight: o.weight,
      hostHeader: o.hostHeader,
      tlsServerName: o.tlsServerName,
      healthCheck: o.healthCheck === null ? null : Object.assign(new OriginHealthCheckGql(), o.healthCheck),
    }),
  );
}

export function toGraphqlOriginPolicy(config: Pick<CustomerConfig, 'originPolicy'>): OriginPolicyGql {
  return Object.assign(new OriginPolicyGql(), normalizeOriginPolicy(config.originPolicy));
}
