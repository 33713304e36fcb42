#!/usr/bin/env node
// `node bench/compression-levels.js`: how small and how fast brotli (by quality) and gzip (by
// level) make the kinds of text a CDN serves, on files every install of this project has
// (node_modules): unminified and minified JavaScript, CSS, JSON, and HTML with inline script
// (the api's GraphiQL page, its first MiB). One thread, node:zlib's synchronous calls, the best
// of 3 runs per file. It is what CDN_EDGE_COMPRESS_BROTLI_QUALITY's default rests on
// (docs/EDGE.md, "Compression"; figures in docs/BENCHMARKS.md, "Compression").
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const ROOT = path.resolve(__dirname, '..');

function corpus() {
  const files = [
    ['JavaScript', 'node_modules/graphql/execution/execute.js'],
    ['JavaScript, minified', 'node_modules/axios/dist/axios.min.js'],
    ['JavaScript, minified', 'node_modules/graphql-ws/umd/graphql-ws.min.js'],
    ['CSS', 'node_modules/playwright-core/lib/vite/htmlReport/report.css'],
    ['JSON', 'package-lock.json'],
  ];
  const out = [];
  for (const [kind, file] of files) {
    const full = path.join(ROOT, file);
    if (fs.existsSync(full)) out.push({ kind, name: file, body: fs.readFileSync(full) });
  }
  try {
    const { renderGraphiQL } = require('@graphql-yoga/render-graphiql');
    const page = Buffer.from(renderGraphiQL({ title: 'x', endpoint: '/graphql' }));
    out.push({ kind: 'HTML with inline script', name: 'GraphiQL page (first MiB)', body: page.subarray(0, 1024 * 1024) });
  } catch {
    // optional
  }
  return out;
}

function time(fn) {
  let best = Infinity;
  let result;
  for (let i = 0; i < 3; i += 1) {
    const t = process.hrtime.bigint();
    result = fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { ms: best, bytes: result.length };
}

const files = corpus();
const total = files.reduce((a, f) => a + f.body.length, 0);
const rows = [];
const measure = (label, fn) => {
  let bytes = 0;
  let ms = 0;
  for (const f of files) {
    const r = time(() => fn(f.body));
    bytes += r.bytes;
    ms += r.ms;
  }
  rows.push({ label, ratio: bytes / total, mbps: total / 1024 / 1024 / (ms / 1000), ms });
};
for (const q of [1, 4, 5, 6, 7, 9, 11]) {
  measure(`brotli ${q}`, (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: q, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length } }));
}
for (const l of [1, 6, 9]) measure(`gzip ${l}`, (b) => zlib.gzipSync(b, { level: l }));

process.stdout.write(`corpus: ${files.length} files, ${(total / 1024).toFixed(0)} KiB (${files.map((f) => `${f.name} ${(f.body.length / 1024).toFixed(0)} KiB`).join('; ')})\n`);
process.stdout.write(`node ${process.version}, zlib ${process.versions.zlib}, brotli ${process.versions.brotli}\n\n`);
process.stdout.write('| coding | size / original | MiB/s (one thread) | ms for the corpus |\n| --- | ---: | ---: | ---: |\n');
for (const r of rows) process.stdout.write(`| ${r.label} | ${(r.ratio * 100).toFixed(1)} % | ${r.mbps.toFixed(1)} | ${r.ms.toFixed(0)} |\n`);
