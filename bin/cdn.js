#!/usr/bin/env node
// The `cdn` command. Runs the compiled build (made by `npm install` through `prepare`,
// or `npm run build`); in a checkout without a build it runs the TypeScript sources.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const compiled = path.join(__dirname, '..', 'dist', 'src', 'bin', 'cdn.js');
if (fs.existsSync(compiled)) {
  require(compiled).main(process.argv.slice(2));
} else {
  require('@swc-node/register');
  require(path.join(__dirname, '..', 'src', 'bin', 'cdn.ts')).main(process.argv.slice(2));
}
