// The bench scripts measure the compiled edge (`node bin/cdn.js edge`): rebuild dist/ first when
// src/ is newer, keeping the last good dist/ when the working tree does not compile (someone's
// work in progress). Also says when the bench does not run on the project's own Node.js.
// Shared by bench/run.js and bench/connections.js.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { runToEnd } = require('./children');

const ROOT = path.resolve(__dirname, '..');

function newestMtime(dir, exts) {
  let newest = 0;
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (exts.some((x) => e.name.endsWith(x))) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return newest;
}

async function ensureBuild(opts, { log, fail }) {
  const entry = path.join(ROOT, 'dist', 'src', 'bin', 'cdn.js');
  const built = fs.existsSync(entry) ? newestMtime(path.join(ROOT, 'dist', 'src'), ['.js']) : 0;
  const source = Math.max(newestMtime(path.join(ROOT, 'src'), ['.ts']), newestMtime(path.join(ROOT, 'migrations'), ['.ts']));
  if (!opts.build) {
    if (built === 0) fail('dist/ is missing and --no-build was given: run `npm run build` first');
    log(`build: --no-build, using dist/ as it is${source > built ? ' (older than src/)' : ''}`);
    return 'dist as found (--no-build)';
  }
  if (built >= source) {
    log('build: dist/ is up to date');
    return 'dist up to date';
  }
  log('build: src/ is newer than dist/: npm run build -- --noEmitOnError');
  // --noEmitOnError: a failing build (someone's work in progress) leaves the last good dist/.
  const r = await runToEnd('npm', ['run', 'build', '--', '--noEmitOnError'], { cwd: ROOT });
  if (r.code === 0) return 'built from the working tree';
  const why = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('error')).slice(0, 5).join('\n  ');
  if (built === 0) fail(`npm run build failed and there is no dist/ to fall back on:\n  ${why}`);
  log(`build: FAILED (left dist/ as it was; measuring the last good build):\n  ${why}`);
  return 'last good dist (the build of the working tree failed)';
}

/**
 * A note when the node running the bench is not the project's own (node_modules/node, which npm
 * scripts put first on PATH): everything the bench starts runs on the same node as the bench.
 */
function nodeNote() {
  const bundled = path.join(ROOT, 'node_modules', 'node', 'bin', 'node');
  if (!fs.existsSync(bundled)) return undefined;
  let same;
  try {
    same = fs.realpathSync(bundled) === fs.realpathSync(process.execPath);
  } catch {
    same = false;
  }
  return same ? undefined : `this is ${process.execPath} (${process.version}), not the project's own Node.js (${bundled}): the edge and every Node process of the bench run on it too; \`npm run\` uses the project's`;
}

module.exports = { ensureBuild, nodeNote };
