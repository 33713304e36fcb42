#!/usr/bin/env node
// How the bench scripts start the edge: what bin/cdn.js does on a recent enough Node.js (run
// the compiled build's `main`), without its step onto the project's own Node.js when the one
// running is older. The bench measures the edge on the node that runs the bench — the same as
// the Node floor, the origin and the clients — so that a run under Node 20 and one under Node 24
// compare runtimes, and one process tree is measured. Cluster workers run this file too
// (node:cluster forks process.argv[1]).
//
// Usage: node bench/edge.js edge --config customers.json   (after `npm run build`)
'use strict';
require('../dist/src/bin/cdn.js').main(process.argv.slice(2));
