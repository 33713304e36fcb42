/**
 * A customer's delivery rules as the edge uses them: compiled once per customer version
 * (customers are immutable objects, replaced on every change, so a WeakMap keyed by the object
 * forgets old versions by itself), with its signing keys opened once. Shared by the `rules`
 * step, deliver, the hit lane, the fetch (origin fields, TTLs) and URL purges, so all of them
 * see one compilation.
 *
 * A list that does not compile (an edge older than the api that wrote a rule) fails closed:
 * every request of that customer is refused with a 500 that the edge's log explains, rather
 * than served without the access rules the customer asked for.
 */
import type { CustomerConfig } from '../../core/customer.types';
import { applyHeaderOps, applyQueryPolicy, compileRules, requestFacts, type CompiledRules, type Decision } from '../../core/delivery-rules.compile';
import type { SecretBox } from '../../core/secret-box';
import type { StoredHeaders } from '../cache/cache-store.port';

export interface CustomerRules {
  compiled: CompiledRules;
  /** Signing keys opened with CDN_SECRET_KEY (those that could not be opened are left out and logged). */
  keys: ReadonlyArray<{ id: string; secret: string }>;
}

export type RulesOrFailure = CustomerRules | { failed: string };

const compiled = new WeakMap<CustomerConfig, RulesOrFailure>();

/** `onProblem(customerId, message)`: a list that does not compile, a key that cannot be opened (logged once per customer version). */
export type RulesProblem = (customerId: string, message: string) => void;

export function rulesOf(customer: CustomerConfig, box: SecretBox | undefined, onProblem: RulesProblem): RulesOrFailure {
  let rules = compiled.get(customer);
  if (rules === undefined) {
    rules = compile(customer, box, onProblem);
    compiled.set(customer, rules);
  }
  return rules;
}

function compile(customer: CustomerConfig, box: SecretBox | undefined, onProblem: RulesProblem): RulesOrFailure {
  let rules: CompiledRules;
  try {
    rules = compileRules(customer);
  } catch (err) {
    const message = `the delivery rules of customer "${customer.id}" (version ${customer.version}) do not compile on this edge, so its requests are refused: ${(err as Error).message}. Upgrade this edge to the api's version.`;
    onProblem(customer.id, message);
    return { failed: message };
  }
  const keys: Array<{ id: string; secret: string }> = [];
  for (const key of customer.signingKeys ?? []) {
    const secret = box?.open(key.secretCiphertext) ?? null;
    if (secret === null) onProblem(customer.id, `signing key ${key.id} of customer "${customer.id}" cannot be opened: CDN_SECRET_KEY differs from the api's; links it signed are refused`);
    else keys.push({ id: key.id, secret });
  }
  return { compiled: rules, keys };
}

/** Nothing in the decision changes the answer's fields. */
export function changesNoFields(decision: Decision): boolean {
  return decision.browserTtl === undefined && decision.responseHeaders.length === 0;
}

/**
 * The answer's fields as the rules want them: the browser TTL (Cache-Control clients get,
 * replacing the origin's, but never turning a `no-store` or `private` answer into a shareable
 * one), then the response header operations in order.
 */
export function ruledResponseHeaders(headers: StoredHeaders, decision: Decision): StoredHeaders {
  if (changesNoFields(decision)) return headers;
  let out: StoredHeaders = headers;
  if (decision.browserTtl !== undefined) out = { ...out, 'cache-control': browserCacheControl(out['cache-control'], decision.browserTtl) };
  if (decision.responseHeaders.length > 0) out = applyHeaderOps(out, decision.responseHeaders) as StoredHeaders;
  return out;
}

function browserCacheControl(origin: string | string[] | undefined, seconds: number): string {
  const value = (Array.isArray(origin) ? origin.join(', ') : (origin ?? '')).toLowerCase();
  const has = (directive: string) => new RegExp(`(^|,)\\s*${directive}\\s*(=|,|$)`).test(value);
  if (has('no-store')) return 'no-store';
  const ttl = seconds === 0 ? 'no-cache' : `max-age=${seconds}`;
  return has('private') ? `private, ${ttl}` : ttl;
}

/**
 * A URL's query as the customer's rules put it in the key, for a request without headers or
 * cookies (a URL purge names a URL, not a request): the purge engine keys URL purges with it.
 * Objects the rules split by header or cookie values sort under the URL's key, so the purge
 * covers them all.
 */
export function urlQueryOf(customer: CustomerConfig | undefined, path: string, query: string, box: SecretBox | undefined, onProblem: RulesProblem): string {
  const rules = customer === undefined ? undefined : rulesOf(customer, box, onProblem);
  if (rules === undefined || 'failed' in rules) return applyQueryPolicy(query, ALL);
  return applyQueryPolicy(query, rules.compiled.decide(requestFacts({ method: 'GET', path, headers: {} })).query);
}

const ALL = Object.freeze({ mode: 'all' as const });
