#!/usr/bin/env node
// Runs the test suite with Node's own runner. Node 20's `--test` does not expand globs,
// so this finds the files. `npm test` runs everything; `npm test -- <files or dirs>` a part.
'use strict';
const { spawnSync } = require('node:child_process');
const { readdirSync, statSync } = require('node:fs');
const path = require('node:path');

function collect(target, out) {
  const stat = statSync(target);
  if (stat.isFile()) {
    out.push(target);
    return out;
  }
  for (const name of readdirSync(target).sort()) {
    const full = path.join(target, name);
    if (statSync(full).isDirectory()) collect(full, out);
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const targets = process.argv.slice(2);
const files = (targets.length > 0 ? targets : ['test/unit', 'test/integration', 'test/e2e']).flatMap((t) => collect(t, []));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// The end-to-end tests run the compiled `cdn` command, so the build must match the sources.
if (files.some((f) => f.includes(`${path.sep}e2e${path.sep}`)) && process.env.CDN_TEST_SKIP_BUILD !== '1') {
  console.log('# building (tsc -p tsconfig.build.json) for the end-to-end tests');
  const build = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const result = spawnSync(
  process.execPath,
  ['--require', '@swc-node/register', '--test', '--test-concurrency=2', '--test-timeout=180000', ...files],
  { stdio: 'inherit', env: { ...process.env, SWC_NODE_PROJECT: process.env.SWC_NODE_PROJECT ?? 'tsconfig.json' } },
);
process.exit(result.status ?? 1);
