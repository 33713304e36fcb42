/**
 * What the delivery-rule validators share: a problem collector that reads JSON of unknown
 * shape (plain objects only, unknown fields refused with a "did you mean"), the table of
 * known fields per object, and the token rules of RFC 9110 names.
 */
import type { FieldProblem } from './errors';
import type {
  AccessAction,
  CacheAction,
  CacheKeyAction,
  DeliveryRule,
  EdgeTtl,
  FieldMatch,
  HeaderOp,
  QueryKeyPolicy,
  RateLimitAction,
  RedirectAction,
  RefererPolicy,
  RuleActions,
  RuleMatch,
} from './delivery-rules.types';
import { checkText } from './text.rules';

/** Every key of T, once: the compiler refuses a list that misses a field of the type. */
function fieldsOf<T>() {
  return <const K extends readonly (keyof T & string)[]>(...keys: K & ([Exclude<keyof T, K[number]>] extends [never] ? unknown : never)): K => keys;
}

/** The fields each object of a rule may have, in the order normalizeRules writes them. */
export const KNOWN = {
  rule: fieldsOf<DeliveryRule>()('name', 'match', 'actions'),
  match: fieldsOf<RuleMatch>()('pathPrefixes', 'globs', 'extensions', 'methods', 'headers', 'cookies', 'all', 'any', 'not'),
  fieldMatch: fieldsOf<FieldMatch>()('name', 'values'),
  actions: fieldsOf<RuleActions>()('cache', 'cacheKey', 'responseHeaders', 'originHeaders', 'access', 'redirect'),
  cache: fieldsOf<CacheAction>()('bypass', 'edgeTtl', 'browserTtl', 'staleWhileRevalidate', 'staleIfError'),
  edgeTtl: fieldsOf<EdgeTtl>()('seconds', 'mode'),
  cacheKey: fieldsOf<CacheKeyAction>()('query', 'headers', 'cookies'),
  query: fieldsOf<QueryKeyPolicy>()('mode', 'names'),
  headerOp: fieldsOf<HeaderOp>()('op', 'name', 'value'),
  access: fieldsOf<AccessAction>()('deny', 'allowCidrs', 'denyCidrs', 'referers', 'signedUrl', 'rateLimit'),
  referers: fieldsOf<RefererPolicy>()('allow', 'allowEmpty'),
  rateLimit: fieldsOf<RateLimitAction>()('perSecond', 'burst'),
  redirect: fieldsOf<RedirectAction>()('status', 'location'),
} as const;

// RFC 9110 §5.6.2 token, and its upper-case form (methods are case-sensitive, §9.1).
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const UPPER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Z]+$/;

/** Absent (undefined) and null both read as "not given", as elsewhere in customer input. */
export function given(value: unknown): boolean {
  return value !== undefined && value !== null;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  // null: graphql-scalars' JSON scalar builds its objects without a prototype.
  return proto === Object.prototype || proto === null;
}

/** Collects problems; each reader returns the value when it is right, undefined otherwise. */
export class Problems {
  readonly list: FieldProblem[] = [];

  add(field: string, message: string): void {
    this.list.push({ field, message });
  }

  addAll(problems: readonly FieldProblem[]): void {
    this.list.push(...problems);
  }

  /** A plain JSON object whose fields are all in `known`. */
  object(value: unknown, at: string, known: readonly string[], shape: string): Record<string, unknown> | undefined {
    if (!isPlainObject(value)) {
      this.add(at, `must be an object ${shape}`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const near = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
      this.add(`${at}.${printableKey(key)}`, `is not a known field${near === undefined ? '' : ` (did you mean "${near}"?)`}; the fields here are ${known.join(', ')}`);
    }
    return value;
  }

  /** A non-empty array of at most `max` elements. */
  array(value: unknown, at: string, max: number, what: string): unknown[] | undefined {
    if (!Array.isArray(value)) {
      this.add(at, `must be a list of ${what}`);
      return undefined;
    }
    if (value.length === 0) {
      this.add(at, `must list at least one of ${what}, or be left out`);
      return undefined;
    }
    if (value.length > max) {
      this.add(at, `must list at most ${max} (got ${value.length})`);
      return undefined;
    }
    return value;
  }

  /** A string of at most `max` characters without control characters (text.rules.ts). */
  string(value: unknown, at: string, max: number): string | undefined {
    if (typeof value !== 'string') {
      this.add(at, 'must be a string');
      return undefined;
    }
    if (value.length > max) {
      this.add(at, `must be at most ${max} characters (got ${value.length})`);
      return undefined;
    }
    const text = checkText(value, at);
    if (text.length > 0) {
      this.addAll(text);
      return undefined;
    }
    return value;
  }

  integer(value: unknown, at: string, min: number, max: number, unit: string): number | undefined {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.add(at, `must be a whole number of ${unit} from ${min} to ${max}, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  boolean(value: unknown, at: string): boolean | undefined {
    if (typeof value !== 'boolean') {
      this.add(at, `must be true or false, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return Array.isArray(value) ? 'a list' : value === null ? 'null' : typeof value;
}

/** A field name for a problem's path: plain identifiers as they are, anything else quoted (it is client text). */
function printableKey(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key) ? key : JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = up;
    }
  }
  return row[b.length]!;
}

/**
 * A request header name or a cookie name: an RFC 9110 token. Header names are
 * case-insensitive and stored lower-case (normalizeRules); cookie names are compared as sent.
 */
export function checkFieldName(value: unknown, at: string, kind: 'header' | 'cookie', p: Problems): string | undefined {
  const s = p.string(value, at, 256);
  if (s === undefined) return undefined;
  if (!TOKEN.test(s)) {
    p.add(at, `${JSON.stringify(s)} is not a ${kind} name (letters, digits and !#$%&'*+-.^_\`|~; no spaces, ":" or "=")`);
    return undefined;
  }
  return kind === 'header' ? s.toLowerCase() : s;
}
