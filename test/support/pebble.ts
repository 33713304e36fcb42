/**
 * A private ACME server for tests: Debian's `pebble` (RFC 8555 test CA) with
 * `pebble-challtestsrv` as its DNS server, answering every A query with 127.0.0.1 (and no
 * AAAA), so HTTP-01 validation of any name reaches `httpPort` on loopback, where the test's
 * stand-in edge (or a real edge's plain port) answers /.well-known/acme-challenge/<token>.
 *
 * Everything listens on 127.0.0.1, on ports free at start. Pebble's own HTTPS listener gets
 * a certificate for `localhost` signed by a throw-away CA made with src/bin/demo-pki.ts (the
 * Debian package strips upstream's test certificates); callers trust `caPem` for the
 * directory. Pebble makes a new issuing root on every start: `issuerRootPem` (from the
 * management API's /roots/0) is what issued certificates chain to.
 *
 * Processes are killed on stop(), by the `after` hook the caller passes, when the test
 * process exits, and, if the test process is SIGKILLed, by a watchdog shell that waits for
 * its stdin (a pipe from this process) to close (it removes the temp dir too).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCertificateAuthority } from '../../src/bin/demo-pki';
import { freePort } from './redis-server';

export interface PebbleOptions {
  /** The port pebble's HTTP-01 validation connects to on 127.0.0.1 (the edge's plain port). */
  httpPort: number;
  /** Lifetime of issued certificates in seconds (pebble's `certificateValidityPeriod`). */
  certificateValiditySeconds?: number;
  /**
   * PEBBLE_AUTHZREUSE: how often (percent) pebble hands an account an authorization it
   * already holds as valid for a name, instead of a new one with challenges. Default 0, so
   * every order is validated (pebble's own default is a random 50%).
   */
  authzReusePercent?: number;
  /** Names pebble refuses to order (`domainBlocklist`): a CA's policy refusal (rejectedIdentifier). */
  domainBlocklist?: string[];
  /** Registers stop() to run when the test or suite ends, pass or fail (node:test's `after`, `t.after`). */
  after?: (fn: () => Promise<void>) => void;
}

export interface Pebble {
  /** https://localhost:<port>/dir */
  directoryUrl: string;
  /** The CA that signed pebble's HTTPS certificate: trust it to talk to directoryUrl. */
  caPem: string;
  /** The same, as a file (for CDN_ACME_CA_FILE or curl --cacert); removed on stop(). */
  caFile: string;
  /** Pebble's issuing root (management API /roots/0): issued chains verify to it. */
  issuerRootPem: string;
  /** https://localhost:<port>, pebble's management API (same CA). */
  managementUrl: string;
  /** Ports of pebble-challtestsrv (DNS and its management API). */
  dnsPort: number;
  /** What pebble and pebble-challtestsrv wrote so far (for failure messages). */
  output(): string;
  /** Kills both processes and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const PEBBLE = process.env.PEBBLE_BIN ?? 'pebble';
const CHALLTESTSRV = process.env.PEBBLE_CHALLTESTSRV_BIN ?? 'pebble-challtestsrv';
const START_TIMEOUT_MS = 15_000;

/**
 * Runs `command` under a watchdog shell in a process group of its own: the shell waits for
 * its stdin to close (this process died, whatever the signal) and then kills the command
 * and removes `tempDir`.
 * stop() kills the whole group.
 */
function spawnWatched(command: string, args: string[], env: Record<string, string>, tempDir: string): WatchedProcess {
  const script = '"$@" & child=$!; read -r _ || true; kill -9 "$child" 2>/dev/null; rm -rf "$PEBBLE_TEST_DIR"; exit 0';
  const child = spawn('sh', ['-c', script, 'sh', command, ...args], {
    env: { ...process.env, ...env, PEBBLE_TEST_DIR: tempDir },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  const append = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  // A closed pipe is how the watchdog learns; an EPIPE here is not an error of the test.
  child.stdin!.on('error', () => {});
  return { child, name: path.basename(command), output: () => out };
}

interface WatchedProcess {
  child: ChildProcess;
  name: string;
  output(): string;
}

const running = (p: WatchedProcess): boolean => p.child.exitCode === null && p.child.signalCode === null;

/** SIGKILL to the process group, then waits until no process of it is left. */
async function killGroup(p: WatchedProcess): Promise<void> {
  const pid = p.child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      process.kill(-pid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`${p.name} (process group ${pid}) is still running 5 s after SIGKILL`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Synchronous last resort on process exit: no await possible there. */
function killGroupNow(p: WatchedProcess): void {
  if (p.child.pid === undefined) return;
  try {
    process.kill(-p.child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** GET over HTTPS trusting only `ca`: resolves with status and body, never rejects. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = get(url, { ca, agent: false, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

/** Polls until `probe` gives a value, a process exits, or the deadline passes. */
async function waitUntil<T>(what: string, processes: WatchedProcess[], probe: () => Promise<T | undefined>, output: () => string): Promise<T> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const dead = processes.find((p) => !running(p));
    if (dead !== undefined) throw new Error(`${dead.name} exited while waiting for ${what}:\n${output()}`);
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${START_TIMEOUT_MS} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  // Ports are chosen free, then released and bound by pebble: another process may take one
  // in between, so a start that fails to listen is tried again on new ports.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      lastError = err;
      if (!/address already in use/i.test(String(err))) throw err;
    }
  }
  throw lastError;
}

async function startOnce(options: PebbleOptions): Promise<Pebble> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-pebble-'));
  const processes: WatchedProcess[] = [];
  const output = (): string => processes.map((p) => `--- ${p.name}\n${p.output().slice(-4000)}`).join('\n');
  const onExit = (): void => processes.forEach(killGroupNow);
  process.once('exit', onExit);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      process.removeListener('exit', onExit);
      await Promise.all(processes.map(killGroup));
      await rm(dir, { recursive: true, force: true });
    })());
  options.after?.(stop);

  try {
    const ca = await createCertificateAuthority('Edgeplane test CA for pebble');
    const leaf = await ca.issue(['localhost']);
    const caFile = path.join(dir, 'ca.pem');
    await writeFile(caFile, ca.certPem);
    await writeFile(path.join(dir, 'cert.pem'), leaf.chainPem);
    await writeFile(path.join(dir, 'key.pem'), leaf.keyPem, { mode: 0o600 });

    const [listenPort, managementPort, tlsPort, dnsPort, dnsManagementPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${listenPort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: path.join(dir, 'cert.pem'),
        privateKey: path.join(dir, 'key.pem'),
        httpPort: options.httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(options.domainBlocklist !== undefined ? { domainBlocklist: options.domainBlocklist } : {}),
        ...(options.certificateValiditySeconds !== undefined ? { certificateValidityPeriod: options.certificateValiditySeconds } : {}),
      },
    };
    const configFile = path.join(dir, 'pebble-config.json');
    await writeFile(configFile, JSON.stringify(config, null, 2));

    // Only the DNS server and the management API (which cannot be turned off) listen; the
    // challenge responders challtestsrv would otherwise run are disabled with "".
    const dns = spawnWatched(
      CHALLTESTSRV,
      ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsManagementPort}`],
      {},
      dir,
    );
    processes.push(dns);
    await waitUntil('pebble-challtestsrv to listen', processes, async () => (/Starting management server/.test(dns.output()) ? true : undefined), output);

    const pebble = spawnWatched(PEBBLE, ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`], {
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
      PEBBLE_VA_ALWAYS_VALID: '0',
      PEBBLE_AUTHZREUSE: String(options.authzReusePercent ?? 0),
    }, dir);
    processes.push(pebble);

    const directoryUrl = `https://localhost:${listenPort}/dir`;
    const managementUrl = `https://localhost:${managementPort}`;
    await waitUntil('pebble to serve its directory', processes, async () => {
      const res = await httpsGet(directoryUrl, ca.certPem);
      return 'status' in res && res.status === 200 && res.body.includes('newOrder') ? true : undefined;
    }, output);
    if (options.certificateValiditySeconds !== undefined && !/Using certificate validity period of \d+ seconds/.test(pebble.output())) {
      throw new Error(`this pebble does not support certificateValidityPeriod (pebble >= 2.4 does):\n${output()}`);
    }
    const issuerRootPem = await waitUntil('pebble to publish its root', processes, async () => {
      const res = await httpsGet(`${managementUrl}/roots/0`, ca.certPem);
      return 'status' in res && res.status === 200 && res.body.includes('BEGIN CERTIFICATE') ? res.body : undefined;
    }, output);

    return { directoryUrl, caPem: ca.certPem, caFile, issuerRootPem, managementUrl, dnsPort, output, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
