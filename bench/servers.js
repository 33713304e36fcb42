// What the bench scripts share for starting their servers: pinning a command to cores, and
// starting a helper (the origin, the Node floor) that reports its port as its first line.
'use strict';
const { startProcess } = require('./children');

/** `cmd args` run on `cpus` (taskset), or as they are when `cpus` is null. */
function pinned(cpus, cmd, args) {
  return cpus === null ? [cmd, args] : ['taskset', ['-c', String(cpus), cmd, ...args]];
}

/** Starts a helper that prints `{"port":N[,"tlsPort":M]}` as its first line and exits when its stdin closes. */
async function startReportingPort(name, cmd, args) {
  const cp = startProcess(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const first = await new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`${name} did not start within 10 s`)), 10_000);
    cp.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        try {
          resolve(JSON.parse(buf.slice(0, nl)));
        } catch (err) {
          reject(err);
        }
      }
    });
    cp.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  return { cp, port: first.port, tlsPort: first.tlsPort };
}

/**
 * The environment of an edge a bench script starts: `base` (the caller's environment, CDN_*
 * settings included), then loopback ports, its own data and cache folders, `workers` processes,
 * and private origins allowed (the bench's origin is on 127.0.0.1). `tlsPort`: a port of its own,
 * or 'off'; undefined leaves CDN_EDGE_TLS_PORT as `base` has it.
 */
function edgeEnv(base, { port, adminPort, tlsPort, dataDir, cacheDir, workers = 1 }) {
  return {
    ...base,
    CDN_EDGE_HOST: '127.0.0.1',
    CDN_EDGE_PORT: String(port),
    CDN_EDGE_ADMIN_HOST: '127.0.0.1',
    CDN_EDGE_ADMIN_PORT: String(adminPort),
    ...(tlsPort === undefined ? {} : { CDN_EDGE_TLS_HOST: '127.0.0.1', CDN_EDGE_TLS_PORT: String(tlsPort) }),
    CDN_DATA_DIR: dataDir,
    CDN_CACHE_DIR: cacheDir,
    CDN_EDGE_WORKERS: String(workers),
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
  };
}

module.exports = { pinned, startReportingPort, edgeEnv };
