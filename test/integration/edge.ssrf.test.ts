/**
 * SSRF at connect time, as the attack: customers whose origins are addresses no origin may be
 * (IPv4-compatible, NAT64, 6to4, benchmarking, multicast, class E, broadcast, cloud metadata,
 * loopback in decimal, hex and IPv4-mapped spelling, a name resolving to loopback), requests
 * through loopback to a real edge, and what comes back: a generic JSON 502 that names neither
 * address nor origin host, the address in the operator's warning log, a `forbidden_address`
 * count in /metrics, and no connection attempted.
 *
 * "No connection" is observed on the sockets of this process: a tripwire on
 * net.Socket#connect records every connect call and every connection made. It also refuses
 * any connect to an address other than loopback, so that even a broken edge never sends
 * traffic off this machine (the test fails instead). The loopback origin the forbidden
 * spellings point at counts its connections, and a control edge with private origins allowed
 * shows that the tripwire and the origin do see a connection when one is made.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { createLogger } from '../../src/obs/logger.factory';
import { customer, edgeConfig, http, silentLogger, tempDir } from './edge.harness';

interface ConnectCall {
  host: string;
  port: number;
}

const calls: ConnectCall[] = [];
const connections: Array<{ address: string; port: number }> = [];
const realConnect = net.Socket.prototype.connect;

const isLoopbackTarget = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

function installTripwire(): void {
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    // net.connect hands over its normalised [options, callback]; socket.connect(options | port, host).
    const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
    const options = (typeof first === 'object' && first !== null ? first : { port: first, host: args[1] }) as { host?: string; port?: unknown; path?: string };
    if (options.path === undefined) {
      const host = options.host ?? 'localhost';
      calls.push({ host, port: Number(options.port) });
      if (!isLoopbackTarget(host)) {
        process.nextTick(() => this.destroy(Object.assign(new Error(`test tripwire: refused a connection to ${host}`), { code: 'ECONNREFUSED' })));
        return this;
      }
      this.once('connect', () => connections.push({ address: this.remoteAddress ?? '', port: this.remotePort ?? 0 }));
    }
    return (realConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;
}

let origin: Server;
let originPort: number;
let originConnections = 0;
let root: Awaited<ReturnType<typeof tempDir>>;
let edge: EdgeHandle;
const logs: string[] = [];

/** [customer id, origin URL, what must not reach the client (the first is what the log must name)]. */
let cases: Array<[string, string, string[]]>;

before(async () => {
  installTripwire();
  origin = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('internal secret'));
  origin.on('connection', () => {
    originConnections += 1;
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as AddressInfo).port;
  const p = originPort;
  cases = [
    ['v4-compatible', `http://[::127.0.0.1]:${p}/`, ['::7f00:1', '::127.0.0.1']],
    ['nat64', `http://[64:ff9b::7f00:1]:${p}/`, ['64:ff9b::7f00:1', '64:ff9b']],
    ['six-to-four', `http://[2002:7f00:1::1]:${p}/`, ['2002:7f00:1::1', '2002:']],
    ['benchmarking', `http://198.18.0.1:${p}/`, ['198.18.0.1', '198.18']],
    ['multicast', `http://224.0.0.1:${p}/`, ['224.0.0.1']],
    ['class-e', `http://240.0.0.1:${p}/`, ['240.0.0.1']],
    ['broadcast', `http://255.255.255.255:${p}/`, ['255.255.255.255']],
    ['metadata', 'http://169.254.169.254/latest/', ['169.254.169.254', '169.254']],
    ['decimal', `http://2130706433:${p}/`, ['127.0.0.1', '2130706433']],
    ['hex', `http://0x7f.1:${p}/`, ['127.0.0.1', '0x7f']],
    ['mapped', `http://[::ffff:127.0.0.1]:${p}/`, ['::ffff:7f00:1', '127.0.0.1']],
    ['named', `http://localhost:${p}/`, ['localhost', '127.0.0.1', '::1']],
  ];
  root = await tempDir();
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  edge = await startEdge(edgeConfig(root.dir, { CDN_ALLOW_PRIVATE_ORIGINS: 'false' }), {
    customers: createStaticCustomerFeed(cases.map(([id, url]) => customer(id, url, [`${id}.ssrf.test`]))),
    logger: createLogger({ name: 'edge', level: 'warn', destination }),
  });
});

after(async () => {
  await edge?.close();
  net.Socket.prototype.connect = realConnect;
  await new Promise<void>((resolve) => origin.close(() => resolve()));
  await root?.remove();
});

test('forbidden origins get a generic JSON 502 (GET and POST, again and again), the log names the address, /metrics counts forbidden_address, and nothing is connected', async () => {
  for (const [id, url, secrets] of cases) {
    const host = `${id}.ssrf.test`;
    for (const [method, path] of [['GET', '/x.json'], ['GET', '/x.json'], ['POST', '/form']] as const) {
      const res = await http(edge.url, path, { host, method, ...(method === 'POST' ? { body: 'a=1' } : {}) });
      assert.equal(res.status, 502, `${method} ${url}: ${res.body}`);
      assert.match(String(res.headers['content-type']), /application\/json/);
      const body = JSON.parse(res.body) as { error: string; message: string };
      assert.equal(body.error, 'origin_forbidden_address', url);
      for (const secret of [...secrets, `:${originPort}`, 'internal secret']) assert.ok(!res.body.includes(secret), `${method} ${url}: the answer leaks "${secret}": ${res.body}`);
    }
    const warned = logs.filter((l) => l.includes(`"customer":"${id}"`) && l.includes('origin request failed'));
    assert.equal(warned.length, 3, `${id}: ${logs.join('')}`);
    for (const line of warned) assert.ok(line.includes(secrets[0]!), `${id}: the warning names ${secrets[0]}: ${line}`);
  }
  const metrics = (await http(edge.adminUrl, '/metrics')).body;
  for (const [id] of cases) {
    assert.match(metrics, new RegExp(`^cdn_edge_origin_errors_total\\{customer="${id}",kind="forbidden_address"\\} 3$`, 'm'), id);
    assert.doesNotMatch(metrics, new RegExp(`^cdn_edge_origin_errors_total\\{customer="${id}",kind="(?!forbidden_address)`, 'm'), id);
  }
  // An IP-literal origin is refused before any socket is asked to connect; a name gets a
  // socket whose lookup (the guard) fails, so it never connects. Every connection made went
  // to the edge (the test's own requests).
  const towardsOrigins = calls.filter((c) => c.port !== edge.port && c.port !== edge.adminPort);
  assert.deepEqual(towardsOrigins.filter((c) => net.isIP(c.host) !== 0), [], 'no connect call towards an IP-literal origin');
  assert.deepEqual([...new Set(towardsOrigins.map((c) => c.host))], ['localhost'], 'only the named origin got as far as a lookup');
  assert.ok(connections.every((c) => c.port === edge.port || c.port === edge.adminPort), JSON.stringify(connections));
  assert.equal(originConnections, 0, 'the loopback origin was never connected to');
});

test('control: with private origins allowed, the same loopback spelling is connected to, and the tripwire sees it', async () => {
  const dir = await tempDir();
  const allowing = await startEdge(edgeConfig(dir.dir, { CDN_ALLOW_PRIVATE_ORIGINS: 'true' }), {
    customers: createStaticCustomerFeed([customer('decimal', `http://2130706433:${originPort}/`, ['decimal.ssrf.test'])]),
    logger: silentLogger,
  });
  try {
    const before = originConnections;
    const res = await http(allowing.url, '/x.json', { host: 'decimal.ssrf.test' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'internal secret');
    assert.equal(originConnections, before + 1);
    assert.ok(calls.some((c) => c.host === '127.0.0.1' && c.port === originPort), 'the tripwire records a connect to the origin');
    assert.ok(connections.some((c) => c.port === originPort));
  } finally {
    await allowing.close();
    await dir.remove();
  }
});
