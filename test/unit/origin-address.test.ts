/** The SSRF guard on origin URLs, without DNS: the resolver is injected. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isForbiddenOriginAddress } from '../../src/core/address.rules';
import { checkOriginAddress } from '../../src/api/services/origin-address.check';

test('private, loopback, link-local, unique-local and IPv4-mapped addresses are forbidden', () => {
  for (const a of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.0.1', '169.254.169.254', '0.0.0.0', '100.64.0.1', '::1', '::', 'fe80::1', 'fd12::1', '::ffff:8.8.8.8']) {
    assert.equal(isForbiddenOriginAddress(a), true, a);
  }
  for (const a of ['8.8.8.8', '93.184.215.14', '172.32.0.1', '2606:4700::1111']) {
    assert.equal(isForbiddenOriginAddress(a), false, a);
  }
});

test('a host with any forbidden address is refused, naming CDN_ALLOW_PRIVATE_ORIGINS', async () => {
  const resolve = async () => ['93.184.215.14', '10.1.1.1'];
  const problems = await checkOriginAddress('https://sneaky.example/', { resolve, field: 'input.originUrl' });
  assert.equal(problems.length, 1);
  assert.equal(problems[0]!.field, 'input.originUrl');
  assert.match(problems[0]!.message, /10\.1\.1\.1.*CDN_ALLOW_PRIVATE_ORIGINS/);
  assert.deepEqual(await checkOriginAddress('https://fine.example/', { resolve: async () => ['93.184.215.14'] }), []);
  assert.equal((await checkOriginAddress('http://[::1]:8080/')).length, 1);
});

test('a host that does not resolve yet is accepted (the edge checks again on connect)', async () => {
  const resolve = async () => {
    throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
  };
  assert.deepEqual(await checkOriginAddress('https://later.example/', { resolve }), []);
});
