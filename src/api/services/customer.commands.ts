/**
 * What the customer service accepts: plain objects, independent of GraphQL, so the same
 * service serves the resolvers, the demo seeding and tests.
 */
export interface BasicAuthCommand {
  username: string;
  password: string;
}

export interface CreateCustomerCommand {
  id: string;
  name: string;
  originUrl: string;
  domains: string[];
  /** Defaults to CACHE_TTL_DEFAULT. */
  cacheTtl?: number;
  basicAuth?: BasicAuthCommand | null;
}

/** Absent (undefined) keeps a field. `basicAuth: null` removes Basic Auth; null elsewhere is an error. */
export interface UpdateCustomerCommand {
  name?: string | null;
  originUrl?: string | null;
  domains?: string[] | null;
  cacheTtl?: number | null;
  basicAuth?: BasicAuthCommand | null;
}

export interface PageRequest {
  first?: number;
  after?: string | null;
}
