/**
 * A customer's delivery rules: replaced as a whole (validated as a whole first, every refusal
 * naming the rule and the field, nothing changed), committed with the customer's version bump
 * and outbox row (customer-announce.ts) so every edge compiles the new list with the
 * customer's next change; and explainRequest: what an edge would do with a request, computed
 * by the same compiler, key builder and checks the edges run (core/delivery-rules.compile.ts,
 * core/delivery-key.ts, core/signed-url.ts), so the answer cannot drift from the edges'.
 */
import { normalizeHostname } from '../../core/customer.rules';
import { cacheKey, keyParts, keyWithParts } from '../../core/delivery-key';
import { applyQueryPolicy, checkAccess, compileRules, renderRedirect, requestFacts, type Decision } from '../../core/delivery-rules.compile';
import { readRules } from '../../core/delivery-rules.rules';
import { cdnError, invalidInput, type FieldProblem } from '../../core/errors';
import type { SecretBox } from '../../core/secret-box';
import { SIGNED_URL_LEEWAY_SECONDS_DEFAULT, verifySignedUrl } from '../../core/signed-url';
import type { Logger } from '../../obs/logger.factory';
import { findCustomer, updateCustomer } from '../db/customer.store';
import type { Database } from '../db/database';
import type { CustomerRecord } from '../domain/customer.types';
import { announceCustomer, lockCustomer } from './customer-announce';

export interface ExplainCommand {
  customerId: string;
  /** An absolute http(s) URL on one of the customer's domains, or a path with its query. */
  url: string;
  method?: string | null;
  headers?: ReadonlyArray<{ name: string; value: string }> | null;
  /** The client's address, for address rules, IP-bound signatures and the rate limit's key. */
  clientIp?: string | null;
}

export type ExplainOutcome = 'deny' | 'redirect' | 'bypass' | 'cache';

export interface Explanation {
  matchedRules: string[];
  outcome: ExplainOutcome;
  status: number | null;
  reason: string | null;
  location: string | null;
  cacheKey: string | null;
  keyParts: string[];
  originTarget: string;
  decision: Decision;
  signedUrlRequired: boolean;
}

export interface DeliveryRulesServiceOptions {
  db: Database;
  secretBox: SecretBox;
  logger: Logger;
  /** Most rules per customer (CDN_RULES_MAX). */
  rulesMax: number;
  onCommitted?: () => void;
  now?: () => number;
}

export class DeliveryRulesService {
  readonly #db: Database;
  readonly #box: SecretBox;
  readonly #log: Logger;
  readonly #max: number;
  readonly #onCommitted: () => void;
  readonly #now: () => number;

  constructor(options: DeliveryRulesServiceOptions) {
    this.#db = options.db;
    this.#box = options.secretBox;
    this.#log = options.logger;
    this.#max = options.rulesMax;
    this.#onCommitted = options.onCommitted ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  /** Replaces the customer's rules. CDN_ERR_INPUT_INVALID names every problem (`rules[2] (images).match.globs[0]`). */
  async set(customerId: string, input: readonly unknown[]): Promise<CustomerRecord> {
    const { rules, problems } = readRules(input, { max: this.#max, field: 'rules' });
    if (problems.length > 0) throw invalidInput(problems);
    const customer = await this.#db.transaction(async (m) => {
      const { version } = await lockCustomer(m, customerId);
      const at = new Date(this.#now());
      await updateCustomer(m, customerId, { deliveryRules: rules, updatedAt: at, version });
      return announceCustomer(m, customerId, version, at);
    });
    this.#onCommitted();
    this.#log.info({ customerId, rules: rules.map((r) => r.name) }, 'delivery rules replaced');
    return customer;
  }

  async explain(cmd: ExplainCommand): Promise<Explanation> {
    const customer = await this.#db.read((m) => findCustomer(m, cmd.customerId));
    if (customer === null) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', cmd.customerId);
    const request = readRequest(cmd, customer.domains);
    const compiled = compileRules(customer);
    // The edges' own view of a request (cookies parsed as they parse them).
    const facts = requestFacts({ method: request.method, path: request.path, headers: Object.fromEntries(request.headers) });
    const decision = compiled.decide(facts);
    const query = applyQueryPolicy(request.query, decision.query);
    const originTarget = request.path + (query === '' ? '' : `?${query}`);
    const base = { matchedRules: [...decision.matched], decision, originTarget, signedUrlRequired: decision.access?.signedUrl === true, keyParts: [] as string[] };

    if (decision.access !== undefined) {
      const refused = this.#refusal(decision, request, customer, cmd.clientIp ?? undefined);
      if (refused !== undefined) return { ...base, outcome: 'deny', status: 403, reason: refused, location: null, cacheKey: null };
    }
    if (decision.redirect !== undefined) {
      const location = renderRedirect(decision.redirect, { scheme: request.scheme, host: request.host, path: request.path, query: request.query });
      return { ...base, outcome: 'redirect', status: decision.redirect.status, reason: null, location, cacheKey: null };
    }
    if (decision.bypass || (request.method !== 'GET' && request.method !== 'HEAD')) {
      return { ...base, outcome: 'bypass', status: null, reason: null, location: null, cacheKey: null };
    }
    const parts = keyParts(decision.keyHeaders, decision.keyCookies, facts);
    return { ...base, keyParts: parts, outcome: 'cache', status: null, reason: null, location: null, cacheKey: keyWithParts(cacheKey(customer.id, request.path, query), parts) };
  }

  /** Why the edge would answer 403, or undefined. Without clientIp, address rules are judged for no address at all (refused by an allow-list). */
  #refusal(decision: Decision, request: ExplainRequest, customer: CustomerRecord, clientIp: string | undefined): string | undefined {
    const access = decision.access!;
    const verdict = checkAccess(access, { address: clientIp ?? '', referer: request.headers.get('referer') });
    if (!verdict.ok) return verdict.reason;
    if (!access.signedUrl) return undefined;
    const keys = (customer.signingKeys ?? []).flatMap((k) => {
      const secret = this.#box.open(k.secretCiphertext);
      return secret === null ? [] : [{ id: k.id, secret }];
    });
    const signature = verifySignedUrl({
      path: request.path,
      query: request.query,
      clientAddress: clientIp ?? '',
      nowMs: this.#now(),
      leewaySeconds: SIGNED_URL_LEEWAY_SECONDS_DEFAULT,
      keys,
    });
    return signature.ok ? undefined : signature.message;
  }
}

interface ExplainRequest {
  scheme: 'http' | 'https';
  host: string;
  method: string;
  path: string;
  query: string;
  headers: Map<string, string>;
}

/** The request explainRequest describes, or CDN_ERR_INPUT_INVALID naming what is wrong with it. */
function readRequest(cmd: ExplainCommand, domains: readonly string[]): ExplainRequest {
  const problems: FieldProblem[] = [];
  const method = (cmd.method ?? 'GET').toUpperCase();
  if (!/^[A-Z]{1,20}$/.test(method)) problems.push({ field: 'method', message: `must be an HTTP method such as GET, got ${JSON.stringify(cmd.method)}` });
  const headers = new Map<string, string>();
  (cmd.headers ?? []).forEach((h, i) => {
    const name = h.name.toLowerCase();
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]{1,100}$/.test(name)) problems.push({ field: `headers[${i}].name`, message: `must be a header field name, got ${JSON.stringify(h.name).slice(0, 80)}` });
    // eslint-disable-next-line no-control-regex
    else if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(h.value)) problems.push({ field: `headers[${i}].value`, message: 'must not contain control characters' });
    else headers.set(name, headers.has(name) ? `${headers.get(name)}, ${h.value}` : h.value);
  });
  let url: URL | undefined;
  const absolute = /^https?:\/\//i.test(cmd.url);
  if (!absolute && !cmd.url.startsWith('/')) problems.push({ field: 'url', message: 'must be an absolute http(s) URL on one of the customer\'s domains, or a path starting with "/"' });
  else {
    try {
      url = new URL(cmd.url, `http://${domains[0] ?? 'localhost'}`);
    } catch {
      problems.push({ field: 'url', message: 'is not a valid URL' });
    }
  }
  if (url !== undefined && absolute && !domains.includes(normalizeHostname(url.hostname))) {
    problems.push({ field: 'url', message: `its host "${url.hostname}" is not one of the customer's domains (${domains.join(', ')})` });
  }
  if (problems.length > 0) throw invalidInput(problems);
  // The raw path as a client would send it: the URL parser percent-encodes what must be, as a browser does.
  return {
    scheme: url!.protocol === 'https:' ? 'https' : 'http',
    host: normalizeHostname(url!.hostname),
    method,
    path: url!.pathname,
    query: url!.search.slice(1),
    headers,
  };
}
