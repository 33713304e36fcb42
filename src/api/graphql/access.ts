/**
 * Access checks, one rule for every operation: the caller's role must hold the capability
 * (core/roles.ts), and a customer-scoped caller may only touch its own customer. Another
 * customer answers NOT_FOUND, exactly as an unknown one does, so ids cannot be probed.
 *
 * Resolvers declare what they need with `@Authorized('<capability>')`, or
 * `@Authorized('<capability>@<argument path>')` when an argument names the customer
 * (`purge.create@input.customerId`); the authChecker (auth.checker.ts) applies it. Code that
 * learns the customer only later (a purge by id, subscription events) calls `requireAccess`
 * or `mayAccess` itself.
 */
import { cdnError } from '../../core/errors';
import { allows, capabilitiesOf, CAPABILITIES, type Capability } from '../../core/roles';
import type { Principal } from '../services/bearer.authenticator';
import type { ApiContext } from './context.type';

/** Throws CDN_ERR_AUTH_MISSING, CDN_ERR_AUTH_FORBIDDEN or (another customer) CDN_ERR_CUSTOMER_NOT_FOUND. */
export function requireAccess(ctx: Pick<ApiContext, 'principal'>, capability: Capability, customerId?: string): Principal {
  const principal = ctx.principal;
  if (principal === null) throw cdnError('CDN_ERR_AUTH_MISSING');
  if (!capabilitiesOf(principal.role).has(capability)) throw cdnError('CDN_ERR_AUTH_FORBIDDEN', CAPABILITIES[capability]);
  if (principal.customerId === undefined) return principal;
  if (customerId !== undefined && customerId !== principal.customerId) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
  // Scoped callers reach only what is about their customer.
  if (!allows(principal, capability, customerId ?? principal.customerId)) throw cdnError('CDN_ERR_AUTH_FORBIDDEN', CAPABILITIES[capability]);
  return principal;
}

/** Whether the caller may see something of `customerId` (filters lists and subscription events). */
export function mayAccess(principal: Principal | null, capability: Capability, customerId: string): boolean {
  return principal !== null && allows(principal, capability, customerId);
}

/** Parses `capability` or `capability@arg.path` as written in `@Authorized(...)`. */
export function parseRequirement(spec: string): { capability: Capability; argPath?: string[] } {
  const [capability, path] = spec.split('@') as [string, string | undefined];
  if (!(capability in CAPABILITIES)) throw new Error(`@Authorized('${spec}'): unknown capability "${capability}" (see core/roles.ts)`);
  return { capability: capability as Capability, argPath: path?.split('.') };
}

/** The customer id an argument path points at (undefined when absent). */
export function argAt(args: Record<string, unknown>, path: readonly string[] | undefined): string | undefined {
  if (path === undefined) return undefined;
  let value: unknown = args;
  for (const key of path) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return typeof value === 'string' ? value : undefined;
}
