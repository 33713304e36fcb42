/**
 * Certificates from an ACME CA, end to end: requested (requestCertificate, or automatically
 * for every domain no certificate covers), issued through acme.client.ts with HTTP-01 answered
 * by every edge, renewed before expiry, retried with back-off, expired when past notAfter.
 *
 * The work is rows of the `certificate` table, not state in this process: a sweep (every
 * CDN_ACME_CHECK_INTERVAL_MS, and at once after a request) takes due rows one at a time by a
 * lease (claimCertificate: of several api replicas, one takes a row; a replica that dies
 * mid-order leaves the row due again when the lease ends). Every state change is a customer
 * change (customer-announce.ts), so the edges, the snapshot and the certificateStatus
 * subscription all see it:
 *
 *   PENDING ──issue ok──▶ ISSUED ──renew_at──▶ RENEWING ──ok──▶ ISSUED (the same row, new material)
 *      │                                          │
 *      └─fail─▶ FAILED (lastError, back-off) ◀────┘ fail while the old one is still valid:
 *                                                     stays RENEWING (served), lastError, back-off
 *   ISSUED/RENEWING past notAfter ──▶ EXPIRED (no longer served)
 *
 * HTTP-01 challenges are published as customer changes too; the CA is told to check only once
 * every live edge reports having applied the change (the fleet's appliedSeq), or after
 * CDN_ACME_PROPAGATION_TIMEOUT_MS.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { oneLine } from '../../core/certificate-upload.rules';
import { normalizeHostname } from '../../core/customer.rules';
import { cdnError, invalidInput, type FieldProblem } from '../../core/errors';
import type { EdgeStatus } from '../../core/fleet.port';
import type { SecretBox } from '../../core/secret-box';
import { isPlainText } from '../../core/text.rules';
import type { Logger } from '../../obs/logger.factory';
import { keepAcmeAccountKey, readAcmeAccountKey } from '../db/acme-account.store';
import {
  claimCertificate,
  countCertificates,
  deleteAcmeChallenges,
  expireCertificates,
  findCertificate,
  insertAcmeChallenge,
  insertCertificate,
  readCertificatesDue,
  readUncoveredDomains,
  updateCertificate,
  readCertificatesExpiringBefore,
} from '../db/certificate.store';
import { maxChangeSeq } from '../db/change-log.writer';
import { customerDomains } from '../db/customer.store';
import type { Database, Tx } from '../db/database';
import type { CertificateRecord } from '../domain/certificate.types';
import { AcmeIssueError, createAcmeIssuer, type AcmeIssuer, type HttpChallenge } from './acme.client';
import { CERTIFICATES_PER_CUSTOMER_MAX } from './certificate.service';
import { announceCustomer, lockCustomer } from './customer-announce';
import type { Audience } from './customer.service';
import { NO_WEBHOOK_OUTBOX, type WebhookOutbox } from './webhook.service';

/** What the api's configuration says of ACME (config.ts reads it from CDN_ACME_*). */
export interface AcmeSettings {
  /** CDN_ACME_DIRECTORY_URL: the CA's directory (Let's Encrypt: https://acme-v02.api.letsencrypt.org/directory). */
  directoryUrl: string;
  /** CDN_ACME_EMAIL: the account's contact. */
  email: string | undefined;
  /** Content of CDN_ACME_CA_FILE: an extra CA to trust for the ACME server's HTTPS (test and private CAs). */
  caPem: string | undefined;
  /** CDN_ACME_AUTO: every domain without a certificate gets one requested (default true). */
  auto: boolean;
  /** How often the scheduler looks for work (requests, renewals, expiries). */
  checkIntervalMs: number;
  /** Renew this many days before expiry (or at two thirds of a shorter lifetime). */
  renewBeforeDays: number;
  /** First wait after a failure; doubled per failure, at most a day. */
  retryBaseMs: number;
  /** Longest wait for every live edge to hold a challenge before the CA is told to check it. */
  propagationTimeoutMs: number;
}

/** How long one attempt may hold a certificate before another replica may take it. */
const LEASE_MS = 10 * 60_000;
/** Rows taken per sweep (each attempt takes seconds: the rest wait for the next sweep). */
const BATCH = 10;
/** New automatic requests per sweep. */
const AUTO_BATCH = 50;
const DAY_MS = 24 * 3600_000;

export interface AcmeOrdersOptions {
  db: Database;
  secretBox: SecretBox;
  logger: Logger;
  /** The ACME settings; undefined: requests are refused (CDN_ERR_ACME_NOT_CONFIGURED), only expiry runs. */
  settings: Readonly<AcmeSettings> | undefined;
  /** The live edges and the change seq each has applied (the fleet channel). */
  liveEdges: () => Promise<EdgeStatus[]>;
  /** Called after each committed change (not awaited): wakes the relay. */
  onCommitted?: () => void;
  /** Where certificate.issued / .failed (with the order's outcome) and .expiring (each sweep) go. */
  events?: WebhookOutbox;
  /** certificate.expiring: a served certificate this close to its notAfter (CDN_CERTIFICATES_EXPIRY_WARNING_DAYS). */
  expiringWithinDays?: number;
  now?: () => number;
}

export class AcmeOrders {
  readonly #db: Database;
  readonly #box: SecretBox;
  readonly #log: Logger;
  readonly #settings: Readonly<AcmeSettings> | undefined;
  readonly #liveEdges: () => Promise<EdgeStatus[]>;
  readonly #onCommitted: () => void;
  readonly #events: WebhookOutbox;
  readonly #expiringWithinMs: number;
  readonly #now: () => number;
  #issuer: Promise<AcmeIssuer> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = new AbortController();

  constructor(options: AcmeOrdersOptions) {
    this.#db = options.db;
    this.#box = options.secretBox;
    this.#log = options.logger;
    this.#settings = options.settings;
    this.#liveEdges = options.liveEdges;
    this.#onCommitted = options.onCommitted ?? (() => {});
    this.#events = options.events ?? NO_WEBHOOK_OUTBOX;
    this.#expiringWithinMs = (options.expiringWithinDays ?? 14) * DAY_MS;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Asks for a certificate for `domains` (each one of the customer's own domains: HTTP-01
   * cannot prove a wildcard). Returns the PENDING certificate at once; the sweep issues it.
   */
  async request(customerId: string, domains: readonly string[], audience: Audience): Promise<CertificateRecord> {
    if (this.#settings === undefined) throw cdnError('CDN_ERR_ACME_NOT_CONFIGURED');
    const names = [...new Set(domains.map(normalizeHostname))];
    const problems: FieldProblem[] = [];
    if (names.length === 0) problems.push({ field: 'domains', message: 'must name at least one of the customer\'s domains' });
    if (names.length > 100) problems.push({ field: 'domains', message: `names ${names.length} domains; one certificate may name at most 100` });
    if (problems.length > 0) throw invalidInput(problems);
    const record = await this.#db.transaction(async (m) => {
      const { version } = await lockCustomer(m, customerId);
      if (audience.customerId !== undefined && audience.customerId !== customerId) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
      const own = new Set(await customerDomains(m, customerId));
      const foreign = names.map((name, i) => ({ name, i })).filter(({ name }) => !own.has(name));
      if (foreign.length > 0) {
        throw invalidInput(
          foreign.map(({ name, i }) => ({
            field: `domains[${i}]`,
            message: isPlainText(name) && !name.startsWith('*.')
              ? `"${name}" is not a domain of customer "${customerId}": add it to the customer first (updateCustomer), then request its certificate`
              : 'must be one of the customer\'s domains (no wildcards: ACME HTTP-01 cannot prove them; upload a wildcard certificate instead)',
          })),
        );
      }
      const held = await countCertificates(m, customerId);
      if (held >= CERTIFICATES_PER_CUSTOMER_MAX) {
        throw invalidInput([{ field: 'customerId', message: `customer "${customerId}" already has ${held} certificates, the most it may keep: delete those it no longer needs (deleteCertificate), then request again` }]);
      }
      const inserted = await this.#insertPending(m, customerId, names);
      await announceCustomer(m, customerId, version);
      return inserted;
    });
    this.#onCommitted();
    this.#log.info({ customerId, certificateId: record.id, domains: record.domains }, 'certificate requested (ACME)');
    this.kick();
    return record;
  }

  /** Sweeps every CDN_ACME_CHECK_INTERVAL_MS (expiry runs even without ACME: uploaded certificates expire too). */
  start(): void {
    const every = this.#settings?.checkIntervalMs ?? 60_000;
    this.#timer = setInterval(() => this.kick(), every);
    this.#timer.unref();
    this.kick();
  }

  /** A sweep now (or right after the one running). */
  kick(): void {
    if (this.#stopped.signal.aborted) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.sweep()
      .catch((err: unknown) => this.#log.warn({ err: errorText(err) }, 'certificate sweep failed; the next one retries'))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  /** Stops sweeping; an order under way is cancelled (its certificate comes due again after its lease). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#stopped.abort();
    await this.#running;
  }

  /** One pass: expire, request for uncovered domains, then take due certificates one at a time. */
  async sweep(): Promise<void> {
    await this.#expire();
    await this.#reportExpiring();
    if (this.#settings === undefined) return;
    if (this.#settings.auto) await this.#requestUncovered();
    const due = await this.#db.read((m) => readCertificatesDue(m, ['PENDING', 'FAILED', 'ISSUED', 'RENEWING'], new Date(this.#now()), BATCH));
    for (const certificate of due) {
      if (this.#stopped.signal.aborted) return;
      if (certificate.source !== 'ACME' || certificate.renewAt === null) continue;
      await this.#attempt(certificate);
    }
  }

  /**
   * certificate.expiring for every served certificate within the warning window: each sweep
   * reports them again, and the dedup key (certificate, notAfter) makes it one event per
   * certificate material, however many sweeps and replicas; a renewal's new notAfter is a new
   * fact. Uploaded certificates too (nothing renews those).
   */
  async #reportExpiring(): Promise<void> {
    const now = this.#now();
    try {
      const expiring = await this.#db.read((m) => readCertificatesExpiringBefore(m, new Date(now), new Date(now + this.#expiringWithinMs), BATCH));
      await this.#events.emit(
        expiring.map((c) => ({
          type: 'certificate.expiring' as const,
          customerId: c.customerId,
          dedupKey: `certificate.expiring:${c.id}:${c.notAfter!.getTime()}`,
          occurredAt: new Date(now),
          data: { certificateId: c.id, domains: c.domains, source: c.source, status: c.status, notAfter: c.notAfter!.toISOString() },
        })),
      );
    } catch (err) {
      this.#log.warn({ err: errorText(err) }, 'cannot report expiring certificates; retrying at the next sweep');
    }
  }

  async #expire(): Promise<void> {
    const at = new Date(this.#now());
    const customers = await this.#db.read((m) => expireCertificates(m, at));
    for (const customerId of customers) {
      await this.#db.transaction(async (m) => {
        const { version } = await lockCustomer(m, customerId);
        await announceCustomer(m, customerId, version);
      }).catch((err: unknown) => this.#log.warn({ customerId, err: errorText(err) }, 'cannot announce expired certificates'));
      this.#log.warn({ customerId }, 'certificate expired: no longer served');
    }
    if (customers.length > 0) this.#onCommitted();
  }

  async #requestUncovered(): Promise<void> {
    const uncovered = await this.#db.read((m) => readUncoveredDomains(m, AUTO_BATCH, CERTIFICATES_PER_CUSTOMER_MAX));
    for (const { customerId, domain } of uncovered) {
      try {
        const requested = await this.#db.transaction(async (m) => {
          const { version } = await lockCustomer(m, customerId);
          if ((await countCertificates(m, customerId)) >= CERTIFICATES_PER_CUSTOMER_MAX) return false;
          await this.#insertPending(m, customerId, [domain]);
          await announceCustomer(m, customerId, version);
          return true;
        });
        if (!requested) {
          this.#log.warn(
            { customerId, domain, max: CERTIFICATES_PER_CUSTOMER_MAX },
            'no certificate requested for a domain without one: the customer holds the most certificates it may; request one naming several domains (requestCertificate) or delete unused ones',
          );
          continue;
        }
        this.#onCommitted();
        this.#log.info({ customerId, domain }, 'certificate requested automatically (ACME) for a domain without one');
      } catch (err) {
        // The customer went away meanwhile, or the database: the next sweep looks again.
        this.#log.warn({ customerId, domain, err: errorText(err) }, 'cannot request a certificate for a new domain');
      }
    }
  }

  #insertPending(m: Tx, customerId: string, domains: string[]): Promise<CertificateRecord> {
    const at = new Date(this.#now());
    return insertCertificate(m, {
      id: randomUUID(),
      customerId,
      domains,
      source: 'ACME',
      status: 'PENDING',
      certPem: null,
      keyCiphertext: null,
      notBefore: null,
      notAfter: null,
      issuer: null,
      renewAt: at,
      createdAt: at,
    });
  }

  /** One order for one certificate, under its lease. */
  async #attempt(certificate: CertificateRecord): Promise<void> {
    const now = this.#now();
    const serving = certificate.status === 'ISSUED' || certificate.status === 'RENEWING';
    const claimed = await this.#db.transaction((m) =>
      claimCertificate(m, certificate.id, certificate.renewAt!, new Date(now + LEASE_MS), serving ? 'RENEWING' : certificate.status),
    );
    if (!claimed) return;
    const log = this.#log.child({ certificateId: certificate.id, customerId: certificate.customerId, domains: certificate.domains });
    // Still the customer's names? A domain removed since is not ordered again.
    const own = new Set(await this.#db.read((m) => customerDomains(m, certificate.customerId)));
    const gone = certificate.domains.filter((d) => !own.has(d));
    if (gone.length > 0) {
      await this.#settle(certificate.id, {
        ok: false,
        serving,
        retry: false,
        message: `not renewed: ${gone.join(', ')} ${gone.length === 1 ? 'is' : 'are'} no longer a domain of customer "${certificate.customerId}"`,
      });
      return;
    }
    log.info({ renewal: serving }, 'ordering a certificate (ACME)');
    try {
      const issuer = await this.#issuerOnce();
      const issued = await issuer.issue({
        domains: certificate.domains,
        publish: (challenge) => this.#publish(certificate, challenge),
        unpublish: () => this.#unpublish(certificate),
        signal: this.#stopped.signal,
      });
      await this.#settle(certificate.id, { ok: true, issued });
      log.info({ notAfter: issued.notAfter.toISOString() }, 'certificate issued (ACME)');
    } catch (err) {
      const message = err instanceof AcmeIssueError ? err.message : `the order failed: ${errorText(err)}`;
      if (this.#stopped.signal.aborted) return; // Shutting down: the lease lets another replica (or the next start) take it.
      await this.#settle(certificate.id, { ok: false, serving, retry: true, message, attempts: certificate.attempts + 1 });
      log.warn({ err: message }, 'certificate order failed; retried after a back-off');
    }
  }

  async #publish(certificate: CertificateRecord, challenge: HttpChallenge): Promise<void> {
    await this.#db.transaction(async (m) => {
      const { version } = await lockCustomer(m, certificate.customerId);
      await insertAcmeChallenge(m, {
        token: challenge.token,
        customerId: certificate.customerId,
        certificateId: certificate.id,
        domain: challenge.domain,
        keyAuthorization: challenge.keyAuthorization,
        createdAt: new Date(this.#now()),
      });
      await announceCustomer(m, certificate.customerId, version);
    });
    this.#onCommitted();
    await this.#untilEdgesHold(await this.#db.read((m) => maxChangeSeq(m)));
  }

  /** Removes every challenge of the certificate (once: later calls find none and change nothing). */
  async #unpublish(certificate: CertificateRecord): Promise<void> {
    const removed = await this.#db.transaction(async (m) => {
      const { version } = await lockCustomer(m, certificate.customerId);
      const count = await deleteAcmeChallenges(m, certificate.id);
      if (count > 0) await announceCustomer(m, certificate.customerId, version);
      return count;
    });
    if (removed > 0) this.#onCommitted();
  }

  /** Until every live edge has applied `seq` (the challenge), or the propagation timeout. */
  async #untilEdgesHold(seq: number): Promise<void> {
    const deadline = performance.now() + this.#settings!.propagationTimeoutMs;
    for (;;) {
      const edges = await this.#liveEdges().catch(() => undefined);
      const behind = edges?.filter((e) => e.appliedSeq < seq) ?? [];
      if (edges !== undefined && behind.length === 0) return;
      if (performance.now() >= deadline) {
        this.#log.warn({ seq, behind: behind.map((e) => e.edgeId) }, 'ACME challenge: not every edge confirmed it in time; asking the CA to check anyway');
        return;
      }
      await sleep(200, undefined, { signal: this.#stopped.signal });
    }
  }

  async #settle(
    id: string,
    outcome:
      | { ok: true; issued: { certPem: string; keyPem: string; notBefore: Date; notAfter: Date } }
      | { ok: false; serving: boolean; retry: boolean; message: string; attempts?: number },
  ): Promise<void> {
    const now = this.#now();
    await this.#db.transaction(async (m) => {
      const current = await findCertificate(m, id);
      if (current === null) return; // Deleted (or its customer) meanwhile.
      const { version } = await lockCustomer(m, current.customerId);
      await deleteAcmeChallenges(m, id);
      const event = { certificateId: id, domains: current.domains, source: current.source };
      if (outcome.ok) {
        const { certPem, keyPem, notBefore, notAfter } = outcome.issued;
        // One event per issued material (a renewal is a new one), stored with it.
        await this.#events.emitIn(m, [
          {
            type: 'certificate.issued',
            customerId: current.customerId,
            dedupKey: `certificate.issued:${id}:${notBefore.getTime()}:${notAfter.getTime()}`,
            occurredAt: new Date(now),
            data: { ...event, renewal: current.notAfter !== null, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString() },
          },
        ]);
        await updateCertificate(m, id, {
          status: 'ISSUED',
          certPem,
          keyCiphertext: this.#box.seal(keyPem),
          notBefore,
          notAfter,
          issuer: issuerOf(certPem),
          lastError: null,
          attempts: 0,
          renewAt: new Date(renewalTime(notBefore.getTime(), notAfter.getTime(), this.#settings!.renewBeforeDays)),
          updatedAt: new Date(now),
        });
      } else {
        const stillValid = outcome.serving && current.notAfter !== null && current.notAfter.getTime() > now;
        const attempts = outcome.attempts ?? current.attempts;
        await updateCertificate(m, id, {
          status: stillValid ? 'RENEWING' : 'FAILED',
          lastError: outcome.message.slice(0, 2000),
          attempts,
          renewAt: outcome.retry ? new Date(now + backoffMs(this.#settings!.retryBaseMs, attempts)) : null,
          updatedAt: new Date(now),
        });
        // Each failed order once (one replica settles it, under its claim).
        await this.#events.emitIn(m, [
          {
            type: 'certificate.failed',
            customerId: current.customerId,
            dedupKey: `certificate.failed:${id}:${now}:${attempts}`,
            occurredAt: new Date(now),
            data: { ...event, error: outcome.message.slice(0, 2000), attempts, stillServed: stillValid, willRetry: outcome.retry },
          },
        ]);
      }
      await announceCustomer(m, current.customerId, version);
    });
    this.#onCommitted();
    this.#events.committed();
  }

  /** The issuer, with the account kept in the database (the first replica to create one wins). */
  #issuerOnce(): Promise<AcmeIssuer> {
    this.#issuer ??= (async () => {
      const settings = this.#settings!;
      const sealed = await this.#db.read((m) => readAcmeAccountKey(m, settings.directoryUrl));
      let accountKeyPem = sealed === null ? undefined : this.#box.open(sealed) ?? undefined;
      if (sealed !== null && accountKeyPem === undefined) {
        throw new Error(`the ACME account key kept for ${settings.directoryUrl} cannot be opened with this CDN_SECRET_KEY`);
      }
      const issuer = createAcmeIssuer({ directoryUrl: settings.directoryUrl, caPem: settings.caPem, email: settings.email, accountKeyPem, logger: this.#log });
      if (accountKeyPem === undefined) {
        const kept = await this.#db.transaction((m) => keepAcmeAccountKey(m, settings.directoryUrl, this.#box.seal(issuer.accountKeyPem()), settings.email ?? null));
        accountKeyPem = this.#box.open(kept) ?? undefined;
        // Another replica kept its key first: order as that account.
        if (accountKeyPem !== undefined && accountKeyPem !== issuer.accountKeyPem()) {
          return createAcmeIssuer({ directoryUrl: settings.directoryUrl, caPem: settings.caPem, email: settings.email, accountKeyPem, logger: this.#log });
        }
      }
      return issuer;
    })().catch((err: unknown) => {
      this.#issuer = undefined;
      throw err;
    });
    return this.#issuer;
  }
}

/**
 * When to renew: `renewBeforeDays` before notAfter (30 by default, as Let's Encrypt advises),
 * or, for a certificate that lives less than three times that, at two thirds of its life.
 */
export function renewalTime(notBefore: number, notAfter: number, renewBeforeDays: number): number {
  const life = notAfter - notBefore;
  const before = Math.min(renewBeforeDays * DAY_MS, life / 3);
  return notAfter - before;
}

/** base × 2^(attempts-1), at most a day. */
export function backoffMs(baseMs: number, attempts: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)), DAY_MS);
}

function issuerOf(certPem: string): string | null {
  try {
    // X509Certificate reads the first certificate of the chain: the leaf. Written as uploads are
    // (controls escaped): the CA's words reach GraphQL clients.
    return oneLine(new X509Certificate(certPem).issuer);
  } catch {
    return null;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
