/**
 * Certificate monitoring, like grant monitoring (access-stats.service.ts): how many
 * certificates there are per status and source, and how close the served ones are to
 * expiry against a warning and a critical window (CDN_CERTIFICATES_EXPIRY_*_DAYS). Read at
 * scrape time by the `cdn_api_certificates*` gauges (plugins/metrics.registry.ts); two
 * grouped queries per read, cached for a few seconds so that the gauges of one scrape, and
 * scrapers arriving together, share one read.
 */
import type { Database } from '../db/database';
import { readCertificateStats } from '../db/certificate.store';
import type { CertificateSource, CertificateStatus } from '../domain/certificate.types';

const DAY_MS = 24 * 3600 * 1000;
const CACHE_MS = 5_000;
/** Customers given their own soonest-expiry series: the soonest ones, so the fleet's soonest is always among them. */
export const SOONEST_CUSTOMERS = 100;

const STATUSES = ['PENDING', 'ISSUED', 'RENEWING', 'FAILED', 'EXPIRED'] as const satisfies readonly CertificateStatus[];
const SOURCES = ['ACME', 'UPLOADED'] as const satisfies readonly CertificateSource[];
// A status or source added to the domain type without being added here fails to compile: every pair must report, 0 included.
const allStatuses: Exclude<CertificateStatus, (typeof STATUSES)[number]> extends never ? true : never = true;
const allSources: Exclude<CertificateSource, (typeof SOURCES)[number]> extends never ? true : never = true;
void allStatuses;
void allSources;

/** Days before notAfter at which a served certificate is in the warning, then the critical window. */
export interface CertificateExpiryThresholds {
  warningDays: number;
  criticalDays: number;
}

export interface CertificateSnapshot {
  at: Date;
  /** Every status and source pair, 0 included. */
  counts: Array<{ status: CertificateStatus; source: CertificateSource; count: number }>;
  /** Served certificates whose notAfter falls within each window. */
  expiring: { warning: number; critical: number };
  /** The SOONEST_CUSTOMERS customers whose served certificates expire first: each one's soonest notAfter, soonest first. */
  soonest: Array<{ customerId: string; notAfter: Date }>;
}

export class CertificateStats {
  readonly #db: Database;
  readonly thresholds: Readonly<CertificateExpiryThresholds>;
  #cached: { at: number; snapshot: Promise<CertificateSnapshot> } | undefined;

  constructor(options: { db: Database; thresholds: Readonly<CertificateExpiryThresholds> }) {
    this.#db = options.db;
    this.thresholds = options.thresholds;
  }

  snapshot(now: number = Date.now()): Promise<CertificateSnapshot> {
    if (this.#cached !== undefined && now - this.#cached.at < CACHE_MS) return this.#cached.snapshot;
    const snapshot = this.#read(now);
    this.#cached = { at: now, snapshot };
    snapshot.catch(() => (this.#cached = undefined));
    return snapshot;
  }

  async #read(now: number): Promise<CertificateSnapshot> {
    const windowEnds = { warning: new Date(now + this.thresholds.warningDays * DAY_MS), critical: new Date(now + this.thresholds.criticalDays * DAY_MS) };
    const rows = await this.#db.read((m) => readCertificateStats(m, new Date(now), windowEnds, SOONEST_CUSTOMERS));
    const found = new Map(rows.counts.map((r) => [`${r.status}/${r.source}`, r.count]));
    const counts = STATUSES.flatMap((status) => SOURCES.map((source) => ({ status, source, count: found.get(`${status}/${source}`) ?? 0 })));
    return { at: new Date(now), counts, expiring: rows.expiring, soonest: rows.soonest };
  }
}
