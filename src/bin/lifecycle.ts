/**
 * Process lifecycle shared by the long-running commands: on SIGTERM or SIGINT, close
 * everything in reverse order of start (drain servers first, then the bus and the
 * database), and exit 0; exit 1 if draining takes longer than the grace period.
 */
export type Closer = { name: string; close: () => Promise<void> };

export function closeOnSignals(closers: Closer[], log: (msg: string) => void, graceMs = 15_000): void {
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    log(`${signal} received: draining and shutting down`);
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
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
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
