/**
 * Validation of a customer's whole rule list (delivery-rules.types.ts), for every way in: the
 * GraphQL input, the customers file (`cdn edge --config`), and the edge's compiler as a last
 * guard. The list arrives as JSON, so the input is `unknown`: shapes and unknown fields are
 * checked here too, and every problem names the rule by index and name, and the field:
 * `rules[3] (images).match.globs[0]: ...`. Nothing throws; all problems come back at once.
 *
 * Where HTTP is case-insensitive (header names, extensions, host names, media types) any case
 * is accepted and normalizeRules stores it lower-case; methods, cookie and query parameter
 * names are case-sensitive and kept as written (methods must be upper-case).
 *
 * Actions and their conflicts: delivery-rules.actions.rules.ts. Globs: delivery-rules.glob.ts.
 */
import type { FieldProblem } from './errors';
import { checkActions, normalizeActions } from './delivery-rules.actions.rules';
import { globProblem } from './delivery-rules.glob';
import { checkFieldName, given, isPlainObject, KNOWN, Problems, TOKEN, UPPER_TOKEN } from './delivery-rules.problems';
import { DEFAULT_RULE_NAME, RULE_NAME_MAX, RULES_MAX_DEFAULT, type DeliveryRule, type FieldMatch, type RuleMatch } from './delivery-rules.types';

export {
  CIDRS_MAX,
  HEADER_OPS_MAX,
  HEADER_VALUE_MAX,
  KEY_FIELDS_MAX,
  PROTECTED_HEADERS,
  protectedHeaderReason,
  QUERY_KEY_MODES,
  RATE_BURST_MAX,
  RATE_PER_SECOND_MAX,
  REDIRECT_LOCATION_MAX,
  REDIRECT_PLACEHOLDERS,
  REDIRECT_STATUSES,
  REFERERS_MAX,
} from './delivery-rules.actions.rules';
export { GLOB_LENGTH_MAX, GLOB_WILDCARDS_MAX } from './delivery-rules.glob';

/** Conditions nest (all, any, not) at most this deep; `match` itself is depth 1. */
export const MATCH_DEPTH_MAX = 8;
/** Match objects in one rule, nested ones included: bounds the work per request. */
export const MATCH_CONDITIONS_MAX = 64;
/** Elements of one list in a match (pathPrefixes, globs, extensions, methods, values, all, any). */
export const MATCH_LIST_MAX = 100;
export const PATH_PREFIX_MAX = 1024;
export const EXTENSION_MAX = 32;
export const FIELD_VALUE_MAX = 4096;
export const COMPRESS_TYPES_MAX = 50;

export interface RulesCheckOptions {
  /** Most rules allowed (the operator's CDN_RULES_MAX); default RULES_MAX_DEFAULT. */
  max?: number;
  /** Where the list sits in the input: `rules` (default), `input.rules`, `[2].rules`. */
  field?: string;
}

const RULE_NAME = /^[a-z0-9][a-z0-9_-]*$/;
// A raw request path: visible ASCII; anything else arrives percent-encoded.
const RAW_PATH = /^[\x21-\x7e]*$/;
const EXTENSION = /^[A-Za-z0-9]+$/;
// RFC 6838 §4.2 restricted names.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/**
 * Every problem of a rule list: shape, unknown fields, names, count, each condition and
 * action, and conflicting actions within one rule. Empty when the list may be stored.
 * null or undefined is an empty list.
 */
export function checkDeliveryRules(value: unknown, options: RulesCheckOptions = {}): FieldProblem[] {
  const field = options.field ?? 'rules';
  const max = options.max ?? RULES_MAX_DEFAULT;
  if (!given(value)) return [];
  if (!Array.isArray(value)) return [{ field, message: 'must be a list of rules: [{ "name", "match"?, "actions" }]' }];
  // Alone: a list far too long is not worth reading rule by rule.
  if (value.length > max) {
    return [{ field, message: `must hold at most ${max} rules (got ${value.length}); merge rules, or ask the operator to raise CDN_RULES_MAX` }];
  }
  const p = new Problems();
  const names = new Map<string, number>();
  value.forEach((raw: unknown, i) => {
    const label = ruleLabel(field, i, isPlainObject(raw) ? raw.name : undefined);
    const rule = p.object(raw, label, KNOWN.rule, '{ "name", "match"?, "actions" }');
    if (rule === undefined) return;
    if (checkRuleName(rule.name, `${label}.name`, p)) {
      const name = rule.name as string;
      const first = names.get(name);
      if (first !== undefined) p.add(`${label}.name`, `"${name}" is already the name of ${field}[${first}]; rule names must be unique`);
      else names.set(name, i);
    }
    if (given(rule.match)) checkMatch(rule.match, `${label}.match`, 1, { conditions: 0 }, p);
    if (!given(rule.actions)) p.add(`${label}.actions`, `is required: give at least one of ${KNOWN.actions.join(', ')}`);
    else checkActions(rule.actions, `${label}.actions`, p);
  });
  return p.list;
}

/** `rules[3] (images)`: the index always, the name when it prints as it is. */
function ruleLabel(field: string, index: number, name: unknown): string {
  const printable = typeof name === 'string' && name.length > 0 && name.length <= RULE_NAME_MAX && /^[\x21-\x7e]+$/.test(name);
  return printable ? `${field}[${index}] (${name})` : `${field}[${index}]`;
}

function checkRuleName(value: unknown, at: string, p: Problems): boolean {
  const before = p.list.length;
  if (typeof value !== 'string') p.add(at, 'is required and must be a string');
  else if (value.length === 0) p.add(at, 'must not be empty');
  else if (value.length > RULE_NAME_MAX) p.add(at, `must be at most ${RULE_NAME_MAX} characters (got ${value.length})`);
  else if (!RULE_NAME.test(value)) p.add(at, `${JSON.stringify(value)} is not a rule name: use lower-case letters, digits, "-" and "_", starting with a letter or digit`);
  else if (value === DEFAULT_RULE_NAME) {
    p.add(at, `"${DEFAULT_RULE_NAME}" is the implicit first rule, made of the customer's cacheTtl, queryString and staleIfErrorSeconds; choose another name, or change those fields`);
  }
  return p.list.length === before;
}

function checkMatch(value: unknown, at: string, depth: number, budget: { conditions: number }, p: Problems): void {
  // Before reading any further: a deeper list is not walked at all.
  if (depth > MATCH_DEPTH_MAX) return p.add(at, `nests conditions more than ${MATCH_DEPTH_MAX} deep (all, any, not); write it flatter`);
  budget.conditions += 1;
  if (budget.conditions === MATCH_CONDITIONS_MAX + 1) {
    p.add(at, `makes the rule hold more than ${MATCH_CONDITIONS_MAX} conditions (nested ones included); split it into several rules`);
  }
  const m = p.object(value, at, KNOWN.match, `with at least one of ${KNOWN.match.join(', ')}`);
  if (m === undefined) return;
  if (!KNOWN.match.some((k) => given(m[k]))) {
    return p.add(at, depth === 1 ? 'has no condition; leave "match" out to match every request' : `has no condition; give at least one of ${KNOWN.match.join(', ')}`);
  }
  const each = (key: string, what: string, check: (v: unknown, itemAt: string) => void): void => {
    if (given(m[key])) p.array(m[key], `${at}.${key}`, MATCH_LIST_MAX, what)?.forEach((v, i) => check(v, `${at}.${key}[${i}]`));
  };
  each('pathPrefixes', 'path prefixes such as "/images/"', (v, itemAt) => {
    const s = p.string(v, itemAt, PATH_PREFIX_MAX);
    if (s !== undefined) checkRawPath(s, itemAt, 'prefix', p);
  });
  each('globs', 'globs such as "/images/*.png"', (v, itemAt) => {
    const s = p.string(v, itemAt, Number.MAX_SAFE_INTEGER);
    if (s === undefined) return;
    const problem = globProblem(s);
    if (problem !== undefined) p.add(itemAt, problem);
    else checkRawPath(s, itemAt, 'glob', p);
  });
  each('extensions', 'file extensions such as "png"', (v, itemAt) => {
    const s = p.string(v, itemAt, EXTENSION_MAX);
    if (s === undefined) return;
    if (s.startsWith('.') && EXTENSION.test(s.slice(1))) p.add(itemAt, `write the extension without the dot: "${s.slice(1)}"`);
    else if (!EXTENSION.test(s)) p.add(itemAt, `${JSON.stringify(s)} is not an extension: letters and digits only, such as "webp"`);
  });
  each('methods', 'HTTP methods such as "GET"', (v, itemAt) => {
    const s = p.string(v, itemAt, 32);
    if (s === undefined || UPPER_TOKEN.test(s)) return;
    p.add(itemAt, TOKEN.test(s) ? `methods are case-sensitive: write "${s.toUpperCase()}"` : `${JSON.stringify(s)} is not an HTTP method`);
  });
  each('headers', 'header conditions { "name", "values"? }', (v, itemAt) => checkFieldMatch(v, itemAt, 'header', p));
  each('cookies', 'cookie conditions { "name", "values"? }', (v, itemAt) => checkFieldMatch(v, itemAt, 'cookie', p));
  each('all', 'conditions', (v, itemAt) => checkMatch(v, itemAt, depth + 1, budget, p));
  each('any', 'conditions', (v, itemAt) => checkMatch(v, itemAt, depth + 1, budget, p));
  if (given(m.not)) checkMatch(m.not, `${at}.not`, depth + 1, budget, p);
}

function checkRawPath(s: string, at: string, kind: 'prefix' | 'glob', p: Problems): void {
  if (kind === 'prefix' && !s.startsWith('/')) return p.add(at, `"${s}" must start with "/"`);
  if (!RAW_PATH.test(s)) {
    const bad = [...s].find((c) => !RAW_PATH.test(c))!;
    const encoded = [...Buffer.from(bad, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
    return p.add(at, `contains ${JSON.stringify(bad)}: paths are compared as sent, percent-encoded; write it as ${encoded}`);
  }
  if (s.includes('#')) return p.add(at, 'contains "#": a fragment is never sent to the server, so it cannot match');
  if (kind === 'prefix' && s.includes('?')) return p.add(at, 'contains "?": the query string is not part of the path (see cacheKey.query)');
}

function checkFieldMatch(value: unknown, at: string, kind: 'header' | 'cookie', p: Problems): void {
  const f = p.object(value, at, KNOWN.fieldMatch, '{ "name", "values"? }');
  if (f === undefined) return;
  if (!given(f.name)) p.add(`${at}.name`, 'is required');
  else checkFieldName(f.name, `${at}.name`, kind, p);
  if (!given(f.values)) return;
  p.array(f.values, `${at}.values`, MATCH_LIST_MAX, `values (leave "values" out to match any ${kind} that is present)`)?.forEach((v, i) =>
    p.string(v, `${at}.values[${i}]`, FIELD_VALUE_MAX),
  );
}

/**
 * The canonical copy that is stored: only known fields, in one order, nothing undefined or
 * null; case-insensitive text lower-cased (extensions, header names, referer hosts, IPv6
 * blocks), key fields deduplicated. Lists keep their order (header operations run in it).
 * Call it on a list checkDeliveryRules accepted.
 */
export function normalizeRules(rules: readonly DeliveryRule[]): DeliveryRule[] {
  return rules.map((rule) => ({
    name: rule.name,
    ...(given(rule.match) ? { match: normalizeMatch(rule.match!) } : {}),
    actions: normalizeActions(rule.actions),
  }));
}

function normalizeMatch(m: RuleMatch): RuleMatch {
  const field = (f: FieldMatch, lower: boolean): FieldMatch => ({
    name: lower ? f.name.toLowerCase() : f.name,
    ...(given(f.values) ? { values: [...f.values!] } : {}),
  });
  return {
    ...(given(m.pathPrefixes) ? { pathPrefixes: [...m.pathPrefixes!] } : {}),
    ...(given(m.globs) ? { globs: [...m.globs!] } : {}),
    ...(given(m.extensions) ? { extensions: [...new Set(m.extensions!.map((e) => e.toLowerCase()))] } : {}),
    ...(given(m.methods) ? { methods: [...m.methods!] } : {}),
    ...(given(m.headers) ? { headers: m.headers!.map((f) => field(f, true)) } : {}),
    ...(given(m.cookies) ? { cookies: m.cookies!.map((f) => field(f, false)) } : {}),
    ...(given(m.all) ? { all: m.all!.map(normalizeMatch) } : {}),
    ...(given(m.any) ? { any: m.any!.map(normalizeMatch) } : {}),
    ...(given(m.not) ? { not: normalizeMatch(m.not!) } : {}),
  };
}

/**
 * Unknown JSON (a customers file's `rules`, a GraphQL JSON input) to a rule list: the
 * normalised rules when there is no problem, none otherwise. null or undefined: no rules.
 */
export function readRules(value: unknown, options: RulesCheckOptions = {}): { rules: DeliveryRule[]; problems: FieldProblem[] } {
  const problems = checkDeliveryRules(value, options);
  if (problems.length > 0) return { rules: [], problems };
  return { rules: given(value) ? normalizeRules(value as DeliveryRule[]) : [], problems: [] };
}

/** The same from JSON text (a GraphQL String argument, a file's contents). */
export function readRulesJson(text: string, options: RulesCheckOptions = {}): { rules: DeliveryRule[]; problems: FieldProblem[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { rules: [], problems: [{ field: options.field ?? 'rules', message: `is not JSON (${err instanceof Error ? err.message : String(err)})` }] };
  }
  return readRules(value, options);
}

/**
 * A customer's compressTypes: media types (`type/subtype`, no parameters or wildcards), at
 * most COMPRESS_TYPES_MAX. null or undefined: none. Stored lower-case (normalizeCompressTypes).
 */
export function checkCompressTypes(value: unknown, field = 'compressTypes'): FieldProblem[] {
  if (!given(value)) return [];
  if (!Array.isArray(value)) return [{ field, message: 'must be a list of media types such as "application/x-ndjson"' }];
  if (value.length > COMPRESS_TYPES_MAX) return [{ field, message: `must list at most ${COMPRESS_TYPES_MAX} media types (got ${value.length})` }];
  const p = new Problems();
  value.forEach((v: unknown, i) => {
    const s = p.string(v, `${field}[${i}]`, 255);
    if (s !== undefined && !MEDIA_TYPE.test(s)) {
      p.add(`${field}[${i}]`, `${JSON.stringify(s)} is not a media type: write type/subtype, such as "application/x-ndjson" (no parameters, no "*")`);
    }
  });
  return p.list;
}

/** The stored form of accepted compressTypes: lower-case, repeats dropped (first kept). */
export function normalizeCompressTypes(types: readonly string[]): string[] {
  return [...new Set(types.map((t) => t.toLowerCase()))];
}
