/**
 * What the origin service accepts: plain objects, independent of GraphQL (graphql/origin.input.ts
 * maps onto these), so the resolvers, the demo and tests share one service.
 */
import type { HealthCheckInput, OriginPolicyInput } from '../../core/origin.rules';
import type { BasicAuthCommand } from './customer.commands';

export interface OriginCommand {
  name: string;
  url: string;
  /**
   * New credentials; null: none. Absent with `keepBasicAuth` not true: none, except for an
   * origin of that name that has Basic Auth now, which is refused (passwords are never read
   * back, so a list sent back as it was read would otherwise drop them without a word).
   */
  basicAuth?: BasicAuthCommand | null;
  /** Keep the credentials the origin of this name has now (refused when it has none). */
  keepBasicAuth?: boolean | null;
  /** Absent or null: 1. */
  priority?: number | null;
  /** Absent or null: 1. */
  weight?: number | null;
  hostHeader?: string | null;
  tlsServerName?: string | null;
  /** Absent or null: passive checks only. */
  healthCheck?: HealthCheckInput | null;
}

/** Every field replaced; null or absent: the edge's default. */
export type OriginPolicyCommand = OriginPolicyInput;
