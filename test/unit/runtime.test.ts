/**
 * The suite runs on the project's own Node.js 24 (the `node` devDependency, first on PATH for
 * npm scripts), and the native dependencies load a build made for this runtime: a prebuild for
 * its ABI or a Node-API build, never one for another Node.js.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

test('the suite runs on the Node.js 24 that npm install brought into node_modules', () => {
  const bundled = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'node', 'package.json'), 'utf8')) as { version: string };
  assert.match(bundled.version, /^24\./);
  assert.equal(process.version, `v${bundled.version}`, `npm test runs ${process.execPath}, not the project's Node.js`);
});

test('lmdb, msgpackr-extract and @swc/core load builds made for this runtime', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('lmdb');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('msgpackr-extract');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@swc/core');
  const loaded = new Set(
    readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .map((line) => line.slice(line.indexOf('/')))
      .filter((file) => file.endsWith('.node')),
  );
  for (const name of ['@lmdb/lmdb-linux-x64', '@msgpackr-extract/msgpackr-extract-linux-x64', '@swc/core-linux-x64-gnu']) {
    const files = [...loaded].filter((f) => f.includes(`/node_modules/${name}/`));
    assert.equal(files.length, 1, `${name}: one native build loaded (${[...loaded].join(', ')})`);
    const file = path.basename(files[0]!);
    // A prebuild names the ABI it was made for; a Node-API one works on every Node.js.
    const abi = /abi(\d+)/.exec(file)?.[1];
    assert.ok(abi === undefined ? /napi|swc\./.test(file) : abi === process.versions.modules, `${name} loaded ${file} on ABI ${process.versions.modules}`);
  }
});
