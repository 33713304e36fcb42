/**
 * Roles and what they allow, declared once.
 *
 * Two ladders, each role inheriting everything of the one below it:
 *   platform:  admin ⊃ operator ⊃ viewer
 *   customer:  customer-admin ⊃ customer-purger ⊃ customer-viewer
 * A platform role also holds a customer role for every customer (viewer: customer-viewer,
 * operator: customer-purger, admin: customer-admin), so one check serves both ladders.
 *
 * A token of a customer role carries one customer id and acts on that customer only;
 * platform tokens carry none and act on every customer.
 */

export const PLATFORM_ROLES = ['admin', 'operator', 'viewer'] as const;
export const CUSTOMER_ROLES = ['customer-admin', 'customer-purger', 'customer-viewer'] as const;
export const ROLES = [...PLATFORM_ROLES, ...CUSTOMER_ROLES] as const;

export type PlatformRole = (typeof PLATFORM_ROLES)[number];
export type CustomerRole = (typeof CUSTOMER_ROLES)[number];
export type Role = PlatformRole | CustomerRole;

/**
 * What a caller may do. `customer.*` (customer.audit too), `purge.*`, `stats.read` and `token.manage` are about
 * one customer; the `fleet.*`, `audit.read` and `customer.create`/`customer.delete` ones are
 * platform-wide and never held by a customer-scoped token.
 */
export const CAPABILITIES = {
  'customer.read': 'see the customer, its domains and settings',
  'customer.update': "change the customer's origin, domains and cache options",
  'customer.create': 'create customers',
  'customer.delete': 'delete customers',
  'purge.create': "purge and warm the customer's cache",
  'purge.read': "see the customer's purges and warms and their progress",
  'stats.read': "see the customer's live and recent cache statistics",
  'token.manage': 'create, list and revoke tokens (a customer admin: of its customer, up to its own role)',
  'customer.audit': "read the audit log's entries about the customer",
  'fleet.read': 'see edges and fleet-wide statistics',
  'audit.read': 'read the audit log',
  'webhook.fleet': "manage fleet-wide webhooks (every customer's events)",
} as const;

export type Capability = keyof typeof CAPABILITIES;

const PLATFORM_ONLY: ReadonlySet<Capability> = new Set<Capability>(['customer.create', 'customer.delete', 'fleet.read', 'audit.read', 'webhook.fleet']);

/** Each role's own grants and the roles it inherits: the one table the rest derives from. */
const ROLE_TABLE: Readonly<Record<Role, { inherits: readonly Role[]; grants: readonly Capability[] }>> = {
  'customer-viewer': { inherits: [], grants: ['customer.read', 'purge.read', 'stats.read'] },
  'customer-purger': { inherits: ['customer-viewer'], grants: ['purge.create'] },
  // customer.audit with token.manage: the log records who created and revoked tokens, which a viewer cannot list either.
  'customer-admin': { inherits: ['customer-purger'], grants: ['customer.update', 'token.manage', 'customer.audit'] },
  viewer: { inherits: ['customer-viewer'], grants: ['fleet.read'] },
  operator: { inherits: ['viewer', 'customer-purger'], grants: ['customer.create', 'customer.update', 'customer.delete'] },
  admin: { inherits: ['operator', 'customer-admin'], grants: ['audit.read', 'webhook.fleet'] },
};

function closure(role: Role, seen: Set<Role> = new Set()): Set<Role> {
  if (seen.has(role)) return seen;
  seen.add(role);
  for (const parent of ROLE_TABLE[role].inherits) closure(parent, seen);
  return seen;
}

/** role -> every role it includes (itself too). */
const INCLUDES: ReadonlyMap<Role, ReadonlySet<Role>> = new Map(ROLES.map((r) => [r, closure(r)]));
/** role -> every capability it holds. */
const HOLDS: ReadonlyMap<Role, ReadonlySet<Capability>> = new Map(
  ROLES.map((r) => [r, new Set([...INCLUDES.get(r)!].flatMap((included) => [...ROLE_TABLE[included].grants]))]),
);

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function isCustomerRole(role: Role): role is CustomerRole {
  return (CUSTOMER_ROLES as readonly string[]).includes(role);
}

/** Whether `role` includes `other` (every role includes itself). */
export function includesRole(role: Role, other: Role): boolean {
  return INCLUDES.get(role)!.has(other);
}

/** Every capability of a role, inherited ones included. */
export function capabilitiesOf(role: Role): ReadonlySet<Capability> {
  return HOLDS.get(role)!;
}

/** Who is acting: a role and, for customer roles, the one customer it acts on. */
export interface Grant {
  role: Role;
  /** Set exactly for customer roles. */
  customerId?: string;
}

/** An authenticated api caller (a `type`: graphql-ws context types need one, docs/CONTRIBUTING.md). */
export type Principal = {
  /** `admin`: the bootstrap CDN_ADMIN_TOKEN; `token`: an API token. */
  kind: 'admin' | 'token';
  role: Role;
  tokenId?: string;
  /** Set exactly for customer roles: the one customer this caller acts on. */
  customerId?: string;
  /** When the API token expires (epoch ms); the bootstrap admin token has none. Long-lived connections close then. */
  expiresAt?: number;
};

/**
 * Whether the grant allows `capability`, on `customerId` when the capability is about one
 * customer. Without a customer id, a customer-scoped grant is refused (it cannot act on
 * "all customers"); platform-only capabilities are refused to customer-scoped grants.
 */
export function allows(grant: Grant, capability: Capability, customerId?: string): boolean {
  if (!HOLDS.get(grant.role)!.has(capability)) return false;
  if (grant.customerId === undefined) return true;
  if (PLATFORM_ONLY.has(capability)) return false;
  return customerId !== undefined && customerId === grant.customerId;
}

/**
 * Whether a grant may create a token of `role` for `customerId`: it needs token.manage on
 * that customer (platform: admin), and a customer admin can hand out only customer roles
 * it includes, for its own customer.
 */
export function mayIssue(grant: Grant, role: Role, customerId: string | undefined): boolean {
  if (isCustomerRole(role) !== (customerId !== undefined)) return false;
  if (grant.customerId === undefined) return grant.role === 'admin';
  return customerId !== undefined && allows(grant, 'token.manage', customerId) && includesRole(grant.role, role);
}
