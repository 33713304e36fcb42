/**
 * Checks a warmCache request, collecting every problem so the caller reports them all at
 * once, each naming the URL's index (`urls[3]`). Two steps, as for purges: `validateWarm`
 * needs nothing but the command; `resolveWarmTargets` needs the customer's domains (an
 * absolute URL must be on one of them, a path is warmed on the first) and folds duplicates.
 */
import { normalizeHostname } from '../../core/customer.rules';
import { invalidInput, type FieldProblem } from '../../core/errors';
import { checkText } from '../../core/text.rules';
import { machineOf, WARM_URL_MAX_CHARS, type WarmTarget } from '../../core/warm.types';
import { EDGE_ID_MAX_CHARS } from '../db/purge.store';

export interface WarmCacheCommand {
  customerId: string;
  /** Paths (`/img/logo.png`) or absolute http(s) URLs on the customer's domains. */
  urls: readonly string[];
  /** One edge (CDN_EDGE_ID, or a cluster worker's `<id>#<n>`, meaning its edge); absent: every live edge. */
  edgeId?: string | null;
}

/** A command that passed the checks that need no database. */
export interface ValidWarm {
  customerId: string;
  urls: string[];
  /** The machine named (a worker's `#<n>` dropped); null: every edge. */
  edgeId: string | null;
}

const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;
// Spaces and control characters never reach an edge unencoded in a request target.
const SPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f]/;

/** Throws CDN_ERR_INPUT_INVALID listing every problem, or returns the checked command. */
export function validateWarm(cmd: WarmCacheCommand, maxUrls: number): ValidWarm {
  const problems: FieldProblem[] = [...checkText(cmd.customerId, 'customerId')];
  if (cmd.urls.length === 0) {
    problems.push({ field: 'urls', message: 'must name at least one URL: a path such as /index.html, or an http(s) URL on one of the customer\'s domains' });
  } else if (cmd.urls.length > maxUrls) {
    // Each URL is not looked at: the list is refused whole, and it may be very long.
    problems.push({ field: 'urls', message: `names ${cmd.urls.length} URLs; the most one warm may name is ${maxUrls} (CDN_WARM_MAX_URLS): split the list into several warms` });
  } else {
    cmd.urls.forEach((url, i) => problems.push(...checkUrl(url, `urls[${i}]`)));
  }
  let edgeId: string | null = null;
  if (cmd.edgeId != null) {
    const text = checkText(cmd.edgeId, 'edgeId');
    if (text.length > 0) problems.push(...text);
    else if (cmd.edgeId === '' || cmd.edgeId.length > EDGE_ID_MAX_CHARS) problems.push({ field: 'edgeId', message: `must be an edge id of 1 to ${EDGE_ID_MAX_CHARS} characters, as the \`edges\` query lists them` });
    else edgeId = machineOf(cmd.edgeId);
  }
  if (problems.length > 0) throw invalidInput(problems);
  return { customerId: cmd.customerId, urls: [...cmd.urls], edgeId };
}

/**
 * The distinct targets of the URLs, in the order given: a path on the customer's first
 * domain, an absolute URL on its own host, which must be one of the customer's domains (its
 * `path?query` kept exactly as written, as a client would send it). The same host and path
 * given twice is warmed once. Throws CDN_ERR_INPUT_INVALID naming every foreign host.
 */
export function resolveWarmTargets(valid: ValidWarm, customer: { id: string; domains: readonly string[] }): WarmTarget[] {
  const problems: FieldProblem[] = [];
  const targets = new Map<string, WarmTarget>();
  valid.urls.forEach((url, i) => {
    let target: WarmTarget;
    if (url.startsWith('/')) {
      const host = customer.domains[0];
      if (host === undefined) {
        problems.push({ field: `urls[${i}]`, message: `customer "${customer.id}" has no domain to warm a path on; add a domain first` });
        return;
      }
      target = { host, path: url };
    } else {
      const host = normalizeHostname(new URL(url).hostname.replace(/^\[(.*)\]$/, '$1'));
      if (!customer.domains.includes(host)) {
        problems.push({
          field: `urls[${i}]`,
          message: `host "${host}" is not a domain of customer "${customer.id}" (its domains: ${customer.domains.join(', ')}); give a URL on one of those domains, or the path alone, such as /index.html`,
        });
        return;
      }
      const rest = ABSOLUTE.exec(url)![3]!;
      target = { host, path: rest.startsWith('/') ? rest : `/${rest}` };
    }
    const key = `${target.host} ${target.path}`;
    if (!targets.has(key)) targets.set(key, target);
  });
  if (problems.length > 0) throw invalidInput(problems);
  return [...targets.values()];
}

function checkUrl(value: string, field: string): FieldProblem[] {
  if (value.length > WARM_URL_MAX_CHARS) return [{ field, message: `is ${value.length} characters long; the most is ${WARM_URL_MAX_CHARS}` }];
  const text = checkText(value, field);
  if (text.length > 0) return text;
  if (SPACE_OR_CONTROL.test(value)) {
    return [{ field, message: 'must not contain spaces or control characters; percent-encode them as a client would (a space is %20)' }];
  }
  if (value.includes('#')) {
    return [{ field, message: 'must not contain a fragment ("#..."): clients never send one, so it would warm nothing of its own' }];
  }
  if (value.startsWith('/')) return [];
  const absolute = ABSOLUTE.exec(value);
  const scheme = absolute?.[1]?.toLowerCase();
  if (absolute && (scheme === 'http' || scheme === 'https') && URL.canParse(value) && new URL(value).hostname !== '') {
    const url = new URL(value);
    // The edge asks itself for the URL: credentials in it would go nowhere, and would be kept in the warm's record.
    if (url.username !== '' || url.password !== '') return [{ field, message: 'must not carry a user name or password ("user:password@"): give the URL without them' }];
    return [];
  }
  return [{ field, message: `must be a path starting with "/" (such as /index.html) or an http(s) URL on one of the customer's domains, got "${value}"` }];
}
