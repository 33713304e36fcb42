/**
 * Grant monitoring: how many live tokens each platform role and each customer has, against
 * warning and critical thresholds (many admin tokens, or a customer with hundreds of
 * tokens, usually means tokens are shared or never cleaned up). Read by the `accessStats`
 * query and, at scrape time, by the `cdn_api_tokens_active` / `cdn_api_tokens_threshold`
 * gauges. One grouped query, cached for a few seconds.
 */
import { PLATFORM_ROLES, type PlatformRole } from '../../core/roles';
import type { Database } from '../db/database';
import { countLiveTokens } from '../db/token.store';

export type GrantLevel = 'ok' | 'warning' | 'critical';

export interface GrantThreshold {
  warning: number;
  critical: number;
}

export interface GrantThresholds {
  /** Per platform role. */
  roles: Readonly<Record<PlatformRole, GrantThreshold>>;
  /** Per customer, all its customer roles together. */
  customer: GrantThreshold;
}

export interface AccessSnapshot {
  at: Date;
  totalActive: number;
  roles: Array<{ role: PlatformRole; active: number; level: GrantLevel } & GrantThreshold>;
  /** Customers with at least one live token, most first. */
  customers: Array<{ customerId: string; active: number; level: GrantLevel }>;
}

const CACHE_MS = 5_000;

export function levelOf(count: number, t: GrantThreshold): GrantLevel {
  return count >= t.critical ? 'critical' : count >= t.warning ? 'warning' : 'ok';
}

export class AccessStats {
  readonly #db: Database;
  readonly thresholds: GrantThresholds;
  #cached: { at: number; snapshot: Promise<AccessSnapshot> } | undefined;

  constructor(options: { db: Database; thresholds: GrantThresholds }) {
    this.#db = options.db;
    this.thresholds = options.thresholds;
  }

  snapshot(now: number = Date.now()): Promise<AccessSnapshot> {
    if (this.#cached !== undefined && now - this.#cached.at < CACHE_MS) return this.#cached.snapshot;
    const snapshot = this.#read(now);
    this.#cached = { at: now, snapshot };
    snapshot.catch(() => (this.#cached = undefined));
    return snapshot;
  }

  async #read(now: number): Promise<AccessSnapshot> {
    const rows = await this.#db.read((m) => countLiveTokens(m, new Date(now)));
    const byRole = new Map<string, number>();
    const byCustomer = new Map<string, number>();
    for (const r of rows) {
      if (r.customerId === null) byRole.set(r.role, (byRole.get(r.role) ?? 0) + r.count);
      else byCustomer.set(r.customerId, (byCustomer.get(r.customerId) ?? 0) + r.count);
    }
    const roles = PLATFORM_ROLES.map((role) => {
      const active = byRole.get(role) ?? 0;
      return { role, active, ...this.thresholds.roles[role], level: levelOf(active, this.thresholds.roles[role]) };
    });
    const customers = [...byCustomer]
      .map(([customerId, active]) => ({ customerId, active, level: levelOf(active, this.thresholds.customer) }))
      .sort((a, b) => b.active - a.active || a.customerId.localeCompare(b.customerId));
    const totalActive = rows.reduce((sum, r) => sum + r.count, 0);
    return { at: new Date(now), totalActive, roles, customers };
  }
}
