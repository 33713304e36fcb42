/**
 * Debian's chromium for the browser tests, driven by playwright-core (no bundled browser),
 * launched with the flags docs/CONTRIBUTING.md names: headless, no sandbox (tests may run as
 * root), no QUIC, and nothing of its own on the network (no background fetches, component
 * updates or sync), so a test sees only the traffic it causes. One copy of the flags, so a
 * change to them reaches every browser test.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';

const run = promisify(execFile);

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface ChromiumOptions {
  /** The user's home: where Chromium on Linux reads the roots the user trusts (homeTrusting). */
  home?: string;
  /** Host names resolved to 127.0.0.1 whatever DNS says (a customer's domain, a demo name). */
  loopbackNames?: string[];
}

export function launchChromium(options: ChromiumOptions = {}): Promise<Browser> {
  const names = options.loopbackNames ?? [];
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    ...(options.home === undefined ? {} : { env: { ...process.env, HOME: options.home } }),
    args: [...CHROMIUM_ARGS, ...(names.length === 0 ? [] : [`--host-resolver-rules=${names.map((n) => `MAP ${n} 127.0.0.1`).join(', ')}`])],
  });
}

/**
 * A new home directory (the caller removes it) whose NSS database — where Chromium on Linux
 * keeps the roots a user added — trusts the CA in `caFile` to identify web sites, and nothing
 * else added: Debian's certutil (libnss3-tools), as a user would import a CA. Not
 * `--ignore-certificate-errors-spki-list`, which is no trust: it accepts any chain that
 * merely contains the listed key.
 */
export async function homeTrusting(caFile: string, nickname: string): Promise<string> {
  const home = await mkdtemp(path.join(tmpdir(), 'edgeplane-browser-home-'));
  const db = path.join(home, '.pki', 'nssdb');
  await mkdir(db, { recursive: true });
  await run('certutil', ['-d', `sql:${db}`, '-N', '--empty-password']);
  await run('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', nickname, '-i', caFile]);
  return home;
}
