/**
 * Checks a purge request, collecting every problem so the caller reports them all at
 * once. Two steps: `validatePurge` needs nothing but the command; `resolvePurgeValue`
 * needs the customer's domains (an absolute URL must be on one of them) and turns the
 * value into what the edge matches, `path?query`. Field names are the GraphQL argument
 * paths (`input.value`).
 */
import { normalizeHostname } from '../../core/customer.rules';
import { invalidInput, type FieldProblem } from '../../core/errors';
import { PURGE_KINDS, PURGE_VALUE_MAX_CHARS, type PurgeKind } from '../../core/purge.types';
import { checkText } from '../../core/text.rules';

export const PURGE_WAIT_TIMEOUT_DEFAULT_MS = 10_000;
export const PURGE_WAIT_TIMEOUT_MAX_MS = 60_000;

export interface RequestPurgeCommand {
  customerId: string;
  kind: PurgeKind;
  /** Path or absolute URL (URL, PREFIX), tag (TAG); absent for ALL. */
  value?: string | null;
  soft?: boolean | null;
  /** Only checked here; waiting is the caller's (see PurgeTracker.waitUntilComplete). */
  waitTimeoutMs?: number | null;
}

/** A command that passed the checks that need no database. */
export interface ValidPurge {
  customerId: string;
  kind: PurgeKind;
  /** As given (an absolute URL is reduced by resolvePurgeValue); null for ALL. */
  value: string | null;
  soft: boolean;
  waitTimeoutMs: number;
}

const EXAMPLES: Record<PurgeKind, string> = {
  URL: 'a path such as /img/logo.png',
  PREFIX: 'a path prefix such as /img/',
  TAG: 'a tag such as product-42',
  ALL: '',
};

const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;
// Spaces and control characters never reach an edge unencoded in a request target.
const SPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f]/;
const USE_ALL = 'to purge every object of the customer, use kind ALL (without a value)';

/** Throws CDN_ERR_INPUT_INVALID listing every problem, or returns the checked command. */
export function validatePurge(cmd: RequestPurgeCommand, prefix = 'input'): ValidPurge {
  const field = `${prefix}.value`;
  const problems: FieldProblem[] = [];
  const value = cmd.value ?? null;
  // PostgreSQL refuses a NUL in the id it is looked up by; no id has control characters anyway.
  problems.push(...checkText(cmd.customerId, `${prefix}.customerId`));
  const valueText = value === null ? [] : checkText(value, field);
  if (!PURGE_KINDS.includes(cmd.kind)) {
    problems.push({ field: `${prefix}.kind`, message: `must be one of ${PURGE_KINDS.join(', ')}, got "${String(cmd.kind)}"` });
  } else if (cmd.kind === 'ALL') {
    if (value !== null) problems.push({ field, message: 'must be left out for kind ALL, which purges every object of the customer' });
  } else if (value === null) {
    problems.push({ field, message: `is required for kind ${cmd.kind}: ${EXAMPLES[cmd.kind]}${cmd.kind === 'PREFIX' ? `; ${USE_ALL}` : ''}` });
  } else if (value.length > PURGE_VALUE_MAX_CHARS) {
    problems.push({ field, message: `is ${value.length} characters long; the most is ${PURGE_VALUE_MAX_CHARS}` });
  } else if (valueText.length > 0) {
    problems.push(...valueText);
  } else {
    problems.push(...(cmd.kind === 'TAG' ? checkTag(value, field) : checkPathOrUrl(cmd.kind, value, field)));
  }
  const waitTimeoutMs = cmd.waitTimeoutMs ?? PURGE_WAIT_TIMEOUT_DEFAULT_MS;
  if (!Number.isInteger(waitTimeoutMs) || waitTimeoutMs < 1 || waitTimeoutMs > PURGE_WAIT_TIMEOUT_MAX_MS) {
    problems.push({
      field: `${prefix}.waitTimeoutMs`,
      message: `must be a whole number of milliseconds from 1 to ${PURGE_WAIT_TIMEOUT_MAX_MS}, got ${waitTimeoutMs}`,
    });
  }
  if (problems.length > 0) throw invalidInput(problems);
  return { customerId: cmd.customerId, kind: cmd.kind, value, soft: cmd.soft ?? false, waitTimeoutMs };
}

/**
 * The value as the edge matches it: a path is kept as given; an absolute URL must name
 * one of the customer's domains and is reduced to its `path?query`. Throws
 * CDN_ERR_INPUT_INVALID naming a foreign host.
 */
export function resolvePurgeValue(valid: ValidPurge, customer: { id: string; domains: readonly string[] }, prefix = 'input'): string | null {
  const value = valid.value;
  if (value === null || valid.kind === 'TAG' || value.startsWith('/')) return value;
  const field = `${prefix}.value`;
  const host = normalizeHostname(new URL(value).hostname.replace(/^\[(.*)\]$/, '$1'));
  if (!customer.domains.includes(host)) {
    throw invalidInput([
      {
        field,
        message:
          `host "${host}" is not a domain of customer "${customer.id}" (its domains: ${customer.domains.join(', ')}); ` +
          'give a URL on one of those domains, or the path alone, such as /img/logo.png',
      },
    ]);
  }
  const rest = ABSOLUTE.exec(value)![3]!;
  const path = rest.startsWith('/') ? rest : `/${rest}`;
  if (valid.kind === 'PREFIX' && path === '/') {
    throw invalidInput([{ field, message: `the prefix "${value}" (path "/") matches every object of the customer; ${USE_ALL}` }]);
  }
  return path;
}

function checkTag(value: string, field: string): FieldProblem[] {
  if (value === '') return [{ field, message: `must not be empty: ${EXAMPLES.TAG}` }];
  if (/[\s,]/.test(value) || SPACE_OR_CONTROL.test(value)) {
    return [{ field, message: `must be one tag, without spaces or commas, got "${value}"; purge several tags with one purge each` }];
  }
  return [];
}

function checkPathOrUrl(kind: 'URL' | 'PREFIX', value: string, field: string): FieldProblem[] {
  if (kind === 'PREFIX' && (value === '' || value === '/')) {
    return [{ field, message: `${value === '' ? 'an empty prefix' : 'the prefix "/"'} matches every object of the customer; ${USE_ALL}` }];
  }
  if (SPACE_OR_CONTROL.test(value)) {
    return [{ field, message: 'must not contain spaces or control characters; percent-encode them as a client would (a space is %20)' }];
  }
  if (value.includes('#')) {
    return [{ field, message: 'must not contain a fragment ("#..."): clients never send one, so no cached object has one' }];
  }
  if (value.startsWith('/')) return [];
  const absolute = ABSOLUTE.exec(value);
  const scheme = absolute?.[1]?.toLowerCase();
  if (absolute && (scheme === 'http' || scheme === 'https') && URL.canParse(value) && new URL(value).hostname !== '') return [];
  return [
    {
      field,
      message: `must be a path starting with "/" (${EXAMPLES[kind]}) or an http(s) URL on one of the customer's domains, got "${value}"`,
    },
  ];
}
