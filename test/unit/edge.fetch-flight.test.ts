/**
 * The origin fetch shared by collapsed requests (src/edge/pipeline/fetch.flight.ts), driven
 * directly: an origin whose answers and body chunks the test writes one by one, the memory
 * tier behind a store whose puts can be held, and fill locks that lead or follow as told
 * (test/support/flight.fakes.ts). What a client would see end to end is in
 * test/integration/edge.rfc-collapsing.test.ts; here are the edges of it: replay, backpressure,
 * the held last chunk, abandon, a cut body, a 304 that selects nothing, what is not shared,
 * and the outcomes a fill tells the edge's other processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { cacheKey } from '../../src/edge/cache/cache-key';
import { createPolicy } from '../../src/edge/cache/freshness.rules';
import type { ObjectMeta } from '../../src/edge/cache/cache-store.port';
import { Flights, REPLAY_MAX_BYTES, type FlightRequest } from '../../src/edge/pipeline/fetch.flight';
import { FILL_RETRY, FILL_STORED, FILL_UNSHARED, type FillOutcome } from '../../src/edge/pipeline/fill-locks';
import {
  customer,
  customerCounter,
  flightContext,
  followerFills,
  GatedStore,
  leaderFills,
  readAll,
  reader,
  settle,
  until,
  within,
  type FakeFlightContext,
} from '../support/flight.fakes';

const C = customer('c1');
const MiB = 1024 * 1024;
/** fetch.flight.ts's CLIENT_BUFFER_BYTES (not exported): the backlog one client may hold. */
const CLIENT_BUFFER_BYTES = MiB;
const FRESH = { 'cache-control': 'max-age=60', 'content-type': 'text/plain' };

function request(path = '/a', extra: Partial<FlightRequest> = {}): FlightRequest {
  const key = cacheKey(C.id, path, '');
  return { key, collapseKey: key, customer: C, path, requestHeaders: { host: 'c1.test' }, domain: 'c1.test', clientIp: '127.0.0.1', ...extra };
}

/** `n` bytes whose content says where they sit in the body (so a replay from the wrong place shows). */
function pattern(offset: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 1) b[i] = (offset + i) % 251;
  return b;
}

async function storedBody(ctx: FakeFlightContext, key: string): Promise<string | undefined> {
  const stored = await ctx.store.get(key);
  return stored === undefined ? undefined : (stored.body ?? Buffer.alloc(0)).toString();
}

test('two waiters share one origin request; both get the whole body and it is stored once', async () => {
  const ctx = flightContext();
  const flights = new Flights();
  const req = request();
  const flight = flights.start(req, ctx);
  const [a, b] = [flight.attach(), flight.attach()];
  assert.equal(flights.get(req.collapseKey), flight, 'a second miss finds the fetch in flight');
  const call = await ctx.origin.call(0);
  assert.equal(call.req.method, 'GET');
  assert.equal(call.req.path, '/a');
  call.respond(200, { ...FRESH, 'content-length': '6' });
  const result = await flight.result;
  assert.equal(result.kind, 'stream');
  assert.equal(result.kind === 'stream' && result.shareable, true);
  const [ra, rb] = [reader(flight.join(a)!), reader(flight.join(b)!)];
  call.body.send('abc').send('def').finish();
  assert.deepEqual([(await ra.done).toString(), (await rb.done).toString()], ['abcdef', 'abcdef']);
  assert.equal(await flight.stored, 'stored');
  assert.equal(ctx.origin.calls.length, 1, 'one origin request for both');
  assert.equal(await storedBody(ctx, req.key), 'abcdef');
  assert.equal(flights.get(req.collapseKey), undefined, 'a finished fetch is no longer joined: the store answers');
});

test('a late joiner within REPLAY_MAX_BYTES gets the body from byte 0; past it join() is undefined and `stored` resolves', async () => {
  const ctx = flightContext();
  const flight = new Flights().start(request(), ctx);
  const early = flight.attach();
  const call = await ctx.origin.call(0);
  const body = call.respond(200, FRESH);
  await flight.result;
  const first = reader(flight.join(early)!);
  // Exactly REPLAY_MAX_BYTES: still replayable.
  for (let i = 0; i < 4; i += 1) body.send(pattern(i * MiB, MiB));
  await until(() => first.bytes().length >= 3 * MiB, 'the first client has read what was forwarded');
  const late = flight.attach();
  const lateBody = flight.join(late);
  assert.ok(lateBody !== undefined, 'joined at REPLAY_MAX_BYTES');
  const second = reader(lateBody);
  // One byte past it: the replay buffer is dropped.
  body.send(pattern(4 * MiB, 1));
  await until(() => first.bytes().length >= 4 * MiB, 'the 4 MiB chunk forwarded');
  const tooLate = flight.attach();
  assert.equal(flight.join(tooLate), undefined, 'past REPLAY_MAX_BYTES a late joiner is told to read the store');
  tooLate.leave(false);
  body.finish();
  const whole = pattern(0, REPLAY_MAX_BYTES + 1);
  assert.ok((await first.done).equals(whole));
  assert.ok((await second.done).equals(whole), 'the late joiner got every byte from the first');
  assert.equal(await flight.stored, 'stored', 'what the too-late joiner waits for');
  assert.ok((await ctx.store.get(request().key))!.body!.equals(whole));
});

test('backpressure: a client that does not read pauses the origin body past CLIENT_BUFFER_BYTES, and it resumes when the client drains', async () => {
  const ctx = flightContext();
  const flight = new Flights().start(request(), ctx);
  const slow = flight.attach();
  const call = await ctx.origin.call(0);
  const body = call.respond(200, FRESH);
  await flight.result;
  const sub = flight.join(slow) as PassThrough;
  const CHUNK = 64 * 1024;
  const TOTAL = 3 * MiB;
  for (let at = 0; at < TOTAL; at += CHUNK) body.send(pattern(at, CHUNK));
  // The store reads as fast as it can: only the client can hold the body back.
  await settle(50);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const taken = TOTAL - body.readableLength;
  assert.equal(body.isPaused(), true, 'the origin body is paused');
  assert.ok(taken > CLIENT_BUFFER_BYTES, `it ran until the client's backlog passed CLIENT_BUFFER_BYTES (took ${taken})`);
  assert.ok(taken < CLIENT_BUFFER_BYTES + 4 * CHUNK, `and stopped there, not buffering the whole body for one client (took ${taken})`);
  assert.ok(sub.writableLength > CLIENT_BUFFER_BYTES);
  // The client reads: the origin body flows again to its end.
  const got = reader(sub);
  await until(() => body.readableLength === 0, 'the origin body resumed and was read to the last chunk sent');
  body.finish();
  assert.ok((await got.done).equals(pattern(0, TOTAL)), 'nothing lost or reordered across the pauses');
  assert.equal(await flight.stored, 'stored');
});

test('the last chunk is held until the store has settled: a client that saw the whole body finds it stored', async () => {
  const store = new GatedStore();
  const ctx = flightContext({ store });
  const flight = new Flights().start(request(), ctx);
  const ticket = flight.attach();
  const call = await ctx.origin.call(0);
  call.respond(200, FRESH);
  await flight.result;
  const gate = store.hold();
  const client = reader(flight.join(ticket)!);
  let storedAtEnd: string | undefined = 'not ended';
  const watcher = flight.join(flight.attach())!;
  watcher.resume();
  watcher.once('end', () => {
    storedAtEnd = store.memory.hit(request().key)?.body?.toString();
  });
  call.body.send('aaa').send('bbb').finish();
  await gate.reached;
  await settle(20);
  assert.equal(client.text(), 'aaa', 'everything but the last chunk');
  assert.equal(client.ended, false);
  gate.open();
  assert.equal((await client.done).toString(), 'aaabbb');
  assert.equal(storedAtEnd, 'aaabbb', 'the object was in the store when the body ended');
});

test('a store that can already read the object back releases the last chunk before its put settles', async () => {
  const store = new GatedStore();
  const ctx = flightContext({ store });
  const flights = new Flights();
  const flight = flights.start(request(), ctx);
  const ticket = flight.attach();
  const call = await ctx.origin.call(0);
  call.respond(200, FRESH);
  await flight.result;
  const gate = store.hold({ readable: true });
  const client = reader(flight.join(ticket)!);
  call.body.send('aaa').send('bbb').finish();
  await gate.reached;
  assert.equal((await within(client.done, 2000, 'the body ends while the put waits')).toString(), 'aaabbb');
  assert.deepEqual(store.outcomes, [], 'the put has not settled');
  assert.equal(store.memory.hit(request().key)?.body?.toString(), 'aaabbb', 'a client asking again finds it');
  assert.equal(flights.get(request().collapseKey), undefined, 'in the store, not in this fetch');
  gate.open();
  assert.equal(await flight.stored, 'stored');
  assert.equal(ctx.origin.calls.length, 1);
});

test('abandon: the last waiter leaving aborts the origin request and stores nothing; one leaving of two changes nothing', async () => {
  // While the origin has not answered yet.
  {
    const ctx = flightContext();
    const flights = new Flights();
    const flight = flights.start(request(), ctx);
    const ticket = flight.attach();
    const call = await ctx.origin.call(0);
    ticket.leave(true);
    ticket.leave(true); // leaving twice counts once
    assert.equal(call.aborted, true);
    assert.deepEqual(await flight.result, { kind: 'failed' }, 'no answer to give: nobody is waiting');
    assert.equal(flights.get(request().collapseKey), undefined);
    assert.equal(await customerCounter(ctx, 'cdn_edge_origin_errors_total', { customer: C.id, kind: 'other' }), 0, 'not an origin error');
  }
  // While the body streams: clients go away by closing their streams.
  {
    const ctx = flightContext();
    const flights = new Flights();
    const flight = flights.start(request(), ctx);
    const [a, b] = [flight.attach(), flight.attach()];
    const call = await ctx.origin.call(0);
    call.respond(200, FRESH);
    await flight.result;
    const [sa, sb] = [flight.join(a)!, flight.join(b)!];
    sa.resume();
    sb.resume();
    call.body.send('part').send('more');
    await settle();
    sa.destroy();
    await settle();
    assert.equal(call.aborted, false, 'one client is still reading');
    sb.destroy();
    await settle();
    assert.equal(call.aborted, true, 'the last one left: the origin request is aborted');
    assert.equal(call.body.destroyed, true);
    assert.equal(await flight.stored, 'aborted');
    assert.equal(await ctx.store.get(request().key), undefined, 'nothing stored');
    assert.equal(flights.get(request().collapseKey), undefined, 'a new request starts a new fetch');
    for (const kind of ['reset', 'other']) {
      assert.equal(await customerCounter(ctx, 'cdn_edge_origin_errors_total', { customer: C.id, kind }), 0, 'clients leaving is not an origin error');
    }
  }
});

test('a background refresh is never abandoned: it is stored though every waiter left', async () => {
  const ctx = flightContext();
  const flight = new Flights().start(request('/a', { background: true }), ctx);
  const ticket = flight.attach();
  const call = await ctx.origin.call(0);
  call.respond(200, FRESH);
  await flight.result;
  const sub = flight.join(ticket)!;
  call.body.send('refreshed');
  await settle();
  sub.destroy();
  ticket.leave(true);
  await settle();
  assert.equal(call.aborted, false);
  call.body.finish();
  assert.equal(await flight.stored, 'stored');
  assert.equal(await storedBody(ctx, request().key), 'refreshed');
});

test('an origin body that fails mid-way destroys every waiter\'s stream and stores nothing', async () => {
  const ctx = flightContext();
  const flights = new Flights();
  const flight = flights.start(request(), ctx);
  const [a, b] = [flight.attach(), flight.attach()];
  const call = await ctx.origin.call(0);
  call.respond(200, { ...FRESH, 'content-length': '100' });
  await flight.result;
  const [ra, rb] = [reader(flight.join(a)!), reader(flight.join(b)!)];
  call.body.send('x'.repeat(30)).send('y'.repeat(30));
  await settle();
  call.body.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
  await assert.rejects(ra.done, /ECONNRESET/, 'never a truncated body that ends like a whole one');
  await assert.rejects(rb.done, /ECONNRESET/);
  assert.equal(await flight.stored, 'aborted');
  assert.equal(await ctx.store.get(request().key), undefined);
  assert.equal(flights.get(request().collapseKey), undefined);
  assert.equal(flight.join(flight.attach()), undefined, 'a failed fetch cannot be joined');
  assert.equal(await customerCounter(ctx, 'cdn_edge_origin_errors_total', { customer: C.id, kind: 'reset' }), 1, 'counted as the origin\'s failure');
});

/** A stored object gone stale, with the validator ETag "v1". */
function staleObject(ctx: FakeFlightContext, key: string): NonNullable<FlightRequest['stale']> {
  const headers = { etag: '"v1"', 'cache-control': 'max-age=10', date: new Date(ctx.clock.now()).toUTCString() };
  const policy = createPolicy({ status: 200, headers, requestHeaders: {}, heuristicTtl: 60, requestTime: ctx.clock.now(), responseTime: ctx.clock.now() }, ctx.clock);
  const meta: ObjectMeta = { key, status: 200, headers: { etag: '"v1"', 'cache-control': 'max-age=10' }, storedAt: ctx.clock.now(), fetchedAt: ctx.clock.now(), ttl: 10, size: 3, policy: policy.toObject() as unknown as Record<string, unknown> };
  ctx.clock.advance(60_000);
  return { meta, policy, objectKey: key };
}

test('revalidation: a 304 that matches refreshes the stored object; one that selects nothing makes one full refetch, and only one', async () => {
  // The validator matches: one request, the metadata refreshed.
  {
    const ctx = flightContext();
    const req = request();
    await ctx.store.put(req.key, { status: 200, headers: { etag: '"v1"' }, storedAt: 0, ttl: 10 }, Readable.from([Buffer.from('old')]));
    const stale = staleObject(ctx, req.key);
    const flight = new Flights().start({ ...req, stale }, ctx);
    const call = await ctx.origin.call(0);
    assert.equal(call.header('if-none-match'), '"v1"');
    call.respond(304, { etag: '"v1"', 'cache-control': 'max-age=30' });
    const result = await flight.result;
    assert.equal(result.kind, 'revalidated');
    assert.equal(ctx.origin.calls.length, 1);
    const stored = (await ctx.store.get(req.key))!;
    assert.equal(stored.meta.storedAt, ctx.clock.now(), 'the stored metadata was refreshed by the 304');
    assert.equal(stored.body!.toString(), 'old', 'and its body kept');
  }
  // The 304 names another validator: it selects no stored response (RFC 9111 §4.3.4).
  {
    const ctx = flightContext();
    const req = request();
    const flight = new Flights().start({ ...req, stale: staleObject(ctx, req.key) }, ctx);
    (await ctx.origin.call(0)).respond(304, { etag: '"v2"' });
    const again = await ctx.origin.call(1);
    assert.equal(again.header('if-none-match'), undefined, 'the second request is unconditional');
    again.respond(200, { ...FRESH, etag: '"v2"' }).send('new').finish();
    const result = await flight.result;
    assert.equal(result.kind, 'stream');
    assert.equal(await flight.stored, 'stored');
    assert.equal(await storedBody(ctx, req.key), 'new');
    assert.equal(ctx.origin.calls.length, 2);
  }
  // An origin answering 304 to the unconditional request too: an error, not a loop.
  {
    const ctx = flightContext();
    const req = request();
    const flight = new Flights().start({ ...req, stale: staleObject(ctx, req.key) }, ctx);
    (await ctx.origin.call(0)).respond(304, { etag: '"v2"' });
    (await ctx.origin.call(1)).respond(304, { etag: '"v2"' });
    const result = await flight.result;
    assert.equal(result.kind, 'failed');
    assert.equal(result.kind === 'failed' && result.synthetic?.status, 502);
    assert.equal(result.kind === 'failed' && result.synthetic?.body.code, 'CDN_ERR_ORIGIN_ERROR');
    await settle();
    assert.equal(ctx.origin.calls.length, 2);
  }
});

test('answers that may not be shared (private, Set-Cookie, 5xx) go to the leader alone and are never stored', async () => {
  const cases: Array<{ status: number; headers: Record<string, string>; kind: string }> = [
    { status: 200, headers: { 'cache-control': 'private, max-age=60' }, kind: 'unshared' },
    { status: 200, headers: { 'cache-control': 'max-age=60', 'set-cookie': 'session=alice' }, kind: 'unshared' },
    { status: 200, headers: { 'cache-control': 'no-store' }, kind: 'unshared' },
    { status: 503, headers: { 'cache-control': 'max-age=60' }, kind: 'failed' },
  ];
  for (const { status, headers, kind } of cases) {
    const ctx = flightContext();
    const flights = new Flights();
    const req = request();
    const flight = flights.start(req, ctx);
    flight.attach();
    const call = await ctx.origin.call(0);
    call.respond(status, headers).send(`for the leader (${status})`).finish();
    const result = await flight.result;
    assert.deepEqual(result, { kind }, JSON.stringify(headers));
    assert.equal(flight.own?.statusCode, status, 'the leader gets the origin\'s own answer');
    assert.equal((await readAll(flight.own!.body)).toString(), `for the leader (${status})`);
    assert.equal(flights.get(req.collapseKey), undefined, 'followers do not wait on it: each asks the origin itself');
    assert.equal(await flight.stored, 'none');
    assert.equal(await ctx.store.get(req.key), undefined);
  }
  // A background refresh has no leader waiting: the answer is dropped.
  const ctx = flightContext();
  const flight = new Flights().start(request('/a', { background: true }), ctx);
  const call = await ctx.origin.call(0);
  call.respond(200, { 'cache-control': 'private' }).send('nobody');
  assert.deepEqual(await flight.result, { kind: 'unshared' });
  assert.equal(flight.own, undefined);
  assert.equal(call.body.destroyed, true);
});

test('fill locks, follower: no origin request; the leading process\'s outcome decides the answer', async () => {
  const synthetic = { status: 504, body: { error: 'origin_timeout', code: 'CDN_ERR_ORIGIN_TIMEOUT' } };
  const cases: Array<[FillOutcome, unknown]> = [
    [FILL_STORED, { kind: 'elsewhere' }],
    [{ kind: 'failed', synthetic }, { kind: 'failed', synthetic }],
    [FILL_UNSHARED, { kind: 'unshared' }],
    [FILL_RETRY, { kind: 'retry' }],
  ];
  for (const [outcome, expected] of cases) {
    let done!: (o: FillOutcome) => void;
    const fills = followerFills(new Promise((resolve) => (done = resolve)));
    const ctx = flightContext({ fills });
    const flights = new Flights();
    const req = request('/a', { collapseKey: 'c1\n/a?\nvariant' });
    const flight = flights.start(req, ctx);
    flight.attach();
    await settle();
    assert.deepEqual(fills.keys, ['c1\n/a?\nvariant'], 'the fill is locked by its collapse key');
    done(outcome);
    assert.deepEqual(await flight.result, expected, outcome.kind);
    assert.equal(ctx.origin.calls.length, 0, 'the follower never asks the origin');
    assert.equal(flights.get(req.collapseKey), undefined);
  }
  // Every client of a following flight leaves: it gives up without waiting for the leader.
  const fills = followerFills(new Promise(() => {}));
  const ctx = flightContext({ fills });
  const flight = new Flights().start(request(), ctx);
  const ticket = flight.attach();
  await settle();
  ticket.leave(true);
  assert.deepEqual(await within(flight.result, 2000, 'the abandoned follower'), { kind: 'failed' });
  // A solo fetch (register: false) coordinates with nobody.
  const solo = flightContext({ fills: followerFills(new Promise(() => {})) });
  new Flights().start(request(), solo, false).attach();
  await solo.origin.call(0);
});

test('fill locks, leader: `stored` is released only once the store settled; `retry` when nothing was stored', async () => {
  // Stored: released after the put settled, not when the body ended.
  {
    const store = new GatedStore();
    const fills = leaderFills();
    const ctx = flightContext({ store, fills });
    const flight = new Flights().start(request(), ctx);
    const ticket = flight.attach();
    const call = await ctx.origin.call(0);
    call.respond(200, FRESH);
    await flight.result;
    const gate = store.hold();
    const client = reader(flight.join(ticket)!);
    call.body.send('whole').finish();
    await gate.reached;
    await settle(20);
    assert.deepEqual(fills.released, [], 'not yet: the other processes would look it up and miss');
    gate.open();
    await client.done;
    await until(() => fills.released.length > 0, 'the release');
    assert.deepEqual(fills.released, [FILL_STORED]);
  }
  // Too large to store (declared length over maxObjectBytes): the others must fetch it themselves.
  {
    const fills = leaderFills();
    const ctx = flightContext({ fills, maxObjectBytes: 4 });
    const flight = new Flights().start(request(), ctx);
    const ticket = flight.attach();
    const call = await ctx.origin.call(0);
    call.respond(200, { ...FRESH, 'content-length': '10' });
    await flight.result;
    const client = reader(flight.join(ticket)!);
    call.body.send('0123456789').finish();
    assert.equal((await client.done).toString(), '0123456789', 'the client still gets it');
    assert.equal(await flight.stored, 'too_large');
    await until(() => fills.released.length > 0, 'the release');
    assert.deepEqual(fills.released, [FILL_RETRY]);
  }
  // Abandoned by its clients mid-body: retry.
  {
    const fills = leaderFills();
    const ctx = flightContext({ fills });
    const flight = new Flights().start(request(), ctx);
    const ticket = flight.attach();
    const call = await ctx.origin.call(0);
    call.respond(200, FRESH);
    await flight.result;
    const sub = flight.join(ticket)!;
    call.body.send('half');
    await settle();
    sub.destroy();
    await until(() => fills.released.length > 0, 'the release');
    assert.deepEqual(fills.released, [FILL_RETRY]);
  }
  // A 5xx for the leader alone: the others ask the origin themselves; unreachable: they answer the same error.
  {
    const fills = leaderFills();
    const ctx = flightContext({ fills });
    const flight = new Flights().start(request(), ctx);
    flight.attach();
    (await ctx.origin.call(0)).respond(502, {}).finish();
    await flight.result;
    await until(() => fills.released.length > 0, 'the release');
    assert.deepEqual(fills.released, [FILL_UNSHARED]);
  }
  {
    const fills = leaderFills();
    const ctx = flightContext({ fills });
    const flight = new Flights().start(request(), ctx);
    flight.attach();
    (await ctx.origin.call(0)).fail(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const result = await flight.result;
    assert.equal(result.kind === 'failed' && result.synthetic?.body.code, 'CDN_ERR_ORIGIN_UNREACHABLE');
    await until(() => fills.released.length > 0, 'the release');
    assert.equal(fills.released[0]!.kind, 'failed');
    assert.equal(fills.released[0]!.kind === 'failed' && fills.released[0]!.synthetic.status, 502);
  }
});
