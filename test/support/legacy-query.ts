/**
 * The edge's query-string normalisation from before delivery rules, frozen here as an oracle:
 * the keys it made are the keys objects are stored under, so the rules' query policy
 * (core/delivery-rules.apply.ts applyQueryPolicy, through the customer's default rule) must
 * give the same ones for every `keep` and `allowlist` customer (test/unit/delivery-rules.compile.test.ts).
 */
import type { QueryStringPolicy } from '../../src/core/customer.types';

/**
 * The query string as a customer's policy put it in the key (and at the origin):
 * `keep` sorts parameters by name (stable, so repeated names keep their order),
 * `ignore` drops it, `allowlist` keeps only the named parameters, sorted.
 */
export function normalizeQuery(query: string, policy: QueryStringPolicy | undefined): string {
  const mode = policy?.mode ?? 'keep';
  if (mode === 'ignore' || query === '') return '';
  // One parameter kept as it is: nothing to drop or sort (the hit path's common case).
  if (mode === 'keep' && !query.includes('&')) return query;
  const params = query.split('&').filter((p) => p !== '');
  const kept = mode === 'allowlist' ? params.filter((p) => policy!.allow.includes(paramName(p))) : params;
  return kept
    .map((p, i) => ({ p, i, name: paramName(p) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.i - b.i))
    .map((x) => x.p)
    .join('&');
}

function paramName(param: string): string {
  const eq = param.indexOf('=');
  const raw = (eq < 0 ? param : param.slice(0, eq)).replace(/\+/g, ' ');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
