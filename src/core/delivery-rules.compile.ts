/**
 * A customer's rules compiled once per customer change into one `decide(facts)` the edge calls
 * per request: the matching is closures over precomputed sets, prefixes and globs (compiled
 * once: delivery-rules.glob.ts), and the merged actions of each combination of matching rules
 * are computed once and kept, so a request costs its matching and a lookup.
 *
 * Merge (delivery-rules.types.ts): rules apply in order, the implicit `default` first. A later
 * rule's single value wins (bypass, each TTL, the query policy, the redirect); header
 * operations and the key's extra headers and cookies accumulate; access accumulates (any deny
 * refuses, every allow list must hold the client, every Referer policy must pass, signedUrl
 * if any rule asks; the rate limit is the last rule's).
 *
 * What to do with a Decision: delivery-rules.apply.ts (re-exported here).
 */
import type { BlockList } from 'node:net';
import { blockListOf } from './client-address.rules';
import type { CustomerConfig, QueryStringPolicy } from './customer.types';
import { compileReferers, parseCookies, type CompiledAccess, type CompiledReferers } from './delivery-rules.apply';
import { compileGlob } from './delivery-rules.glob';
import { checkDeliveryRules, normalizeRules } from './delivery-rules.rules';
import { DEFAULT_RULE_NAME, type DeliveryRule, type EdgeTtl, type HeaderOp, type QueryKeyPolicy, type RedirectAction, type RuleMatch } from './delivery-rules.types';
import { invalidInput } from './errors';

export {
  applyHeaderOps,
  applyQueryPolicy,
  checkAccess,
  parseCookies,
  renderRedirect,
  type AccessVerdict,
  type CompiledAccess,
  type CompiledReferers,
  type HeaderFields,
} from './delivery-rules.apply';

/** What a rule may look at in a request. */
export interface RequestFacts {
  /** Upper-case, as received. */
  method: string;
  /** The raw path: percent-encoded as received, without the query. */
  path: string;
  /** A request header by lower-case name (repeated fields joined with ", "), or undefined. */
  header(name: string): string | undefined;
  /** A cookie by name (parseCookies), or undefined. */
  cookie(name: string): string | undefined;
}

/**
 * RequestFacts over a header object as Node gives it (lower-case names); the Cookie header is
 * parsed on the first cookie asked for, once.
 */
export function requestFacts(request: { method: string; path: string; headers: Readonly<Record<string, string | readonly string[] | undefined>> }): RequestFacts {
  const { headers } = request;
  let cookies: Map<string, string> | undefined;
  return {
    method: request.method,
    path: request.path,
    header: (name) => {
      const value = headers[name];
      return value === undefined || typeof value === 'string' ? value : value.join(', ');
    },
    cookie: (name) => {
      if (cookies === undefined) {
        const value = headers.cookie;
        // Several Cookie fields are one list (RFC 9113 §8.2.3 splits it per cookie): "; " joins them.
        cookies = parseCookies(value === undefined || typeof value === 'string' ? value : value.join('; '));
      }
      return cookies.get(name);
    },
  };
}

/** The merged actions for one request. Frozen and shared between requests: never change one. */
export interface Decision {
  /** Names of the matching rules in order, `default` first. */
  readonly matched: readonly string[];
  readonly bypass: boolean;
  readonly edgeTtl: Readonly<EdgeTtl>;
  readonly browserTtl?: number;
  readonly staleWhileRevalidate?: number;
  readonly staleIfError?: number;
  readonly query: Readonly<QueryKeyPolicy>;
  /** Request headers (lower-case) and cookies whose values join the cache key; sorted, so rule order does not matter. */
  readonly keyHeaders: readonly string[];
  readonly keyCookies: readonly string[];
  readonly responseHeaders: readonly HeaderOp[];
  readonly originHeaders: readonly HeaderOp[];
  /** undefined when no matching rule checks access. */
  readonly access: CompiledAccess | undefined;
  readonly redirect?: Readonly<RedirectAction>;
}

export interface CompiledRules {
  /** Rules, the implicit `default` included. */
  readonly count: number;
  /** Their names in order, `default` first. */
  readonly names: readonly string[];
  /** No rule looks at the method, a header or a cookie: a caller may keep decisions per path. */
  readonly pathOnly: boolean;
  /** Some rule matches on a cookie or puts one in the key: the Cookie header must be read. */
  readonly usesCookies: boolean;
  /**
   * The request fields (lower-case) some rule matches on or puts in the key, Cookie included
   * when a rule reads a cookie: what an edge must pass to a shield for it to decide alike.
   */
  readonly headersRead: readonly string[];
  decide(facts: RequestFacts): Decision;
  /**
   * `decide` for requests of one path: the rules that read only the path are judged once, here,
   * and only the others per request (a hit path keeps one per URL: with rules that read headers,
   * a request then costs the few rules that can still go either way). Same answers as `decide`.
   */
  forPath(path: string): (facts: RequestFacts) => Decision;
}

/**
 * Distinct combinations of matching rules whose Decision is kept. Header and cookie
 * conditions let clients choose which rules match: past this, a Decision is merged per
 * request instead of kept, so memory stays bounded whatever the requests.
 */
export const DECISIONS_KEPT_MAX = 4096;

/** The customer's own fields as the implicit first rule, `default`, which matches every request. */
export function defaultRule(customer: Pick<CustomerConfig, 'cacheTtl' | 'queryString' | 'staleIfErrorSeconds'>): DeliveryRule {
  const stale = customer.staleIfErrorSeconds;
  return {
    name: DEFAULT_RULE_NAME,
    actions: {
      cache: { edgeTtl: { seconds: customer.cacheTtl, mode: 'default' }, ...(stale !== null && stale !== undefined ? { staleIfError: stale } : {}) },
      cacheKey: { query: queryPolicyOf(customer.queryString) },
    },
  };
}

function queryPolicyOf(policy: QueryStringPolicy | undefined): QueryKeyPolicy {
  if (policy === undefined || policy.mode === 'keep') return { mode: 'all' };
  if (policy.mode === 'ignore') return { mode: 'none' };
  return { mode: 'allow', names: [...policy.allow] };
}

type Test = (facts: RequestFacts, request: { ext?: string }) => boolean;

interface CompiledRule {
  name: string;
  rule: DeliveryRule;
  test: Test | undefined;
  allowCidrs: BlockList | undefined;
  denyCidrs: BlockList | undefined;
  referers: CompiledReferers | undefined;
}

/** A rule to test for a request: `test` undefined when it is known to match. */
interface Candidate {
  index: number;
  test: Test | undefined;
}

interface MemoNode {
  children: Map<number, MemoNode> | undefined;
  decision: Decision | undefined;
  /** The indices of the matching rules that lead here (the trie's path), to merge from. */
  hits: readonly number[];
}

/**
 * Compiles the rules after `default`. Throws CDN_ERR_INPUT_INVALID for rules the validator
 * refuses (every way in validates first; this guards against a list stored by a newer
 * version with fields this one does not know: better refused than half applied).
 */
export function compileRules(customer: Pick<CustomerConfig, 'cacheTtl' | 'queryString' | 'staleIfErrorSeconds' | 'rules'>): CompiledRules {
  const own = customer.rules ?? [];
  const problems = checkDeliveryRules(own, { max: Number.MAX_SAFE_INTEGER });
  if (problems.length > 0) throw invalidInput(problems);
  const rules = [defaultRule(customer), ...normalizeRules(own)].map(compileRule);
  const matches = rules.map((r) => r.rule.match).filter((m): m is RuleMatch => m !== undefined);
  const pathOnly = !matches.some((m) => looksAt(m, ['methods', 'headers', 'cookies']));
  const usesCookies = matches.some((m) => looksAt(m, ['cookies'])) || rules.some((r) => (r.rule.actions.cacheKey?.cookies?.length ?? 0) > 0);

  const root: MemoNode = { children: undefined, decision: undefined, hits: [] };
  let kept = 0;
  // The trie is walked while the rules are tested: a combination already met costs its
  // matching and nothing else (no list of indices is built); a new one is collected and kept.
  const decideOver = (candidates: readonly Candidate[], facts: RequestFacts, request: { ext?: string }): Decision => {
    let node = root;
    let hits: number[] | undefined;
    for (const { index, test } of candidates) {
      if (test !== undefined && !test(facts, request)) continue;
      if (hits !== undefined) {
        hits.push(index);
        continue;
      }
      const next = node.children?.get(index);
      if (next !== undefined) node = next;
      else hits = [...node.hits, index];
    }
    if (hits === undefined) return (node.decision ??= merge(rules, [...node.hits]));
    if (kept + hits.length - node.hits.length > DECISIONS_KEPT_MAX) return merge(rules, hits);
    for (let d = node.hits.length; d < hits.length; d += 1) {
      const next: MemoNode = { children: undefined, decision: undefined, hits: hits.slice(0, d + 1) };
      (node.children ??= new Map()).set(hits[d]!, next);
      kept += 1;
      node = next;
    }
    return (node.decision = merge(rules, hits));
  };
  const all: readonly Candidate[] = rules.map((r, index) => ({ index, test: r.test }));
  const readsPathOnly = rules.map((r) => r.rule.match === undefined || !looksAt(r.rule.match, ['methods', 'headers', 'cookies']));
  const decide = (facts: RequestFacts): Decision => decideOver(all, facts, {});
  const forPath = (path: string): ((facts: RequestFacts) => Decision) => {
    // The extension is the path's: one `request` for every request of this path.
    const request: { ext?: string } = {};
    const pathFacts: RequestFacts = { method: '', path, header: () => undefined, cookie: () => undefined };
    const candidates = all.filter((c) => !readsPathOnly[c.index] || c.test === undefined || c.test(pathFacts, request)).map((c) => (readsPathOnly[c.index] ? { index: c.index, test: undefined } : c));
    return (facts) => decideOver(candidates, facts, request);
  };
  const headersRead = new Set<string>(usesCookies ? ['cookie'] : []);
  for (const m of matches) collectHeaders(m, headersRead);
  for (const r of rules) for (const name of r.rule.actions.cacheKey?.headers ?? []) headersRead.add(name.toLowerCase());
  return Object.freeze({ count: rules.length, names: Object.freeze(rules.map((r) => r.name)), pathOnly, usesCookies, headersRead: Object.freeze([...headersRead].sort()), decide, forPath });
}

function collectHeaders(m: RuleMatch, into: Set<string>): void {
  for (const field of m.headers ?? []) into.add(field.name.toLowerCase());
  for (const sub of [...(m.all ?? []), ...(m.any ?? []), ...(m.not === undefined ? [] : [m.not])]) collectHeaders(sub, into);
}

function compileRule(rule: DeliveryRule): CompiledRule {
  const access = rule.actions.access;
  return {
    name: rule.name,
    rule,
    test: rule.match === undefined ? undefined : compileMatch(rule.match),
    allowCidrs: access?.allowCidrs === undefined ? undefined : blockListOf(access.allowCidrs),
    denyCidrs: access?.denyCidrs === undefined ? undefined : blockListOf(access.denyCidrs),
    referers: access?.referers === undefined ? undefined : compileReferers(access.referers.allow, access.referers.allowEmpty),
  };
}

function looksAt(m: RuleMatch, keys: readonly ('methods' | 'headers' | 'cookies')[]): boolean {
  if (keys.some((k) => m[k] !== undefined)) return true;
  return [...(m.all ?? []), ...(m.any ?? []), ...(m.not === undefined ? [] : [m.not])].some((sub) => looksAt(sub, keys));
}

/** One closure per condition, cheapest first; every one must hold. */
function compileMatch(m: RuleMatch): Test {
  const tests: Test[] = [];
  if (m.methods !== undefined) {
    const methods = new Set(m.methods);
    tests.push((f) => methods.has(f.method));
  }
  if (m.pathPrefixes !== undefined) {
    const prefixes = m.pathPrefixes;
    tests.push((f) => {
      for (const p of prefixes) if (f.path.startsWith(p)) return true;
      return false;
    });
  }
  if (m.extensions !== undefined) {
    const extensions = new Set(m.extensions.map((e) => e.toLowerCase()));
    tests.push((f, request) => extensions.has((request.ext ??= extensionOf(f.path))));
  }
  if (m.globs !== undefined) {
    const globs = m.globs.map((glob) => compileGlob(glob));
    tests.push((f) => {
      for (const g of globs) if (g.test(f.path)) return true;
      return false;
    });
  }
  for (const field of m.headers ?? []) tests.push(fieldTest(field.name.toLowerCase(), field.values, (f, name) => f.header(name)));
  for (const field of m.cookies ?? []) tests.push(fieldTest(field.name, field.values, (f, name) => f.cookie(name)));
  if (m.all !== undefined) {
    const all = m.all.map(compileMatch);
    tests.push((f, request) => all.every((t) => t(f, request)));
  }
  if (m.any !== undefined) {
    const any = m.any.map(compileMatch);
    tests.push((f, request) => any.some((t) => t(f, request)));
  }
  if (m.not !== undefined) {
    const not = compileMatch(m.not);
    tests.push((f, request) => !not(f, request));
  }
  if (tests.length === 1) return tests[0]!;
  return (f, request) => {
    for (const t of tests) if (!t(f, request)) return false;
    return true;
  };
}

function fieldTest(name: string, values: readonly string[] | undefined, read: (f: RequestFacts, name: string) => string | undefined): Test {
  if (values === undefined) return (f) => read(f, name) !== undefined;
  const accepted = new Set(values);
  return (f) => {
    const value = read(f, name);
    return value !== undefined && accepted.has(value);
  };
}

/** The last segment's extension, lower-case ("" when it has no "."): `/a/b.tar.GZ` → `gz`. */
export function extensionOf(path: string): string {
  const segment = path.slice(path.lastIndexOf('/') + 1);
  const dot = segment.lastIndexOf('.');
  return dot < 0 ? '' : segment.slice(dot + 1).toLowerCase();
}

function merge(rules: readonly CompiledRule[], hits: readonly number[]): Decision {
  let bypass = false;
  let edgeTtl: EdgeTtl = { seconds: 0, mode: 'default' };
  let browserTtl: number | undefined;
  let staleWhileRevalidate: number | undefined;
  let staleIfError: number | undefined;
  let query: QueryKeyPolicy = { mode: 'all' };
  let redirect: RedirectAction | undefined;
  const keyHeaders = new Set<string>();
  const keyCookies = new Set<string>();
  const responseHeaders: HeaderOp[] = [];
  const originHeaders: HeaderOp[] = [];
  let deny = false;
  let signedUrl = false;
  let checks = false;
  let rateLimit: CompiledAccess['rateLimit'];
  const allowCidrs: BlockList[] = [];
  const denyCidrs: BlockList[] = [];
  const referers: CompiledReferers[] = [];
  for (const i of hits) {
    const r = rules[i]!;
    const { cache, cacheKey, access } = r.rule.actions;
    if (cache?.bypass !== undefined) bypass = cache.bypass;
    if (cache?.edgeTtl !== undefined) edgeTtl = cache.edgeTtl;
    if (cache?.browserTtl !== undefined) browserTtl = cache.browserTtl;
    if (cache?.staleWhileRevalidate !== undefined) staleWhileRevalidate = cache.staleWhileRevalidate;
    if (cache?.staleIfError !== undefined) staleIfError = cache.staleIfError;
    if (cacheKey?.query !== undefined) query = cacheKey.query;
    for (const h of cacheKey?.headers ?? []) keyHeaders.add(h);
    for (const c of cacheKey?.cookies ?? []) keyCookies.add(c);
    responseHeaders.push(...(r.rule.actions.responseHeaders ?? []));
    originHeaders.push(...(r.rule.actions.originHeaders ?? []));
    if (r.rule.actions.redirect !== undefined) redirect = r.rule.actions.redirect;
    if (access === undefined) continue;
    if (access.deny === true) deny = checks = true;
    if (access.signedUrl === true) signedUrl = checks = true;
    if (access.rateLimit !== undefined) {
      rateLimit = { perSecond: access.rateLimit.perSecond, burst: access.rateLimit.burst, rule: r.name };
      checks = true;
    }
    if (r.allowCidrs !== undefined) allowCidrs.push(r.allowCidrs);
    if (r.denyCidrs !== undefined) denyCidrs.push(r.denyCidrs);
    if (r.referers !== undefined) referers.push(r.referers);
  }
  checks ||= allowCidrs.length > 0 || denyCidrs.length > 0 || referers.length > 0;
  const access: CompiledAccess | undefined = checks
    ? Object.freeze({
        deny,
        allowCidrs: Object.freeze(allowCidrs),
        denyCidrs: Object.freeze(denyCidrs),
        referers: Object.freeze(referers),
        signedUrl,
        rateLimit: rateLimit === undefined ? undefined : Object.freeze(rateLimit),
      })
    : undefined;
  const decision: Decision = {
    matched: hits.map((i) => rules[i]!.name),
    bypass,
    edgeTtl,
    ...(browserTtl !== undefined ? { browserTtl } : {}),
    ...(staleWhileRevalidate !== undefined ? { staleWhileRevalidate } : {}),
    ...(staleIfError !== undefined ? { staleIfError } : {}),
    query,
    keyHeaders: [...keyHeaders].sort(),
    keyCookies: [...keyCookies].sort(),
    responseHeaders,
    originHeaders,
    access,
    ...(redirect !== undefined ? { redirect } : {}),
  };
  return deepFreeze(decision);
}

/** Freezes the plain parts of a Decision (BlockLists and Sets are left alone: their own methods keep them consistent). */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== Array.prototype) return value;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}
