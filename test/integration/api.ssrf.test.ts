/**
 * SSRF at save time, as the attack: an admin (or a stolen admin token) creates and updates
 * customers whose origins are addresses no origin may be, in every spelling WHATWG URL accepts,
 * against a real api on PostgreSQL with CDN_ALLOW_PRIVATE_ORIGINS=false. Each is refused with
 * BAD_USER_INPUT naming the field and the address, nothing is stored or published, and public
 * origins are still accepted. The api never connects to an origin; IP literals are not resolved.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { countRows, maxChangeSeq, startTestApi, type TestApi } from './api.harness';

const CREATE = 'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id originUrl } }';
const UPDATE = 'mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { id originUrl } }';

/** [origin URL as typed, the address the message must name]. */
const FORBIDDEN: Array<[string, string]> = [
  ['http://[::127.0.0.1]/', '::7f00:1'],
  ['http://[64:ff9b::7f00:1]/', '64:ff9b::7f00:1'],
  ['http://[64:ff9b::8.8.8.8]/', '64:ff9b::808:808'],
  ['http://[2002:7f00:1::1]/', '2002:7f00:1::1'],
  ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', '2001:0:4136:e378:8000:63bf:3fff:fdd2'],
  ['http://[::ffff:127.0.0.1]:8080/', '::ffff:7f00:1'],
  ['http://[fe80::1]/', 'fe80::1'],
  ['http://[fec0::1]/', 'fec0::1'],
  ['http://[ff02::1]/', 'ff02::1'],
  ['http://[2001:db8::1]/', '2001:db8::1'],
  ['http://[5f00::1]/', '5f00::1'],
  ['http://[4000::1]/', '4000::1'],
  ['http://198.18.0.1/', '198.18.0.1'],
  ['http://198.19.255.254/', '198.19.255.254'],
  ['http://224.0.0.1/', '224.0.0.1'],
  ['http://240.0.0.1/', '240.0.0.1'],
  ['http://255.255.255.255/', '255.255.255.255'],
  ['http://192.0.0.9/', '192.0.0.9'],
  ['http://192.88.99.1/', '192.88.99.1'],
  ['http://2130706433/', '127.0.0.1'],
  ['http://0x7f.1/', '127.0.0.1'],
  ['http://0177.0.0.1:9000/', '127.0.0.1'],
  ['http://0xa9fea9fe/latest/meta-data/', '169.254.169.254'],
  ['http://100.64.0.1/', '100.64.0.1'],
];

let t: TestApi;

before(async () => {
  t = await startTestApi({ CDN_ALLOW_PRIVATE_ORIGINS: 'false' });
});

after(async () => {
  await t?.close();
});

const input = (id: string, originUrl: string) => ({ id, name: `Customer ${id}`, originUrl, domains: [`cdn.${id}.example`] });

test('creating a customer whose origin is any forbidden address, in any spelling, is BAD_USER_INPUT naming the address', async () => {
  const seq = await maxChangeSeq(t);
  for (const [originUrl, address] of FORBIDDEN) {
    const res = await t.gql(CREATE, { input: input('ssrf', originUrl) });
    assert.equal(res.data, null, originUrl);
    const err = res.errors![0]!;
    assert.equal(err.extensions.code, 'BAD_USER_INPUT', originUrl);
    assert.match(err.message, /input\.originUrl: .*not a public unicast address .*CDN_ALLOW_PRIVATE_ORIGINS=true/, originUrl);
    assert.ok(err.message.includes(`${address} `), `${originUrl}: ${err.message}`);
  }
  assert.equal(await countRows(t, 'customer'), 0, 'nothing was stored');
  assert.equal(await maxChangeSeq(t), seq, 'nothing was published');
});

test('public origins stay accepted, and moving one to a forbidden address is refused too', async () => {
  for (const [id, originUrl] of [['v4', 'http://8.8.8.8/'], ['v4b', 'https://1.1.1.1/assets'], ['v6', 'https://[2606:4700::1111]/'], ['v6b', 'http://[2a00:1450::1]:8080/']] as const) {
    const ok = await t.gql<{ createCustomer: { id: string } }>(CREATE, { input: input(id, originUrl) });
    assert.equal(ok.errors, undefined, `${originUrl}: ${ok.text}`);
  }
  for (const [originUrl, address] of FORBIDDEN) {
    const moved = await t.gql(UPDATE, { id: 'v4', input: { originUrl } });
    assert.equal(moved.errors![0]!.extensions.code, 'BAD_USER_INPUT', originUrl);
    assert.ok(moved.errors![0]!.message.includes(`${address} `), `${originUrl}: ${moved.errors![0]!.message}`);
  }
  const still = await t.gql<{ customer: { originUrl: string } }>('query { customer(id: "v4") { originUrl } }');
  assert.equal(still.data!.customer.originUrl, 'http://8.8.8.8');
});
