/**
 * The pure rules of purges on the edge: what a purge covers (URLs keyed as lookups key
 * them), the fetch-start time rule, hard over soft, and the per-customer structure that
 * lookups judge objects against.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyQueryPolicy } from '../../src/core/delivery-rules.apply';
import type { QueryKeyPolicy } from '../../src/core/delivery-rules.types';
import { cacheKey, variantKey } from '../../src/edge/cache/cache-key';
import {
  CustomerBans,
  HARD,
  NONE,
  covers,
  fetchedAtOf,
  isSoftMarked,
  outermostPrefixes,
  purgeTarget,
  sweepDecision,
  type Ban,
} from '../../src/edge/purge/ban.rules';
import { BanTable } from '../../src/edge/purge/ban.table';

let n = 0;
function ban(kind: Ban['kind'], value: string | null, at: number, soft = false, customerId = 'customer-a'): Ban {
  n += 1;
  return { purgeId: `p${n}`, customerId, kind, value, soft, at };
}

test('a URL purge is keyed exactly as lookups key objects: query shaped by the customer\'s rules for that path', () => {
  const policy = (p: QueryKeyPolicy) => (_path: string, query: string) => applyQueryPolicy(query, p);
  assert.deepEqual(purgeTarget({ kind: 'URL', value: '/a.png?b=2&a=1' }, policy({ mode: 'all' })), { kind: 'URL', value: '/a.png?a=1&b=2' });
  assert.deepEqual(purgeTarget({ kind: 'URL', value: '/a.png?b=2&a=1' }), { kind: 'URL', value: '/a.png?a=1&b=2' });
  assert.deepEqual(purgeTarget({ kind: 'URL', value: '/a.png?b=2&a=1' }, policy({ mode: 'none' })), { kind: 'URL', value: '/a.png?' });
  assert.deepEqual(purgeTarget({ kind: 'URL', value: '/a.png?utm=x&v=3&w=1' }, policy({ mode: 'allow', names: ['w', 'v'] })), { kind: 'URL', value: '/a.png?v=3&w=1' });
  assert.deepEqual(purgeTarget({ kind: 'URL', value: '/a.png?utm_source=x&v=3&ep_sig=s' }, policy({ mode: 'deny', names: ['utm_*'] })), { kind: 'URL', value: '/a.png?v=3' });
  // The path reaches the rules: a rule may shape one path's query and not another's.
  const byPath = (path: string, query: string) => applyQueryPolicy(query, path.startsWith('/static/') ? { mode: 'none' } : { mode: 'all' });
  assert.deepEqual(purgeTarget({ kind: 'URL', value: '/static/a.css?v=1' }, byPath), { kind: 'URL', value: '/static/a.css?' });
  assert.deepEqual(purgeTarget({ kind: 'URL', value: '/page?v=1' }, byPath), { kind: 'URL', value: '/page?v=1' });
  assert.deepEqual(purgeTarget({ kind: 'URL', value: '/a.png' }), { kind: 'URL', value: '/a.png?' });
  assert.deepEqual(purgeTarget({ kind: 'URL', value: 'https://cdn.a.test/a.png?x=1#top' }), { kind: 'URL', value: '/a.png?x=1' });
  // The rest of a cache key, so the engine deletes exactly what lookups would find.
  assert.equal(`customer-a\n${purgeTarget({ kind: 'URL', value: '/p?z=1&a=2' }).value}`, cacheKey('customer-a', '/p', 'a=2&z=1'));
});

test('a purge that would cover nothing by mistake covers everything instead (when in doubt, purge more)', () => {
  assert.deepEqual(purgeTarget({ kind: 'PREFIX', value: '' }), { kind: 'ALL', value: null });
  assert.deepEqual(purgeTarget({ kind: 'PREFIX', value: null }), { kind: 'ALL', value: null });
  assert.deepEqual(purgeTarget({ kind: 'TAG', value: '  ' }), { kind: 'ALL', value: null });
  assert.deepEqual(purgeTarget({ kind: 'URL', value: 'not-a-path' }), { kind: 'ALL', value: null });
  assert.deepEqual(purgeTarget({ kind: 'ALL', value: 'ignored' }), { kind: 'ALL', value: null });
  assert.deepEqual(purgeTarget({ kind: 'TAG', value: ' product-7 ' }), { kind: 'TAG', value: 'product-7' });
  assert.deepEqual(purgeTarget({ kind: 'PREFIX', value: '/img/' }), { kind: 'PREFIX', value: '/img/' });
  assert.deepEqual(purgeTarget({ kind: 'PREFIX', value: 'https://cdn.a.test/img/' }), { kind: 'PREFIX', value: '/img/' });
  assert.deepEqual(purgeTarget({ kind: 'PREFIX', value: 'img/' }), { kind: 'ALL', value: null }, 'no key can start without a slash');
});

test('covers: a URL and its Vary variants only; prefixes as strings; tags by name; ALL everything', () => {
  const url = { kind: 'URL' as const, value: '/a.png?' };
  assert.ok(covers(url, '/a.png?', undefined));
  assert.ok(covers(url, '/a.png?\nvariant1', undefined));
  assert.ok(!covers(url, '/a.png?x=1', undefined));
  assert.ok(!covers(url, '/a.png2?', undefined));
  assert.ok(covers({ kind: 'PREFIX', value: '/img/' }, '/img/a/b.png?', undefined));
  assert.ok(!covers({ kind: 'PREFIX', value: '/img/' }, '/im?', undefined));
  assert.ok(covers({ kind: 'TAG', value: 't2' }, '/x?', ['t1', 't2']));
  assert.ok(!covers({ kind: 'TAG', value: 't2' }, '/x?', undefined));
  assert.ok(!covers({ kind: 'TAG', value: 't2' }, '/x?', ['t22']));
  assert.ok(covers({ kind: 'ALL', value: null }, '/anything?', undefined));
});

test('an object is covered when its fetch began at or before the ban; storedAt stands in for older objects', () => {
  const bans = new CustomerBans();
  bans.add(ban('ALL', null, 1000));
  assert.equal(bans.judge('/x?', 0, undefined, 999), 'hard');
  assert.equal(bans.judge('/x?', 0, undefined, 1000), 'hard', 'a fetch begun in the same millisecond is covered');
  assert.equal(bans.judge('/x?', 0, undefined, 1001), undefined, 'a fetch begun after the purge is not');
  assert.equal(fetchedAtOf({ storedAt: 5, fetchedAt: 3 }), 3);
  assert.equal(fetchedAtOf({ storedAt: 5 }), 5);
});

test('prefix bans are matched on the key after the customer id, any number of prefix lengths', () => {
  const bans = new CustomerBans();
  bans.add(ban('PREFIX', '/img/', 100));
  bans.add(ban('PREFIX', '/css/site', 100));
  bans.add(ban('PREFIX', '/a-very-long-prefix-longer-than-the-key/', 100));
  const key = (rest: string) => `customer-a\n${rest}`;
  const offset = 'customer-a'.length + 1;
  assert.equal(bans.judge(key('/img/a.png?'), offset, undefined, 50), 'hard');
  assert.equal(bans.judge(variantKey(key('/img/a.png?'), 'v1'), offset, undefined, 50), 'hard', 'variants sit under their URL');
  assert.equal(bans.judge(key('/css/site.css?'), offset, undefined, 50), 'hard');
  assert.equal(bans.judge(key('/css/other.css?'), offset, undefined, 50), undefined);
  assert.equal(bans.judge(key('/im?'), offset, undefined, 50), undefined);
  assert.equal(bans.judge(key('/js/img/a.png?'), offset, undefined, 50), undefined, 'a prefix matches from the start of the path only');
  assert.equal(bans.judge('/img/a.png?', 0, undefined, 50), 'hard', 'a bare rest (offset 0) works too');
});

test('tag bans match any tag of the object', () => {
  const bans = new CustomerBans();
  bans.add(ban('TAG', 'product-7', 100));
  assert.equal(bans.judge('customer-a\n/x?', 11, ['home', 'product-7'], 50), 'hard');
  assert.equal(bans.judge('customer-a\n/x?', 11, ['home'], 50), undefined);
  assert.equal(bans.judge('customer-a\n/x?', 11, undefined, 50), undefined);
});

test('hard wins over soft; a soft ban newer than a hard one still covers what the hard one does not', () => {
  const bans = new CustomerBans();
  bans.add(ban('PREFIX', '/a/', 100));
  bans.add(ban('PREFIX', '/a/', 200, true));
  assert.equal(bans.judge('/a/x?', 0, undefined, 50), 'hard');
  assert.equal(bans.judge('/a/x?', 0, undefined, 150), 'soft');
  assert.equal(bans.judge('/a/x?', 0, undefined, 250), undefined);
  assert.equal(bans.match('/a/x?', 0, undefined, 150), 200, 'match gives the soft ban time (for marking)');
  assert.equal(bans.match('/a/x?', 0, undefined, 50), HARD);
  assert.equal(bans.match('/a/x?', 0, undefined, 250), NONE);
  const tags = new CustomerBans();
  tags.add(ban('TAG', 't', 100, true));
  tags.add(ban('ALL', null, 50));
  assert.equal(tags.judge('/b?', 0, ['t'], 40), 'hard');
  assert.equal(tags.judge('/b?', 0, ['t'], 60), 'soft');
});

test('bans are held once per purge id; forgetting one rebuilds the rules from the rest', () => {
  const bans = new CustomerBans();
  const prefix = ban('PREFIX', '/img/', 100);
  assert.equal(bans.add(prefix), true);
  assert.equal(bans.add({ ...prefix }), false, 'the same purge id twice is one ban');
  assert.equal(bans.add(ban('URL', '/x?', 100)), false, 'URL purges are not bans');
  const tag = ban('TAG', 't', 300);
  bans.add(tag);
  assert.equal(bans.size, 2);
  assert.equal(bans.newest, 300);
  bans.delete([tag.purgeId]);
  assert.equal(bans.size, 1);
  assert.equal(bans.newest, 100);
  assert.equal(bans.judge('/x?', 0, ['t'], 200), undefined);
  assert.equal(bans.judge('/img/x?', 0, undefined, 90), 'hard');
  bans.delete([prefix.purgeId]);
  assert.equal(bans.judge('/img/x?', 0, undefined, 90), undefined);
});

test('the lurker removes hard-banned entries, marks soft-banned ones once, and leaves newer ones', () => {
  const bans = new CustomerBans();
  bans.add(ban('PREFIX', '/hard/', 100));
  bans.add(ban('PREFIX', '/soft/', 100, true));
  assert.equal(sweepDecision(bans, '/hard/a?', { storedAt: 90 }), 'remove');
  assert.deepEqual(sweepDecision(bans, '/soft/a?', { storedAt: 95, fetchedAt: 90 }), { softPurgedAt: 100 });
  assert.equal(sweepDecision(bans, '/soft/a?', { storedAt: 95, fetchedAt: 90, softPurgedAt: 100 }), undefined, 'already marked');
  assert.equal(sweepDecision(bans, '/soft/a?', { storedAt: 120, fetchedAt: 110 }), undefined, 'fetched after the purge');
  assert.equal(sweepDecision(bans, '/other?', { storedAt: 10 }), undefined);
});

test('a soft-purged mark lasts until a revalidation moves fetchedAt past it', () => {
  assert.equal(isSoftMarked({ storedAt: 10, fetchedAt: 10, softPurgedAt: 20 }), true);
  assert.equal(isSoftMarked({ storedAt: 10, fetchedAt: 20, softPurgedAt: 20 }), true);
  assert.equal(isSoftMarked({ storedAt: 30, fetchedAt: 25, softPurgedAt: 20 }), false);
  assert.equal(isSoftMarked({ storedAt: 10 }), false);
});

test('a lurker pass reads each outermost prefix range once', () => {
  assert.deepEqual(outermostPrefixes(['/a/b/', '/a/', '/c', '/c/d', '/a/']), ['/a/', '/c']);
});

test('the ban table: a customer without bans has no entry; release forgets only what it names', () => {
  const table = new BanTable();
  assert.equal(table.of('customer-a'), undefined);
  const a1 = ban('PREFIX', '/x/', 10);
  const a2 = ban('TAG', 't', 20);
  const b1 = ban('ALL', null, 30, false, 'customer-b');
  table.hold(a1);
  table.hold(a1);
  table.hold(a2);
  table.hold(b1);
  assert.equal(table.size, 3);
  assert.equal(table.of('customer-c'), undefined);
  table.release([a1, b1]);
  assert.equal(table.size, 1);
  assert.equal(table.of('customer-b'), undefined, 'a customer whose bans are all gone costs a Map miss again');
  assert.equal(table.of('customer-a')?.judge('/x/y?', 0, ['t'], 5), 'hard');
  assert.equal(table.of('customer-a')?.judge('/x/y?', 0, undefined, 5), undefined);
});
