/**
 * Which certificate the HTTPS port presents, by SNI: the server name the client asks for,
 * normalised, finds the customer that owns that domain, and only that customer's certificates
 * are candidates (core/certificate.rules.ts pickCertificate: valid now, naming the host, the
 * one valid longest). Never another customer's certificate, and no default one: an unknown
 * name, a customer without a certificate for it, or no SNI at all gets the server's own
 * context, which has no certificate, so the handshake fails cleanly with a TLS alert.
 *
 * One tls.SecureContext per certificate id, built on the first handshake that needs it (the
 * private key opened with CDN_SECRET_KEY at that moment, never kept in clear elsewhere). A
 * customer update takes effect for the next handshake: the lookup reads the customer as it
 * is now, and a certificate whose PEM or key changed under the same id gets a new context.
 * Contexts of certificates a customer no longer has are dropped as its update arrives, so
 * what is held follows what the customers reference. A certificate whose key cannot be
 * opened (another CDN_SECRET_KEY) or that TLS refuses (key and certificate do not match) is
 * logged once and skipped: the next best of the customer's certificates is tried.
 */
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { pickCertificate } from '../../core/certificate.rules';
import type { Clock } from '../../core/clock.port';
import { normalizeHostname } from '../../core/customer.rules';
import type { CustomerConfig } from '../../core/customer.types';
import type { CustomerSource } from '../../core/customer-source.port';
import { CdnError } from '../../core/errors';
import type { SecretBox } from '../../core/secret-box';
import type { EdgeCertificate } from '../../core/tls.types';
import type { Logger } from '../../obs/logger.factory';
import type { CustomerFeedEvent } from '../customer-feed.port';

/** What the SNI lookup found for a connection, for the failure metrics (handshake-failures.ts). */
export type SniOutcome = 'matched' | 'unmatched';

type SniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

export interface CertificateContextsDeps {
  customers: CustomerSource;
  box: SecretBox;
  clock: Clock;
  logger: Logger;
  /** The TLS settings every context shares (tls.settings.ts). */
  options: SecureContextOptions;
}

interface Held {
  certificate: EdgeCertificate;
  context: SecureContext;
}

export class CertificateContexts {
  readonly #deps: CertificateContextsDeps;
  readonly #contexts = new Map<string, Held>();
  /** Certificates that cannot be used, by id (logged once; tried again when they change). */
  readonly #unusable = new Map<string, EdgeCertificate>();
  readonly #outcomes = new WeakMap<object, SniOutcome>();

  constructor(deps: CertificateContextsDeps) {
    this.#deps = deps;
  }

  /** Contexts held (cdn_edge_tls_contexts). */
  get size(): number {
    return this.#contexts.size;
  }

  /** The context for a server name, or undefined when none may be presented. */
  contextFor(servername: string): SecureContext | undefined {
    const host = normalizeHostname(servername);
    const customer = this.#deps.customers.byHost(host);
    if (customer?.tls === undefined) return undefined;
    const now = this.#deps.clock.now();
    let candidates = customer.tls.certificates;
    for (;;) {
      const certificate = pickCertificate({ ...customer.tls, certificates: candidates }, host, now);
      if (certificate === undefined) return undefined;
      const context = this.#contextOf(customer, certificate);
      if (context !== undefined) return context;
      candidates = candidates.filter((c) => c !== certificate);
    }
  }

  /**
   * tls.Server's SNICallback. Node calls it with the connection's TLSSocket as `this`; what it
   * found is noted against that socket, so a failed handshake can say why. No context: the
   * server's own (no certificate), and the handshake fails with an alert.
   */
  readonly sniCallback: SniCallback = (() => {
    const contexts = this;
    return function (this: unknown, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
      const context = contexts.contextFor(servername);
      if (typeof this === 'object' && this !== null) contexts.#outcomes.set(this, context === undefined ? 'unmatched' : 'matched');
      cb(null, context);
    };
  })();

  /** What the SNI lookup found for this connection; undefined: it was not asked (no SNI sent, or the handshake failed before). */
  outcomeOf(socket: object): SniOutcome | undefined {
    return this.#outcomes.get(socket);
  }

  /** A customer changed or left: contexts of certificates it no longer has are dropped. */
  onCustomerEvent(event: CustomerFeedEvent): void {
    const before = event.kind === 'deleted' ? event.customer.tls : event.previous?.tls;
    if (before === undefined) return;
    const kept = new Set(event.kind === 'deleted' ? [] : (event.customer.tls?.certificates ?? []).map((c) => c.id));
    for (const certificate of before.certificates) {
      if (kept.has(certificate.id)) continue;
      this.#contexts.delete(certificate.id);
      this.#unusable.delete(certificate.id);
    }
  }

  #contextOf(customer: CustomerConfig, certificate: EdgeCertificate): SecureContext | undefined {
    const held = this.#contexts.get(certificate.id);
    if (held !== undefined && sameMaterial(held.certificate, certificate)) return held.context;
    const unusable = this.#unusable.get(certificate.id);
    if (unusable !== undefined && sameMaterial(unusable, certificate)) return undefined;
    const context = this.#build(customer, certificate);
    if (context === undefined) {
      this.#contexts.delete(certificate.id);
      this.#unusable.set(certificate.id, certificate);
      return undefined;
    }
    this.#unusable.delete(certificate.id);
    this.#contexts.set(certificate.id, { certificate, context });
    return context;
  }

  #build(customer: CustomerConfig, certificate: EdgeCertificate): SecureContext | undefined {
    const { box, logger, options } = this.#deps;
    const key = box.open(certificate.keyCiphertext);
    if (key === null) {
      const err = new CdnError('CDN_ERR_SECRET_UNREADABLE', [`the private key of certificate ${certificate.id} of customer "${customer.id}"`]);
      logger.error({ customer: customer.id, certificate: certificate.id, code: err.code }, `${err.message} The certificate is not presented.`);
      return undefined;
    }
    try {
      return createSecureContext({ ...options, cert: certificate.certPem, key });
    } catch (err) {
      logger.error(
        { customer: customer.id, certificate: certificate.id, err: err instanceof Error ? err.message : String(err) },
        'TLS refuses a certificate (its key does not match, or the PEM is damaged); it is not presented',
      );
      return undefined;
    }
  }
}

function sameMaterial(a: EdgeCertificate, b: EdgeCertificate): boolean {
  return a === b || (a.certPem === b.certPem && a.keyCiphertext === b.keyCiphertext);
}
