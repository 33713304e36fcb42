#!/usr/bin/env node
// The `cdn` command. Runs the compiled build (made by `npm install` through `prepare`,
// or `npm run build`); in a checkout without a build it runs the TypeScript sources.
//
// Edgeplane runs on Node.js 24 (22.12 or later at least). On a machine whose `node` is older,
// it runs itself again on the project's own Node.js 24, which `npm install` puts in
// node_modules (the `node` devDependency), so `node bin/cdn.js ...` works there too.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const MIN = [22, 12];
const [major, minor] = process.versions.node.split('.').map(Number);

if (major < MIN[0] || (major === MIN[0] && minor < MIN[1])) {
  const bundled = path.join(__dirname, '..', 'node_modules', 'node', 'bin', 'node');
  if (!fs.existsSync(bundled)) {
    process.stderr.write(
      `Edgeplane needs Node.js ${MIN.join('.')} or later (24 is what it is built and tested on); this is ${process.version}.\n` +
        'Run `npm install` in the project (it brings Node.js 24 into node_modules), or install Node.js 24.\n',
    );
    process.exit(1);
  }
  const { spawn } = require('node:child_process');
  const os = require('node:os');
  const child = spawn(bundled, [__filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  // Signals go on to the real process, which drains; this one exits as it does.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (os.constants.signals[signal] ?? 0)));
} else {
  const compiled = path.join(__dirname, '..', 'dist', 'src', 'bin', 'cdn.js');
  if (fs.existsSync(compiled)) {
    require(compiled).main(process.argv.slice(2));
  } else {
    require('@swc-node/register');
    require(path.join(__dirname, '..', 'src', 'bin', 'cdn.ts')).main(process.argv.slice(2));
  }
}
