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

module.exports = { pinned, startReportingPort };
