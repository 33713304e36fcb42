/**
 * The SSRF rule on origin addresses (core), the api's save-time check and the edge's
 * connect-time lookup guard, without DNS: resolvers are injected. Every IANA special-purpose
 * block, every IPv6 form that embeds an IPv4 address, and the odd spellings a URL or a
 * resolver may hand over; and public addresses that must stay allowed.
 */
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { test } from 'node:test';
import { checkOriginAddress } from '../../src/api/services/origin-address.check';
import { forbiddenOriginBlock, IPV4_SPECIAL_PURPOSE, IPV6_SPECIAL_PURPOSE, isForbiddenOriginAddress } from '../../src/core/address.rules';
import { createGuardedLookup, ForbiddenAddressError } from '../../src/edge/origin/address-guard';
import { originError } from '../../src/edge/origin/origin-errors';
import { originFailureKind } from '../../src/edge/pipeline/origin-failure.rules';

/** Every address the issue found accepted, the rest of the registries, and other spellings. */
const FORBIDDEN = [
  // IPv4 special-purpose registry, multicast, class E, broadcast (first, inner and last addresses).
  '0.0.0.0', '0.255.255.255', '10.0.0.1', '10.255.255.255', '100.64.0.1', '100.127.255.255', '127.0.0.1', '127.255.255.254',
  '169.254.169.254', '172.16.5.4', '172.31.255.255', '192.0.0.1', '192.0.0.8', '192.0.0.9', '192.0.0.10', '192.0.0.170', '192.0.0.171', '192.0.0.255',
  '192.0.2.1', '192.31.196.1', '192.52.193.1', '192.88.99.1', '192.88.99.2', '192.168.0.1', '192.175.48.1',
  '198.18.0.1', '198.18.0.0', '198.19.255.255', '198.51.100.7', '203.0.113.9',
  '224.0.0.1', '239.255.255.250', '240.0.0.1', '250.1.2.3', '255.255.255.254', '255.255.255.255',
  // IPv6 special-purpose registry.
  '::', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:8.8.8.8', '::ffff:8.8.8.8',
  '::127.0.0.1', '::7f00:1', '::8.8.8.8', '::ffff:0:7f00:1', '64:ff9b::7f00:1', '64:ff9b::127.0.0.1', '64:ff9b::8.8.8.8', '64:ff9b:1::a00:1',
  '100::1', '100:0:0:1::1', '2001::1', '2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001:1::1', '2001:1::2', '2001:1::3', '2001:2::1', '2001:3::1',
  '2001:4:112::1', '2001:10::1', '2001:20::1', '2001:30::1', '2001:1ff:ffff::1', '2001:db8::1', '2001:DB8:FFFF::1',
  '2002:7f00:1::1', '2002:808:808::1', '2620:4f:8000::1', '3fff::1', '3fff:fff:ffff::1', '5f00::1',
  'fc00::1', 'fd12::1', 'fe80::1', 'FE80::1', 'fe80::1%eth0', 'fe80::1%25eth0', 'febf::1', 'fec0::1', 'ff02::1', 'ff0e::1',
  // Outside global unicast 2000::/3 (not in any table row).
  '1fff:ffff::1', '4000::1', '8000::1', 'e000::1', '1:2:3:4:5:6:7:8',
  // In brackets, as a URL spells it.
  '[::1]', '[::7f00:1]',
  // Not an IP address: only addresses are checked, never names or non-canonical numbers.
  '', 'localhost', 'example.com', '127.1', '0x7f.1', '2130706433', '0177.0.0.1', '1.2.3.4%eth0', '[1.2.3.4]', '::1::', '1.2.3.256',
];

const ALLOWED = [
  '8.8.8.8', '1.1.1.1', '93.184.215.14', '9.255.255.255', '11.0.0.0', '100.63.255.255', '100.128.0.0', '126.255.255.255', '128.0.0.0',
  '169.253.255.255', '169.255.0.0', '172.15.255.255', '172.32.0.1', '192.0.1.0', '192.0.3.0', '192.88.98.255', '192.88.100.0', '192.167.255.255', '192.169.0.0',
  '198.17.255.255', '198.20.0.0', '198.51.99.255', '203.0.112.255', '223.255.255.255',
  '2606:4700::1111', '2606:4700:4700::1111', '2a00:1450::1', '2A00:1450:4001:81C::200E', '2001:4860:4860::8888', '2001:200::1', '2001:dB9::1',
  '2003::1', '2620:4f:8001::1', '2c0f:f248::1', '3fff:1000::1', '3ffe:ffff::1', '2000::1',
];

test('every special-purpose block, multicast, reserved space and IPv4-embedding IPv6 form is forbidden, in every spelling', () => {
  for (const a of FORBIDDEN) assert.equal(isForbiddenOriginAddress(a), true, a);
});

test('public unicast addresses stay allowed, next to the edges of the blocks', () => {
  for (const a of ALLOWED) assert.equal(isForbiddenOriginAddress(a), false, a);
});

test('each address names the block that forbids it', () => {
  assert.equal(forbiddenOriginBlock('198.18.0.1')?.block, '198.18.0.0/15');
  assert.equal(forbiddenOriginBlock('255.255.255.255')?.block, '255.255.255.255/32');
  assert.equal(forbiddenOriginBlock('::127.0.0.1')?.block, '::/96');
  assert.equal(forbiddenOriginBlock('::ffff:127.0.0.1')?.block, '::ffff:0:0/96');
  assert.equal(forbiddenOriginBlock('64:ff9b::7f00:1')?.block, '64:ff9b::/96');
  assert.equal(forbiddenOriginBlock('2002:7f00:1::1')?.block, '2002::/16');
  assert.equal(forbiddenOriginBlock('2001::1')?.block, '2001::/32', 'Teredo, not just its /23');
  assert.equal(forbiddenOriginBlock('4000::1')?.block, '2000::/3');
  assert.equal(forbiddenOriginBlock('localhost')?.reason, 'not an IP address');
  assert.equal(forbiddenOriginBlock('8.8.8.8'), undefined);
});

test('the tables: every row has a reason and an RFC, its network address is in it, and a nested row comes before the row holding it', () => {
  for (const table of [IPV4_SPECIAL_PURPOSE, IPV6_SPECIAL_PURPOSE]) {
    table.forEach((row, i) => {
      assert.ok(row.reason.length > 0 && /^RFC \d+/.test(row.rfc), row.block);
      const [net, prefix] = row.block.split('/') as [string, string];
      // First match names the reason: the row's own network address must match it or a row
      // nested inside it, never a broader row listed earlier.
      const first = forbiddenOriginBlock(net)?.block.split('/')[1];
      assert.ok(first !== undefined && Number(first) >= Number(prefix), `${row.block} (row ${i}) is shadowed by ${forbiddenOriginBlock(net)?.block}`);
    });
  }
  const v4 = IPV4_SPECIAL_PURPOSE.map((r) => r.block);
  for (const block of ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24', '192.0.2.0/24', '192.31.196.0/24', '192.52.193.0/24', '192.88.99.0/24', '192.168.0.0/16', '192.175.48.0/24', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4', '255.255.255.255/32']) {
    assert.ok(v4.includes(block), block);
  }
  const v6 = IPV6_SPECIAL_PURPOSE.map((r) => r.block);
  for (const block of ['::/128', '::1/128', '::ffff:0:0/96', '::/96', '64:ff9b::/96', '64:ff9b:1::/48', '100::/64', '2001::/23', '2001::/32', '2001:db8::/32', '2002::/16', '3fff::/20', '5f00::/16', 'fc00::/7', 'fe80::/10', 'fec0::/10', 'ff00::/8']) {
    assert.ok(v6.includes(block), block);
  }
});

test('save time: every IP-literal spelling of a forbidden origin URL is refused without DNS, naming the address', async () => {
  const noDns = async (): Promise<string[]> => assert.fail('an IP literal must not be resolved');
  const cases: Array<[string, RegExp]> = [
    ['http://[::127.0.0.1]/', /::7f00:1 .*::\/96/],
    ['http://[64:ff9b::7f00:1]/', /64:ff9b::7f00:1 .*NAT64/],
    ['http://[64:ff9b::127.0.0.1]:8080/x', /64:ff9b::7f00:1/],
    ['http://[2002:7f00:1::1]/', /2002:7f00:1::1 .*6to4/],
    ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', /Teredo/],
    ['http://[::ffff:127.0.0.1]/', /::ffff:7f00:1 .*IPv4-mapped/],
    ['http://[FE80::1]/', /fe80::1 .*link-local/],
    ['http://198.18.0.1/', /198\.18\.0\.1 .*benchmarking/],
    ['http://224.0.0.1/', /224\.0\.0\.1 .*multicast/],
    ['http://240.0.0.1/', /240\.0\.0\.1 .*reserved/],
    ['http://255.255.255.255/', /255\.255\.255\.255 .*broadcast/],
    ['http://2130706433/', /127\.0\.0\.1 .*loopback/],
    ['http://0x7f.1/', /127\.0\.0\.1 .*loopback/],
    ['http://0177.0.0.1:81/', /127\.0\.0\.1 .*loopback/],
    ['http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/', /169\.254\.169\.254 .*link-local/],
    ['https://[::]/', /:: .*unspecified/],
  ];
  for (const [url, names] of cases) {
    const problems = await checkOriginAddress(url, { resolve: noDns, field: 'input.originUrl' });
    assert.equal(problems.length, 1, url);
    assert.equal(problems[0]!.field, 'input.originUrl');
    assert.match(problems[0]!.message, names, url);
    assert.match(problems[0]!.message, /not a public unicast address.*CDN_ALLOW_PRIVATE_ORIGINS=true/, url);
  }
  for (const url of ['http://8.8.8.8/', 'https://[2606:4700::1111]/', 'https://[2a00:1450::1]:8443/x', 'http://1.1.1.1/']) {
    assert.deepEqual(await checkOriginAddress(url, { resolve: noDns }), [], url);
  }
});

test('save time: a host with any forbidden address among its answers is refused, naming host and address', async () => {
  const resolve = async () => ['93.184.215.14', '10.1.1.1'];
  const problems = await checkOriginAddress('https://sneaky.example/', { resolve, field: 'input.originUrl' });
  assert.equal(problems.length, 1);
  assert.equal(problems[0]!.field, 'input.originUrl');
  assert.match(problems[0]!.message, /"sneaky\.example" resolves to 10\.1\.1\.1.*CDN_ALLOW_PRIVATE_ORIGINS/);
  for (const answer of ['198.18.0.1', '64:ff9b::a00:1', '2002:a00:1::1', '::a00:1', '233.252.0.1']) {
    assert.equal((await checkOriginAddress('https://sneaky.example/', { resolve: async () => ['2606:4700::1111', answer] })).length, 1, answer);
  }
  assert.deepEqual(await checkOriginAddress('https://fine.example/', { resolve: async () => ['93.184.215.14', '2606:4700::1111'] }), []);
  assert.equal((await checkOriginAddress('http://[::1]:8080/')).length, 1);
});

test('save time: a host that does not resolve yet is accepted (the edge checks again on connect)', async () => {
  const resolve = async () => {
    throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
  };
  assert.deepEqual(await checkOriginAddress('https://later.example/', { resolve }), []);
});

/** A dns.lookup stand-in answering `addresses` for every name (no DNS server can be scripted here). */
function answering(addresses: string[]) {
  return (_host: string, _options: unknown, callback: (err: NodeJS.ErrnoException | null, a: LookupAddress[]) => void) =>
    callback(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
}

function lookupWith(addresses: string[], options: { all?: boolean; family?: number }): Promise<{ err: unknown; result: unknown }> {
  return new Promise((resolve) => createGuardedLookup(answering(addresses))('origin.example', options, (err, result) => resolve({ err, result })));
}

test('connect time: the lookup guard refuses a name with any forbidden answer, before a socket connects', async () => {
  for (const answers of [['198.18.0.1'], ['93.184.215.14', '198.18.0.1'], ['64:ff9b::7f00:1'], ['::127.0.0.1'], ['2002:7f00:1::1'], ['2606:4700::1111', 'fe80::1%eth0'], ['255.255.255.255']]) {
    for (const all of [true, false]) {
      const { err, result } = await lookupWith(answers, { all });
      assert.ok(err instanceof ForbiddenAddressError, answers.join());
      assert.equal(err.host, 'origin.example');
      assert.ok(answers.includes(err.address));
      assert.match(String(err), new RegExp(`origin\\.example.*${err.address.replace(/\./g, '\\.')}`), 'the log line names host and address');
      assert.deepEqual(result, []);
    }
  }
  assert.deepEqual((await lookupWith(['93.184.215.14', '2606:4700::1111'], { all: true })).result, [
    { address: '93.184.215.14', family: 4 },
    { address: '2606:4700::1111', family: 6 },
  ]);
  assert.equal((await lookupWith(['93.184.215.14', '2606:4700::1111'], { family: 6 })).result, '2606:4700::1111');
});

test('the client gets a generic 502 without host or address; the metric counts it as forbidden_address', () => {
  const refused = new ForbiddenAddressError('internal.example', '198.18.0.1');
  for (const err of [refused, Object.assign(new Error('wrapped'), { cause: refused }), new AggregateError([new Error('x'), refused])]) {
    const e = originError(err, 'customer-a');
    assert.equal(e.code, 'CDN_ERR_ORIGIN_FORBIDDEN_ADDRESS');
    assert.equal(e.status, 502);
    assert.doesNotMatch(e.message, /198\.18|internal\.example/);
    assert.doesNotMatch(JSON.stringify(e.details), /198\.18|internal\.example/);
    assert.equal(originFailureKind(err), 'forbidden_address');
  }
  assert.equal(originFailureKind(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), 'refused');
});
