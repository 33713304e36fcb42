/**
 * The per-customer cache options (`cacheQuotaBytes`, `queryString`, `staleIfErrorSeconds`) through GraphQL on
 * real PostgreSQL: defaults, create, update, read, every bad input refused without a
 * write, and the options reaching the edges through the bus (change and snapshot) and
 * `customerChanged` subscribers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CustomerConfig } from '../../src/core/customer.types';
import { startTestApi, type TestApi, countRows, maxChangeSeq, wsClient } from './api.harness';

const FIELDS = 'id cacheQuotaBytes queryString { mode allow }';
const CREATE = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { ${FIELDS} } }`;
const GET = `query($id: ID!) { customer(id: $id) { ${FIELDS} } }`;
const BY_DOMAIN = `query($d: String!) { customerByDomain(domain: $d) { ${FIELDS} } }`;
const LIST = `{ customers(first: 500) { nodes { ${FIELDS} } } }`;

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** Above 2^32 and 2^31: an Int (32-bit) field could not carry it. */
const BIG_QUOTA = 10 * 1024 * GiB;

type Options = { id: string; cacheQuotaBytes: number | null; queryString: { mode: string; allow: string[] } };

let t: TestApi;

function input(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, name: `Customer ${id}`, originUrl: `https://origin.${id}.example`, domains: [`cdn.${id}.example`], ...extra };
}

const count = (table: string): Promise<number> => countRows(t, table);
const maxSeq = (): Promise<number> => maxChangeSeq(t);

async function row(id: string): Promise<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = await t.dataSource.query(
    'SELECT cache_quota_bytes, query_string_mode, query_string_allow, version FROM customer WHERE id = $1',
    [id],
  );
  return rows[0]!;
}

/** The customer.upserted event of the change at `seq`, read from the MemoryBus. */
async function publishedCustomer(seq: number): Promise<CustomerConfig> {
  await t.waitForBusSeq(seq);
  const read = await t.bus.read(seq - 1, { blockMs: 0 });
  assert.ok(read.kind === 'changes');
  const change = read.changes.find((c) => c.seq === seq)!;
  assert.equal(change.event.kind, 'customer.upserted');
  return change.event.kind === 'customer.upserted' ? change.event.customer : assert.fail();
}

/** The customer in the bus snapshot, once the relay has published the latest change. */
async function snapshotCustomer(id: string): Promise<CustomerConfig | undefined> {
  await t.waitForBusSeq(await maxSeq());
  return (await t.bus.readSnapshot())!.customers.find((c) => c.id === id);
}

before(async () => {
  t = await startTestApi();
});

after(async () => {
  await t.close();
});

describe('defaults', () => {
  test('a customer created without the options has no quota and keeps the query string', async () => {
    const res = await t.gql<{ createCustomer: Options }>(CREATE, { input: input('plain') });
    assert.equal(res.errors, undefined);
    assert.deepEqual(res.data!.createCustomer, { id: 'plain', cacheQuotaBytes: null, queryString: { mode: 'KEEP', allow: [] } });
    assert.deepEqual(await row('plain'), { cache_quota_bytes: null, query_string_mode: 'keep', query_string_allow: [], version: 1 });

    const published = await publishedCustomer(await maxSeq());
    assert.equal(published.cacheQuotaBytes, null);
    assert.deepEqual(published.queryString, { mode: 'keep', allow: [] });
  });

  test('explicit nulls on create mean the same as leaving the options out', async () => {
    const res = await t.gql<{ createCustomer: Options }>(CREATE, { input: input('nulls', { cacheQuotaBytes: null, queryString: null }) });
    assert.equal(res.errors, undefined);
    assert.deepEqual(res.data!.createCustomer, { id: 'nulls', cacheQuotaBytes: null, queryString: { mode: 'KEEP', allow: [] } });
  });
});

describe('create and read', () => {
  test('a 64-bit quota and an allowlist (deduplicated) are stored, returned and published', async () => {
    const res = await t.gql<{ createCustomer: Options }>(CREATE, {
      input: input('opts', { cacheQuotaBytes: BIG_QUOTA, queryString: { mode: 'ALLOWLIST', allow: ['v', 'lang', 'v', 'a b'] } }),
    });
    assert.equal(res.errors, undefined);
    const expected = { id: 'opts', cacheQuotaBytes: BIG_QUOTA, queryString: { mode: 'ALLOWLIST', allow: ['v', 'lang', 'a b'] } };
    assert.deepEqual(res.data!.createCustomer, expected);
    assert.deepEqual(await row('opts'), {
      cache_quota_bytes: String(BIG_QUOTA),
      query_string_mode: 'allowlist',
      query_string_allow: ['v', 'lang', 'a b'],
      version: 1,
    });

    assert.deepEqual((await t.gql<{ customer: Options }>(GET, { id: 'opts' })).data!.customer, expected);
    assert.deepEqual((await t.gql<{ customerByDomain: Options }>(BY_DOMAIN, { d: 'cdn.opts.example' })).data!.customerByDomain, expected);
    const listed = (await t.gql<{ customers: { nodes: Options[] } }>(LIST)).data!.customers.nodes;
    assert.deepEqual(listed.find((n) => n.id === 'opts'), expected);

    const seq = await maxSeq();
    const published = await publishedCustomer(seq);
    assert.equal(published.cacheQuotaBytes, BIG_QUOTA);
    assert.equal(typeof published.cacheQuotaBytes, 'number', 'a number on the bus, not pg\'s bigint string');
    assert.deepEqual(published.queryString, { mode: 'allowlist', allow: ['v', 'lang', 'a b'] });
    assert.equal((await t.bus.readSnapshot())!.seq, seq);
    const inSnapshot = (await snapshotCustomer('opts'))!;
    assert.equal(inSnapshot.cacheQuotaBytes, BIG_QUOTA);
    assert.deepEqual(inSnapshot.queryString, { mode: 'allowlist', allow: ['v', 'lang', 'a b'] });

    // The outbox row itself carries them, so a relay on another replica publishes the same.
    const log: Array<{ payload: { customer: CustomerConfig } }> = await t.dataSource.query('SELECT payload FROM change_log WHERE seq = $1', [seq]);
    assert.equal(log[0]!.payload.customer.cacheQuotaBytes, BIG_QUOTA);
    assert.deepEqual(log[0]!.payload.customer.queryString, { mode: 'allowlist', allow: ['v', 'lang', 'a b'] });
  });

  test('the bounds themselves are accepted: 1 MiB and 1 PiB', async () => {
    for (const [id, bytes] of [['min-quota', MiB], ['max-quota', 1024 ** 5]] as const) {
      const res = await t.gql<{ createCustomer: Options }>(CREATE, { input: input(id, { cacheQuotaBytes: bytes }) });
      assert.equal(res.errors, undefined, res.text);
      assert.equal(res.data!.createCustomer.cacheQuotaBytes, bytes);
    }
  });

  test('written inline (as in the README), a 64-bit quota and the enum work too', async () => {
    const res = await t.gql<{ createCustomer: Options }>(`mutation { createCustomer(input: {
      id: "inline", name: "Inline", originUrl: "https://inline.example", domains: ["cdn.inline.example"],
      cacheQuotaBytes: ${BIG_QUOTA}, queryString: { mode: ALLOWLIST, allow: ["v"] } }) { ${FIELDS} } }`);
    assert.equal(res.errors, undefined, res.text);
    assert.deepEqual(res.data!.createCustomer, { id: 'inline', cacheQuotaBytes: BIG_QUOTA, queryString: { mode: 'ALLOWLIST', allow: ['v'] } });
    // Inline, GraphQL validation refuses what the scalar cannot hold, before any resolver runs.
    const bad = await t.gql(`mutation { updateCustomer(id: "inline", input: { cacheQuotaBytes: 1.5 }) { id } }`);
    assert.equal(bad.errors![0]!.extensions.code, 'GRAPHQL_VALIDATION_FAILED', bad.text);
    assert.match(bad.errors![0]!.message, /SafeInt/);
  });

  test('IGNORE with an empty allow list is accepted', async () => {
    const res = await t.gql<{ createCustomer: Options }>(CREATE, { input: input('ign', { queryString: { mode: 'IGNORE', allow: [] } }) });
    assert.equal(res.errors, undefined);
    assert.deepEqual(res.data!.createCustomer.queryString, { mode: 'IGNORE', allow: [] });
  });
});

describe('update', () => {
  test('changes the quota, keeps what is left out, and publishes the new values', async () => {
    const res = await t.gql<{ updateCustomer: Options }>(UPDATE, { id: 'opts', input: { cacheQuotaBytes: 5 * GiB } });
    assert.equal(res.errors, undefined);
    assert.deepEqual(res.data!.updateCustomer, { id: 'opts', cacheQuotaBytes: 5 * GiB, queryString: { mode: 'ALLOWLIST', allow: ['v', 'lang', 'a b'] } });
    const published = await publishedCustomer(await maxSeq());
    assert.equal(published.cacheQuotaBytes, 5 * GiB);
    assert.deepEqual(published.queryString, { mode: 'allowlist', allow: ['v', 'lang', 'a b'] });
  });

  test('queryString replaces the whole policy; switching to IGNORE clears allow', async () => {
    const res = await t.gql<{ updateCustomer: Options }>(UPDATE, { id: 'opts', input: { queryString: { mode: 'IGNORE' } } });
    assert.equal(res.errors, undefined);
    assert.deepEqual(res.data!.updateCustomer, { id: 'opts', cacheQuotaBytes: 5 * GiB, queryString: { mode: 'IGNORE', allow: [] } });
    assert.deepEqual((await row('opts')).query_string_allow, []);
    assert.deepEqual((await snapshotCustomer('opts'))!.queryString, { mode: 'ignore', allow: [] });
  });

  test('cacheQuotaBytes: null removes the quota', async () => {
    const res = await t.gql<{ updateCustomer: Options }>(UPDATE, { id: 'opts', input: { cacheQuotaBytes: null } });
    assert.equal(res.errors, undefined);
    assert.equal(res.data!.updateCustomer.cacheQuotaBytes, null);
    assert.equal((await row('opts')).cache_quota_bytes, null);
    const published = await publishedCustomer(await maxSeq());
    assert.equal(published.cacheQuotaBytes, null);
    assert.equal((await snapshotCustomer('opts'))!.cacheQuotaBytes, null);
  });

  test('an update of other fields leaves both options as they were', async () => {
    await t.gql(UPDATE, { id: 'opts', input: { cacheQuotaBytes: 2 * GiB, queryString: { mode: 'ALLOWLIST', allow: ['id'] } } });
    const res = await t.gql<{ updateCustomer: Options }>(UPDATE, { id: 'opts', input: { cacheTtl: 10 } });
    assert.deepEqual(res.data!.updateCustomer, { id: 'opts', cacheQuotaBytes: 2 * GiB, queryString: { mode: 'ALLOWLIST', allow: ['id'] } });
  });
});

describe('bad input: BAD_USER_INPUT naming the field, and nothing changes', () => {
  const names = (n: number, prefix = 'p'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  // [label, options, field named, what the message says]
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['quota of 0', { cacheQuotaBytes: 0 }, 'input.cacheQuotaBytes', /1048576 \(1 MiB\)/],
    ['quota one byte under 1 MiB', { cacheQuotaBytes: MiB - 1 }, 'input.cacheQuotaBytes', /1 MiB/],
    ['negative quota', { cacheQuotaBytes: -GiB }, 'input.cacheQuotaBytes', /got -1073741824/],
    ['quota over 1 PiB', { cacheQuotaBytes: 1024 ** 5 + 1 }, 'input.cacheQuotaBytes', /1 PiB/],
    ['fractional quota', { cacheQuotaBytes: MiB + 0.5 }, 'input.cacheQuotaBytes', /non-integer/],
    ['quota beyond 2^53', { cacheQuotaBytes: 2 ** 53 }, 'input.cacheQuotaBytes', /SafeInt/],
    ['quota as a string', { cacheQuotaBytes: '1GB' }, 'input.cacheQuotaBytes', /SafeInt/],
    ['unknown mode', { queryString: { mode: 'SOME' } }, 'input.queryString.mode', /QueryStringMode/],
    ['lower-case mode', { queryString: { mode: 'keep' } }, 'input.queryString.mode', /QueryStringMode/],
    ['allow with KEEP', { queryString: { mode: 'KEEP', allow: ['a'] } }, 'input.queryString.allow', /only used with mode allowlist/],
    ['allow with IGNORE', { queryString: { mode: 'IGNORE', allow: ['a'] } }, 'input.queryString.allow', /only used with mode allowlist/],
    ['ALLOWLIST without allow', { queryString: { mode: 'ALLOWLIST' } }, 'input.queryString.allow', /at least one/],
    ['ALLOWLIST with allow null', { queryString: { mode: 'ALLOWLIST', allow: null } }, 'input.queryString.allow', /at least one/],
    ['ALLOWLIST with an empty allow', { queryString: { mode: 'ALLOWLIST', allow: [] } }, 'input.queryString.allow', /at least one/],
    ['101 names', { queryString: { mode: 'ALLOWLIST', allow: names(101) } }, 'input.queryString.allow', /at most 100 .*got 101/],
    ['an empty name', { queryString: { mode: 'ALLOWLIST', allow: ['a', ''] } }, 'input.queryString.allow[1]', /must not be empty/],
    ['a 257-character name', { queryString: { mode: 'ALLOWLIST', allow: ['x'.repeat(257)] } }, 'input.queryString.allow[0]', /at most 256 .*got 257/],
    ['a null name', { queryString: { mode: 'ALLOWLIST', allow: ['a', null] } }, 'input.queryString.allow', /non-null/],
  ];

  async function assertRefused(res: Awaited<ReturnType<TestApi['gql']>>, field: string, message: RegExp): Promise<void> {
    assert.equal(res.errors?.length, 1, res.text);
    const err = res.errors![0]!;
    assert.equal(err.extensions.code, 'BAD_USER_INPUT', res.text);
    if (err.extensions.cdnCode === 'CDN_ERR_INPUT_INVALID') {
      // The service's rules: the field is listed in extensions.fields and in the message.
      const fields = err.extensions.fields as Array<{ field: string; message: string }>;
      assert.deepEqual(fields.map((f) => f.field), [field], res.text);
      assert.match(fields[0]!.message, message);
      assert.ok(err.message.includes(`${field}: `), err.message);
    } else {
      // GraphQL's own coercion (type, non-null, enum, SafeInt range) names the path in the message.
      assert.ok(err.message.includes(field.replace(/^input\./, '').split('[')[0]!), `${field} in ${err.message}`);
      assert.match(err.message, message);
    }
    assert.equal(res.data ?? null, null);
  }

  test('create: each bad option is refused and nothing is written', async () => {
    const before = [await count('customer'), await count('domain'), await count('change_log')];
    for (const [label, options, field, message] of cases) {
      const res = await t.gql(CREATE, { input: input('refused', options) });
      await assertRefused(res, field, message).catch((err: Error) => assert.fail(`${label}: ${err.message}`));
    }
    assert.deepEqual([await count('customer'), await count('domain'), await count('change_log')], before);
    assert.equal((await t.gql(GET, { id: 'refused' })).data!.customer, null);
  });

  test('update: each bad option is refused and the customer is unchanged', async () => {
    const before = { row: await row('opts'), seq: await maxSeq() };
    const updateCases: typeof cases = [
      ...cases,
      ['queryString: null', { queryString: null }, 'input.queryString', /must not be null/],
    ];
    for (const [label, options, field, message] of updateCases) {
      const res = await t.gql(UPDATE, { id: 'opts', input: { name: 'Changed too', ...options } });
      await assertRefused(res, field, message).catch((err: Error) => assert.fail(`${label}: ${err.message}`));
    }
    assert.deepEqual(await row('opts'), before.row);
    assert.equal(await maxSeq(), before.seq);
  });

  test('problems in both options and other fields are reported together', async () => {
    const res = await t.gql(CREATE, {
      input: input('Bad_Id', { domains: ['cdn.bad.example'], cacheQuotaBytes: 1, queryString: { mode: 'ALLOWLIST', allow: ['', 'ok', 'y'.repeat(300)] } }),
    });
    const fields = (res.errors![0]!.extensions.fields as Array<{ field: string }>).map((f) => f.field).sort();
    assert.deepEqual(fields, ['input.cacheQuotaBytes', 'input.id', 'input.queryString.allow[0]', 'input.queryString.allow[2]']);
  });
});

test('customerChanged subscribers see the options', async () => {
  const ws = wsClient(t.api.url);
  const iterator = ws.iterate<{ customerChanged: { customer: Options } }>({
    query: `subscription { customerChanged { customer { ${FIELDS} } } }`,
  });
  try {
    const first = iterator.next();
    // The subscription must be registered before the change is published.
    await new Promise((r) => setTimeout(r, 300));
    const update = await t.gql(UPDATE, { id: 'plain', input: { cacheQuotaBytes: 3 * GiB, queryString: { mode: 'ALLOWLIST', allow: ['page'] } } });
    assert.equal(update.errors, undefined);
    const result = await Promise.race([first, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no change received')), 5000))]);
    assert.equal(result.value?.errors, undefined);
    assert.deepEqual(result.value!.data!.customerChanged.customer, {
      id: 'plain',
      cacheQuotaBytes: 3 * GiB,
      queryString: { mode: 'ALLOWLIST', allow: ['page'] },
    });
  } finally {
    await iterator.return?.();
    await ws.dispose();
  }
});

describe('staleIfErrorSeconds', () => {
  const SIE = 'id staleIfErrorSeconds';
  const CREATE_SIE = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { ${SIE} } }`;
  const UPDATE_SIE = `mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { ${SIE} } }`;
  const GET_SIE = `query($id: ID!) { customer(id: $id) { ${SIE} } }`;
  type Sie = { id: string; staleIfErrorSeconds: number | null };
  const column = async (id: string): Promise<unknown> =>
    ((await t.dataSource.query('SELECT stale_if_error_seconds FROM customer WHERE id = $1', [id])) as Array<{ stale_if_error_seconds: unknown }>)[0]!.stale_if_error_seconds;

  test('absent or null on create: off', async () => {
    for (const [id, extra] of [['sie-absent', {}], ['sie-null', { staleIfErrorSeconds: null }]] as const) {
      const res = await t.gql<{ createCustomer: Sie }>(CREATE_SIE, { input: input(id, extra) });
      assert.equal(res.errors, undefined, res.text);
      assert.deepEqual(res.data!.createCustomer, { id, staleIfErrorSeconds: null });
      assert.equal(await column(id), null);
      assert.equal((await publishedCustomer(await maxSeq())).staleIfErrorSeconds, null);
    }
  });

  test('set on create, read back, published; the bounds 0 and one week are accepted', async () => {
    const res = await t.gql<{ createCustomer: Sie }>(CREATE_SIE, { input: input('sie', { staleIfErrorSeconds: 300 }) });
    assert.equal(res.errors, undefined, res.text);
    assert.deepEqual(res.data!.createCustomer, { id: 'sie', staleIfErrorSeconds: 300 });
    assert.equal(await column('sie'), 300);
    assert.deepEqual((await t.gql<{ customer: Sie }>(GET_SIE, { id: 'sie' })).data!.customer, { id: 'sie', staleIfErrorSeconds: 300 });
    assert.equal((await publishedCustomer(await maxSeq())).staleIfErrorSeconds, 300);
    assert.equal((await snapshotCustomer('sie'))!.staleIfErrorSeconds, 300);
    for (const [id, value] of [['sie-zero', 0], ['sie-week', 604800]] as const) {
      const r = await t.gql<{ createCustomer: Sie }>(CREATE_SIE, { input: input(id, { staleIfErrorSeconds: value }) });
      assert.equal(r.errors, undefined, r.text);
      assert.equal(r.data!.createCustomer.staleIfErrorSeconds, value);
    }
  });

  test('update changes it, leaving it out keeps it, null clears it', async () => {
    let res = await t.gql<{ updateCustomer: Sie }>(UPDATE_SIE, { id: 'sie', input: { staleIfErrorSeconds: 60 } });
    assert.equal(res.errors, undefined, res.text);
    assert.equal(res.data!.updateCustomer.staleIfErrorSeconds, 60);
    assert.equal((await publishedCustomer(await maxSeq())).staleIfErrorSeconds, 60);

    res = await t.gql<{ updateCustomer: Sie }>(UPDATE_SIE, { id: 'sie', input: { cacheTtl: 30 } });
    assert.equal(res.data!.updateCustomer.staleIfErrorSeconds, 60);

    res = await t.gql<{ updateCustomer: Sie }>(UPDATE_SIE, { id: 'sie', input: { staleIfErrorSeconds: null } });
    assert.equal(res.errors, undefined, res.text);
    assert.equal(res.data!.updateCustomer.staleIfErrorSeconds, null);
    assert.equal(await column('sie'), null);
    assert.equal((await publishedCustomer(await maxSeq())).staleIfErrorSeconds, null);
    assert.equal((await snapshotCustomer('sie'))!.staleIfErrorSeconds, null);
  });

  test('bad values: BAD_USER_INPUT naming input.staleIfErrorSeconds, nothing written', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [-1, /0 to 604800 .*got -1/],
      [604801, /one week.*got 604801/],
      [1.5, /non-integer/],
      ['60', /Int/],
      [2 ** 31, /32-bit/],
    ];
    await t.gql(UPDATE_SIE, { id: 'sie', input: { staleIfErrorSeconds: 120 } });
    const before = { customers: await count('customer'), seq: await maxSeq() };
    for (const [value, message] of bad) {
      for (const res of [
        await t.gql(CREATE_SIE, { input: input('sie-bad', { staleIfErrorSeconds: value }) }),
        await t.gql(UPDATE_SIE, { id: 'sie', input: { name: 'Changed too', staleIfErrorSeconds: value } }),
      ]) {
        assert.equal(res.errors?.length, 1, res.text);
        const err = res.errors![0]!;
        assert.equal(err.extensions.code, 'BAD_USER_INPUT', res.text);
        assert.ok(err.message.includes('staleIfErrorSeconds'), err.message);
        assert.match(err.message, message);
        if (err.extensions.cdnCode === 'CDN_ERR_INPUT_INVALID') {
          assert.deepEqual((err.extensions.fields as Array<{ field: string }>).map((f) => f.field), ['input.staleIfErrorSeconds']);
        }
        assert.equal(res.data ?? null, null);
      }
    }
    assert.deepEqual({ customers: await count('customer'), seq: await maxSeq() }, before);
    assert.equal(await column('sie'), 120);
  });
});
