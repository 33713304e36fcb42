/**
 * More than one accept per event-loop turn.
 *
 * libuv (Node 20, and still Node 24, measured: docs/BENCHMARKS.md "Accepting connections")
 * accepts one connection per listening handle per event-loop turn (libuv/libuv#3696). A busy
 * edge's turn is long — every connection with a request ready is answered in it — so a burst of
 * new connections drains at one per turn: with 1,000 connections opened at once, the last
 * ones waited seconds for their first byte, and the accept queue, not the cache, set the tail.
 *
 * So the edge listens on CDN_EDGE_ACCEPT_HANDLES sockets bound to the same address with
 * SO_REUSEPORT (Node 22.12+ `reusePort`): the kernel spreads new connections over them by
 * hash, each has its own accept queue and accepts on its own, and one turn admits up to one
 * connection per socket. Cluster workers bind their own sockets the same way (`exclusive`),
 * so the kernel also balances connections between workers. Their connections reach the HTTP
 * server through its 'connection' event, the documented way to hand it a socket.
 *
 * SO_REUSEPORT lets a second process bind a port the edge holds, silently sharing its
 * traffic; so before binding a fixed port the edge (or the cluster primary, once) binds it
 * plainly and lets go: a port in use fails as it always did (EADDRINUSE). Without
 * SO_REUSEPORT (macOS, Windows: development only), the edge listens on one socket.
 *
 * (Node 20 had no reusePort; the edge then passed its listening handle through a helper
 * process to get more descriptors of one socket. Measured side by side on Node 24, reusePort
 * keeps the same tail latency without the helper, so the helper is gone.)
 */
import { Server as NetServer, type Socket } from 'node:net';
import type { Logger } from '../obs/logger.factory';

/** A public port (plain HTTP, or TLS: edge/tls) as startEdge runs it. */
export interface PublicListener {
  server: NetServer;
  listen(host: string, port: number): Promise<void>;
  /** Stops accepting, lets requests in flight finish, closes idle connections. */
  close(): Promise<void>;
}

export interface AcceptHandles {
  /** Listening sockets in all: the server's own plus the copies. */
  readonly handles: number;
  /** Stops accepting on the copies (the server's own closes with the server). */
  close(): Promise<void>;
}

export interface ListenOptions {
  host: string;
  port: number;
  backlog: number;
  /** Sockets wanted (CDN_EDGE_ACCEPT_HANDLES). */
  handles: number;
  /** A cluster worker's own sockets, not the primary's shared handle. */
  exclusive: boolean;
  /** Check first that a fixed port is free (not in a cluster worker: its siblings hold it). */
  probe: boolean;
  /**
   * What the server does to the connections its own socket accepts, done to the copies' too.
   * Default node:http's (no Nagle, half-open allowed); a TLS server's differ.
   */
  adopt?: { noDelay: boolean; allowHalfOpen: boolean };
}

/** Where SO_REUSEPORT gives each listening socket its own accept queue (Node 22.12+ `reusePort`). */
export function reusePortAvailable(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return (major > 22 || (major === 22 && minor >= 12)) && (process.platform === 'linux' || process.platform === 'freebsd');
}

/** Listens `server` on `options.handles` sockets of one address; resolves once all listen. */
export async function listenOnHandles(server: NetServer, options: ListenOptions, logger: Logger): Promise<AcceptHandles> {
  const reuse = reusePortAvailable() && options.handles > 1;
  if (reuse && options.probe && options.port !== 0) await assertPortFree(options.host, options.port);
  await listen(server, { host: options.host, port: options.port, backlog: options.backlog, exclusive: options.exclusive && reuse, reusePort: reuse });
  if (!reuse) {
    if (options.handles > 1) logger.info({ platform: process.platform }, 'no SO_REUSEPORT here: accepting on one listening socket');
    return { handles: 1, close: async () => {} };
  }
  const port = (server.address() as { port: number }).port;
  const { noDelay, allowHalfOpen } = options.adopt ?? { noDelay: true, allowHalfOpen: true };
  const adopt = (socket: Socket): void => {
    // What the server does for the sockets its own handle accepts.
    socket.setNoDelay(noDelay);
    socket.allowHalfOpen = allowHalfOpen;
    server.emit('connection', socket);
  };
  const copies: NetServer[] = [];
  for (let i = 1; i < options.handles; i += 1) {
    const copy = new NetServer(adopt);
    try {
      await listen(copy, { host: options.host, port, backlog: options.backlog, exclusive: options.exclusive, reusePort: true });
    } catch (err) {
      logger.warn({ handles: copies.length + 1, wanted: options.handles, err: (err as Error).message }, 'accepting on fewer listening sockets than CDN_EDGE_ACCEPT_HANDLES asks');
      break;
    }
    // An accept error (EMFILE, say) on a copy is what it is on the server's own socket: logged, not fatal.
    copy.on('error', (err) => logger.warn({ err: err.message }, 'cannot accept a connection'));
    copies.push(copy);
  }
  return {
    handles: 1 + copies.length,
    close: () => Promise.all(copies.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => {}),
  };
}

/** Fails with EADDRINUSE when something listens on host:port, with or without SO_REUSEPORT. */
export async function assertPortFree(host: string, port: number): Promise<void> {
  const probe = new NetServer();
  await listen(probe, { host, port, backlog: 1, exclusive: true, reusePort: false });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

function listen(server: NetServer, options: { host: string; port: number; backlog: number; exclusive: boolean; reusePort: boolean }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
