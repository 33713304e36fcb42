/**
 * Certificates from an ACME CA (RFC 8555): Let's Encrypt and the like in production,
 * Debian's `pebble` in the tests. A thin layer over acme-client (the protocol: JWS, nonces,
 * account, order, finalize, download) that adds what the api needs of it:
 *
 * - HTTP-01 only, answered by the edges: `publish` hands a challenge to the caller (which
 *   sends the token over the bus) and must resolve once the edges answer it, since the CA
 *   is told to fetch right after; `unpublish` is called for every challenge `publish` was
 *   called with, whatever happens.
 * - A new ECDSA P-256 key per certificate, and one account key per issuer, generated if none
 *   is given, so that the caller can keep it (encrypted) and reuse the account.
 * - Errors worded for a certificate's `lastError`: which domain, what the CA said, the URL it
 *   fetched (AcmeIssueError). No retries inside: the caller (the renewal scheduler) backs off.
 * - An extra CA to trust for the ACME server's HTTPS (CDN_ACME_CA_FILE: pebble, private
 *   CAs), scoped to this issuer's requests (see "Scope" below), never process-wide.
 *
 * Scope. acme-client sends every request through one axios instance of its own
 * (`acme.axios`), shared by all its clients, and its clients take no per-request options. So
 * each issue() runs inside an AsyncLocalStorage scope, and one request interceptor on that
 * instance gives the requests made inside a scope that scope's agents (the extra CA, in
 * addition to Node's bundled roots, not instead of them), a per-request timeout and the
 * caller's abort signal. Requests outside a scope, other acme-client users, and every other
 * HTTPS client of the process (axios' default instance, fetch, https.globalAgent) are left
 * alone. Two issuers with different CAs in one process do not see each other's CA.
 *
 * acme-client's own retries (5xx, 429 and network errors, up to 5 times with growing
 * delays) are turned off on its instance (`acmeSettings.retryMaxAttempts = 0`, process-wide
 * for acme-client, which nothing else here uses): the scheduler decides when to try again.
 * Its bad-nonce retry (RFC 8555 §6.5, a protocol step, not a failure) stays.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { rootCertificates } from 'node:tls';
import * as acme from 'acme-client';
import { checkDomains, normalizeHostname } from '../../core/customer.rules';
import { ACME_CHALLENGE_PREFIX, type AcmeChallenge } from '../../core/tls.types';
import type { Logger } from '../../obs/logger.factory';
import { createEcdsaP256KeyPem, normalizeAccountKeyPem } from './acme.account';

/** An HTTP-01 challenge for one domain: the edges answer `keyAuthorization` at /.well-known/acme-challenge/<token>. */
export interface HttpChallenge extends AcmeChallenge {
  domain: string;
}

export interface AcmeIssuerOptions {
  /** The CA's directory (CDN_ACME_DIRECTORY_URL). */
  directoryUrl: string;
  /** PEM of an extra CA to trust for the ACME server's HTTPS (CDN_ACME_CA_FILE's content). */
  caPem?: string;
  /** Contact for the account (CDN_ACME_EMAIL): the CA writes about expiring certificates and policy changes. */
  email?: string;
  /** The account's private key (PEM); a new ECDSA P-256 key when absent (read it back with accountKeyPem()). */
  accountKeyPem?: string;
  logger: Logger;
  /** How long one request to the ACME server may take (default 30 s). */
  requestTimeoutMs?: number;
  /**
   * Polling of authorizations and orders while the CA works (not retries): the first wait,
   * the longest, and how long in all before giving up (defaults 1 s, 10 s, 120 s).
   */
  polling?: { minMs?: number; maxMs?: number; timeoutMs?: number };
}

export interface IssueRequest {
  /** DNS names for one certificate (no wildcards: HTTP-01 cannot prove them). */
  domains: readonly string[];
  publish(challenge: HttpChallenge): Promise<void> | void;
  unpublish(challenge: HttpChallenge): Promise<void> | void;
  /** Stops waiting and fails with stage `cancelled` (challenges are still unpublished). */
  signal?: AbortSignal;
}

export interface IssuedCertificate {
  /** The chain as the CA returned it: the leaf first, then intermediates (PEM). */
  certPem: string;
  /** The certificate's private key, ECDSA P-256, PKCS#8 PEM (new for each certificate). */
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
}

export interface AcmeIssuer {
  /** The account key in use (PKCS#8 PEM): store it (encrypted) and pass it back next time. */
  accountKeyPem(): string;
  issue(request: IssueRequest): Promise<IssuedCertificate>;
}

/** Where an issue failed; `validation` means the CA could not fetch or did not accept a challenge. */
export type AcmeFailureStage = 'input' | 'account' | 'order' | 'publish' | 'validation' | 'finalize' | 'download' | 'cancelled';

/** An issue() failure. `message` is written for a certificate's `lastError`. */
export class AcmeIssueError extends Error {
  override readonly name = 'AcmeIssueError';
  readonly stage: AcmeFailureStage;
  /** The domains the failure is about (all of the request's when it is not about one). */
  readonly domains: string[];
  /** The ACME problem type (urn:ietf:params:acme:error:…) when the CA gave one. */
  readonly acmeType: string | undefined;

  constructor(stage: AcmeFailureStage, domains: string[], message: string, options: { acmeType?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.stage = stage;
    this.domains = domains;
    this.acmeType = options.acmeType;
  }
}

/** One protocol step of an issue: what it throws comes out as an AcmeIssueError of `stage`. */
type Step = <T>(stage: AcmeFailureStage, what: string, run: () => Promise<T>) => Promise<T>;

/** acme-client's challenge type (its rfc8555 namespace is not exported). */
type ChallengeObject = acme.Authorization['challenges'][number];

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_POLLING = { minMs: 1_000, maxMs: 10_000, timeoutMs: 120_000 };

/** What one issue() knows about its requests to the ACME server (see "Scope" above). */
interface RequestScope {
  log: Logger;
  httpsAgent: https.Agent;
  httpAgent: http.Agent;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  /** The latest request: what a timeout is reported against. */
  lastRequest?: { method: string; url: string; timeout: AbortSignal };
  /** The latest connection error (refused, DNS, TLS): acme-client loses it (see below). */
  network?: { target: string; error: Error };
  /** The latest ACME problem document (RFC 7807) an error answer carried. */
  problem?: AcmeProblem;
}

interface AcmeProblem {
  status: number;
  type: string | undefined;
  detail: string | undefined;
}

const scopes = new AsyncLocalStorage<RequestScope>();
let hooksInstalled = false;

/** Installs, once per process, the interceptors and logger described in the header comment. */
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Not in acme-client's types: the settings its retry interceptor reads on every error.
  const settings = (acme.axios.defaults as unknown as { acmeSettings?: { retryMaxAttempts?: number } }).acmeSettings;
  if (settings !== undefined) settings.retryMaxAttempts = 0;

  acme.axios.interceptors.request.use((config) => {
    const scope = scopes.getStore();
    if (scope === undefined) return config;
    const timeout = AbortSignal.timeout(scope.timeoutMs);
    config.httpsAgent = scope.httpsAgent;
    config.httpAgent = scope.httpAgent;
    config.signal = scope.signal === undefined ? timeout : AbortSignal.any([scope.signal, timeout]);
    scope.lastRequest = { method: (config.method ?? 'get').toUpperCase(), url: config.url ?? '(unknown URL)', timeout };
    return config;
  });
  // acme-client turns an error answer into `new Error(detail)`, dropping the problem type;
  // its retry interceptor (which runs before this one) hands 4xx/5xx answers on as responses.
  acme.axios.interceptors.response.use((response) => {
    const scope = scopes.getStore();
    if (scope !== undefined && response.status >= 400) scope.problem = { status: response.status, ...problemOf(response.data) };
    return response;
  });
  // acme-client's debug lines (URLs, statuses; nonces but never keys) go to the log of the
  // issue that caused them. setLogger is acme-client's one process-wide hook.
  acme.setLogger((message) => scopes.getStore()?.log.debug({ acme: message }, 'acme-client'));
}

/** `type` and `detail` of an RFC 7807 problem document (ACME errors), if `value` is one. */
function problemOf(value: unknown): { type: string | undefined; detail: string | undefined } {
  if (typeof value !== 'object' || value === null) return { type: undefined, detail: undefined };
  const { type, detail } = value as { type?: unknown; detail?: unknown };
  return { type: typeof type === 'string' ? type : undefined, detail: typeof detail === 'string' ? detail : undefined };
}

/**
 * Agents for one issue(): they trust `ca` (when given) and remember the last connection
 * error, which acme-client would turn into "Cannot read properties of undefined (reading
 * 'config')" (publishlab/node-acme-client#101: with no response, its retry interceptor
 * reads `response.config`). No keep-alive: the sockets die with the issue.
 */
function scopeAgents(
  onError: (network: NonNullable<RequestScope['network']>) => void,
  ca: string[] | undefined,
): { httpsAgent: https.Agent; httpAgent: http.Agent } {
  const remember = (socket: Duplex | null | undefined, options: http.ClientRequestArgs): void => {
    socket?.once('error', (error: Error) => onError({ target: `${options.host ?? options.hostname ?? '?'}:${options.port ?? '?'}`, error }));
  };
  class RecordingHttpsAgent extends https.Agent {
    override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
      const socket = super.createConnection(options, callback);
      remember(socket, options);
      return socket;
    }
  }
  class RecordingHttpAgent extends http.Agent {
    override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
      const socket = super.createConnection(options, callback);
      remember(socket, options);
      return socket;
    }
  }
  return { httpsAgent: new RecordingHttpsAgent(ca === undefined ? {} : { ca }), httpAgent: new RecordingHttpAgent() };
}

export function createAcmeIssuer(options: AcmeIssuerOptions): AcmeIssuer {
  installHooks();
  const directory = new URL(options.directoryUrl);
  if (directory.protocol !== 'https:' && directory.protocol !== 'http:') {
    throw new Error(`The ACME directory URL must be http(s)://…, not ${options.directoryUrl}.`);
  }
  const accountKeyPem = options.accountKeyPem === undefined ? createEcdsaP256KeyPem() : normalizeAccountKeyPem(options.accountKeyPem);
  const ca = options.caPem === undefined ? undefined : [...rootCertificates, options.caPem];
  const log = options.logger.child({ component: 'acme', directoryUrl: options.directoryUrl });
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const polling = { ...DEFAULT_POLLING, ...options.polling };
  // One client per issuer: it caches the directory and, once registered, the account URL.
  const client = new acme.Client({ directoryUrl: options.directoryUrl, accountKey: accountKeyPem });
  let account: Promise<void> | undefined;

  /**
   * Registers the account once (RFC 8555 §7.3; for a key the CA knows, newAccount returns
   * the existing account). Configuring an ACME directory is taken as agreeing to its terms
   * of service. A failed registration is tried again by the next issue.
   */
  const ensureAccount = (): Promise<void> => {
    account ??= client
      .createAccount({ termsOfServiceAgreed: true, ...(options.email === undefined ? {} : { contact: [`mailto:${options.email}`] }) })
      .then(() => undefined)
      .catch((err: unknown) => {
        account = undefined;
        throw err;
      });
    return account;
  };

  async function issueInScope(request: IssueRequest, scope: RequestScope): Promise<IssuedCertificate> {
    const domains = checkedDomains(request.domains);
    const names = domains.join(', ');
    const published: HttpChallenge[] = [];
    let order: acme.Order | undefined;
    /** Runs one protocol step, turning what it throws into an AcmeIssueError of `stage`. */
    const step: Step = async (stage, what, run) => {
      request.signal?.throwIfAborted();
      try {
        return await run();
      } catch (err) {
        throw explain(err, stage, domains, `${what} for ${names}`, scope);
      }
    };

    try {
      await step('account', 'registering the ACME account', ensureAccount);
      const identifiers = domains.map((value) => ({ type: 'dns', value }));
      order = await step('order', 'ordering a certificate', () => client.createOrder({ identifiers }));
      await authorize(order, domains, request, published, step);
      return await finalize(order, domains, step, request.signal);
    } catch (err) {
      const failure = err instanceof AcmeIssueError ? err : explain(err, 'order', domains, `issuing a certificate for ${names}`, scope);
      if (order !== undefined && !(request.signal?.aborted ?? false)) await deactivatePending(order, scope.log);
      scope.log.warn({ domains, stage: failure.stage, acmeType: failure.acmeType, err: failure.message }, 'ACME issue failed');
      throw failure;
    } finally {
      for (const challenge of published) {
        try {
          await request.unpublish(challenge);
        } catch (err) {
          scope.log.warn({ domain: challenge.domain, token: challenge.token, err: messageOf(err) }, 'unpublishing an ACME challenge failed');
        }
      }
    }
  }

  /**
   * Proves every name of `order`: an authorization already valid (the CA may hand back one
   * this account proved recently) needs nothing; for a pending one, its HTTP-01 challenge is
   * published (and added to `published`, before publish runs: one that throws half-way is
   * unpublished too), then the CA is told to fetch them all, then polled until it has.
   */
  async function authorize(order: acme.Order, domains: string[], request: IssueRequest, published: HttpChallenge[], step: Step): Promise<void> {
    const authorizations = await step('order', 'reading the authorizations', () => client.getAuthorizations(order));
    const toComplete: ChallengeObject[] = [];
    for (const authz of authorizations) {
      const domain = authz.identifier.value;
      if (authz.status === 'valid') continue;
      if (authz.status !== 'pending') {
        throw new AcmeIssueError('order', [domain], `The ACME server's authorization for ${domain} is ${authz.status}, so it cannot be validated; request the certificate again.`);
      }
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      if (challenge === undefined) {
        const offered = authz.challenges.map((c) => c.type).join(', ') || 'none';
        throw new AcmeIssueError('order', [domain], `The ACME server offers no HTTP-01 challenge for ${domain} (it offers: ${offered}); Edgeplane proves domains with HTTP-01 only.`);
      }
      const forEdges: HttpChallenge = { domain, token: challenge.token, keyAuthorization: await client.getChallengeKeyAuthorization(challenge) };
      published.push(forEdges);
      request.signal?.throwIfAborted();
      try {
        await request.publish(forEdges);
      } catch (err) {
        throw new AcmeIssueError('publish', [domain], `Publishing the HTTP-01 challenge for ${domain} to the edges failed: ${messageOf(err)}`, { cause: err });
      }
      toComplete.push(challenge);
    }
    if (toComplete.length === 0) return;

    // The CA fetches http://<domain>/.well-known/acme-challenge/<token> from now on.
    await step('validation', 'starting HTTP-01 validation', () => Promise.all(toComplete.map((c) => client.completeChallenge(c))));
    const timeout = { stage: 'validation' as const, domains, message: `The ACME server did not finish validating ${domains.join(', ')}` };
    const settled = await poll(polling, request.signal, timeout, async () => {
      const current = await step('validation', 'reading the authorizations', () => client.getAuthorizations(order));
      return current.some((a) => a.status === 'pending') ? undefined : current;
    });
    const failures = settled.filter((a) => a.status !== 'valid');
    if (failures.length > 0) throw validationError(failures, domains);
  }

  /**
   * Once every name is proven the order turns `ready`: it is finalized with a CSR for a new
   * key, polled while `processing`, and the chain downloaded.
   */
  async function finalize(order: acme.Order, domains: string[], step: Step, signal: AbortSignal | undefined): Promise<IssuedCertificate> {
    const names = domains.join(', ');
    const ready = await poll(polling, signal, { stage: 'order', domains, message: `The ACME server did not make the order for ${names} ready` }, async () => {
      const current = await step('order', 'reading the order', () => client.getOrder(order));
      return current.status === 'pending' ? undefined : current;
    });
    if (ready.status !== 'ready' && ready.status !== 'valid') throw orderError(ready, domains, 'before finalization');

    const keyPem = createEcdsaP256KeyPem();
    // CN: the first name if it fits (64 characters at most); the SANs are what count.
    const commonName = domains[0]!.length <= 64 ? domains[0] : undefined;
    const [, csr] = await acme.crypto.createCsr({ ...(commonName === undefined ? {} : { commonName }), altNames: [...domains] }, keyPem);
    const finalizing = ready.status === 'valid' ? ready : await step('finalize', 'finalizing the order', () => client.finalizeOrder(ready, csr));
    const done = await poll(polling, signal, { stage: 'finalize', domains, message: `The ACME server did not issue the certificate for ${names}` }, async () => {
      if (finalizing.status === 'valid') return finalizing;
      const current = await step('finalize', 'reading the order', () => client.getOrder(finalizing));
      return current.status === 'processing' || current.status === 'ready' ? undefined : current;
    });
    if (done.status !== 'valid') throw orderError(done, domains, 'at finalization');
    const certPem = await step('download', 'downloading the certificate', () => client.getCertificate(done));
    return describeIssued(certPem, keyPem, domains);
  }

  /**
   * Pending authorizations of a failed order are deactivated (RFC 8555 §7.5.2), as
   * acme-client's auto mode does: CAs limit how many an account may hold. Best effort.
   */
  async function deactivatePending(order: acme.Order, log: Logger): Promise<void> {
    try {
      const authorizations = await client.getAuthorizations(order);
      await Promise.all(authorizations.filter((a) => a.status === 'pending').map((a) => client.deactivateAuthorization(a)));
    } catch (err) {
      log.debug({ err: messageOf(err) }, 'deactivating pending ACME authorizations failed');
    }
  }

  return {
    accountKeyPem: () => accountKeyPem,
    async issue(request) {
      const agents = scopeAgents((network) => (scope.network = network), ca);
      const scope: RequestScope = { log, signal: request.signal, timeoutMs, ...agents };
      try {
        return await scopes.run(scope, () => issueInScope(request, scope));
      } finally {
        scope.httpsAgent.destroy();
        scope.httpAgent.destroy();
      }
    },
  };
}

/** Lower-cased, without a trailing dot; refused (stage `input`) as core/customer.rules says of domains. */
function checkedDomains(domains: readonly string[]): string[] {
  const problems = checkDomains([...domains]);
  if (problems.length > 0) {
    throw new AcmeIssueError('input', [...domains], `Cannot request a certificate: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}.`);
  }
  return domains.map(normalizeHostname);
}

/** Waits for `check` to give a value, with growing pauses, until `polling.timeoutMs`. */
async function poll<T>(
  polling: { minMs: number; maxMs: number; timeoutMs: number },
  signal: AbortSignal | undefined,
  onTimeout: { stage: AcmeFailureStage; domains: string[]; message: string },
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + polling.timeoutMs;
  let pause = polling.minMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() + pause > deadline) {
      throw new AcmeIssueError(onTimeout.stage, onTimeout.domains, `${onTimeout.message} within ${duration(polling.timeoutMs)}; try again later.`);
    }
    await sleep(pause, undefined, signal === undefined ? undefined : { signal });
    pause = Math.min(pause * 2, polling.maxMs);
  }
}

/** Failed domains told in full, at most; the others are named only (a lastError stays readable). */
const FAILURES_IN_FULL = 3;

/**
 * One sentence per failed domain (in the order asked): the URL the CA fetched and what it
 * reported, which for pebble and Let's Encrypt already says "connection refused", "404", or
 * which content came back.
 */
function validationError(failures: acme.Authorization[], domains: string[]): AcmeIssueError {
  const ordered = [...failures].sort((a, b) => domains.indexOf(a.identifier.value) - domains.indexOf(b.identifier.value));
  let acmeType: string | undefined;
  const sentences = ordered.slice(0, FAILURES_IN_FULL).map((authz) => {
    const domain = authz.identifier.value;
    const challenge = authz.challenges.find((c) => c.type === 'http-01' && c.error !== undefined) ?? authz.challenges.find((c) => c.type === 'http-01');
    const problem = problemOf(challenge?.error);
    acmeType ??= problem.type;
    if (challenge === undefined || (problem.detail === undefined && problem.type === undefined)) {
      return `HTTP-01 validation of ${domain} failed: the ACME server marked its authorization ${authz.status} without saying why.`;
    }
    const url = `http://${domain}${ACME_CHALLENGE_PREFIX}${challenge.token}`;
    const type = problem.type === undefined ? '' : ` (${problem.type})`;
    return `HTTP-01 validation of ${domain} failed: the ACME server could not get the challenge answer at ${url}: ${problem.detail ?? 'no detail given'}${type}.`;
  });
  const failed = ordered.map((a) => a.identifier.value);
  const rest = failed.slice(FAILURES_IN_FULL);
  if (rest.length > 0) sentences.push(`Validation of ${rest.length} more failed too: ${rest.join(', ')}.`);
  const hint = `Check that ${failed.length === 1 ? `${failed[0]} resolves` : 'these names resolve'} to the edges and that they answer plain HTTP on port 80.`;
  return new AcmeIssueError('validation', failed.length > 0 ? failed : domains, [...sentences, hint].join(' '), { acmeType });
}

function orderError(order: acme.Order, domains: string[], when: string): AcmeIssueError {
  const problem = problemOf(order.error);
  const said = problem.detail === undefined ? '' : `: ${problem.detail}${problem.type === undefined ? '' : ` (${problem.type})`}`;
  return new AcmeIssueError('finalize', domains, `The ACME server's order for ${domains.join(', ')} is ${order.status} ${when}${said}.`, { acmeType: problem.type });
}

/**
 * An AcmeIssueError out of whatever a step threw: the caller's abort, a timeout, a
 * connection error (remembered by the scope's agents), or the CA's problem document.
 */
function explain(err: unknown, stage: AcmeFailureStage, domains: string[], doing: string, scope: RequestScope): AcmeIssueError {
  if (err instanceof AcmeIssueError) return err;
  const Doing = doing.charAt(0).toUpperCase() + doing.slice(1);
  if (scope.signal?.aborted ?? false) {
    return new AcmeIssueError('cancelled', domains, `${Doing} was cancelled.`, { cause: err });
  }
  const last = scope.lastRequest;
  if (last !== undefined && last.timeout.aborted) {
    return new AcmeIssueError(stage, domains, `${Doing} failed: the ACME server did not answer ${last.method} ${last.url} within ${duration(scope.timeoutMs)}.`, { cause: err });
  }
  if (scope.network !== undefined) {
    const { target, error } = scope.network;
    const code = (error as NodeJS.ErrnoException).code;
    const tlsHint = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code ?? '')
      ? ' Its HTTPS certificate is not trusted: give the CA that signed it with CDN_ACME_CA_FILE.'
      : '';
    return new AcmeIssueError(stage, domains, `${Doing} failed: cannot reach the ACME server at ${target}: ${error.message}.${tlsHint}`, { cause: err });
  }
  const message = messageOf(err);
  const problem = scope.problem !== undefined && scope.problem.detail === message ? scope.problem : undefined;
  const type = problem?.type === undefined ? '' : ` (${problem.type})`;
  return new AcmeIssueError(stage, domains, `${Doing} failed: the ACME server said: ${message}${type}.`, { acmeType: problem?.type, cause: err });
}

/** Checks what the CA returned against what was asked, and reads its validity. */
function describeIssued(certPem: string, keyPem: string, domains: string[]): IssuedCertificate {
  const leafPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(certPem)?.[0];
  if (leafPem === undefined) throw new AcmeIssueError('download', domains, `The ACME server returned no PEM certificate for ${domains.join(', ')}.`);
  const leaf = new X509Certificate(leafPem);
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new AcmeIssueError('download', domains, `The certificate the ACME server returned for ${domains.join(', ')} is not for the key that was sent in the CSR.`);
  }
  const missing = domains.filter((d) => leaf.checkHost(d, { wildcards: false }) === undefined);
  if (missing.length > 0) {
    throw new AcmeIssueError('download', missing, `The certificate the ACME server returned does not name ${missing.join(', ')} (it names ${leaf.subjectAltName ?? 'nothing'}).`);
  }
  return { certPem, keyPem, notBefore: leaf.validFromDate, notAfter: leaf.validToDate };
}

const duration = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`);

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
