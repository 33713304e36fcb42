/**
 * Process lifecycle shared by the long-running commands: on SIGTERM or SIGINT, close
 * everything in reverse order of start (drain servers first, then the bus and the
 * database), and exit 0; exit 1 if draining takes longer than the grace period.
 *
 * Under `npm start`, npm runs the script with `sh -c` and forwards SIGTERM and SIGINT to that
 * shell. Debian's sh (dash) neither passes them on nor execs its last command: it died of the
 * SIGTERM and left node running on its ports, and npm re-raised the signal on itself. So the
 * script is `exec node bin/cdn.js start`: the shell becomes node, npm's forwarded signal reaches
 * it, it drains and exits 0, and npm exits with that 0 (what the README promises). Any POSIX sh
 * has `exec`.
 */
export type Closer = { name: string; close: () => Promise<void> };

export interface LifecycleOptions {
  graceMs?: number;
  /**
   * Also drain and exit when the parent process is gone. For `cdn start` under `npm start`:
   * npm forwards SIGTERM and SIGINT to its script (which `exec`s node, so they reach us), but
   * when npm itself dies without forwarding (SIGKILL, the OOM killer, a crash) we would run on
   * as an orphan holding the ports and the data directory. Only for a parent that waits for us,
   * like npm: `cdn start &` from a script that then exits must keep running.
   */
  exitWithParent?: boolean;
}

/** How often the parent is checked: an orphan holds the ports at most this long. */
const PARENT_POLL_MS = 500;

export function closeOnSignals(closers: Closer[], log: (msg: string) => void, options: LifecycleOptions = {}): void {
  const graceMs = options.graceMs ?? 15_000;
  let closing = false;
  const shutdown = (why: string): void => {
    if (closing) return;
    closing = true;
    log(`${why}: draining and shutting down`);
    const timer = setTimeout(() => {
      log(`shutdown took longer than ${graceMs} ms; exiting anyway`);
      process.exit(1);
    }, graceMs);
    timer.unref();
    void closeAll(closers, log).then(() => {
      clearTimeout(timer);
      process.exit(0);
    });
  };
  // `on`, not `once`: a signal often arrives twice (Ctrl-C reaches node from the terminal and
  // again forwarded by npm). With no listener left, the second would kill us mid-drain with
  // the default action and a signal exit status instead of 0.
  process.on('SIGTERM', () => shutdown('SIGTERM received'));
  process.on('SIGINT', () => shutdown('SIGINT received'));
  if (options.exitWithParent === true) watchParent((parent) => shutdown(`the parent process (pid ${parent}) is gone`));
}

/**
 * Calls `onGone` once the parent has exited. An orphan is re-parented (to init or a subreaper),
 * so its `process.ppid` changes; the pid's existence is checked too, where ppid is not updated.
 */
function watchParent(onGone: (parent: number) => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    let gone = process.ppid !== parent;
    if (!gone) {
      try {
        process.kill(parent, 0);
      } catch (err) {
        gone = (err as NodeJS.ErrnoException).code === 'ESRCH';
      }
    }
    if (gone) {
      clearInterval(timer);
      onGone(parent);
    }
  }, PARENT_POLL_MS);
  timer.unref();
}

export async function closeAll(closers: Closer[], log: (msg: string) => void): Promise<void> {
  for (const closer of [...closers].reverse()) {
    try {
      await closer.close();
    } catch (err) {
      log(`error while closing ${closer.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
