/**
 * More than one accept per event-loop turn, on Node 20.
 *
 * Since libuv 1.45 (Node 20), a listening handle accepts one connection per event-loop turn
 * (libuv/libuv#3696; the throughput regression it caused is nodejs/performance#95). A busy
 * edge's turn is long — every connection with a request ready is answered in it — so a
 * burst of new connections drains at one per turn: with 1,000 connections opened at once,
 * the last ones waited seconds for their first byte, and the accept queue, not the cache,
 * set the tail latency. Node 22.12 has `reusePort` for this; Node 20 has not.
 *
 * What does work on Node 20: several handles on the same listening socket. Each open
 * descriptor of it has its own epoll registration, so each accepts one connection per turn.
 * Node has no dup(), but a handle passed to another process over IPC arrives as a new
 * descriptor (SCM_RIGHTS). So a helper process (plain `node -e`, no files, no modules)
 * receives our listening server once and sends it back `copies - 1` times; every copy
 * arrives here as a net.Server already listening, and its connections are handed to the
 * HTTP server through its 'connection' event, the documented way to give it a socket.
 *
 * The helper's own copy listens for as long as the helper lives (a received server starts
 * listening at once): a connection it accepts in that moment is sent here too, so none is
 * lost. Then it closes its copy and exits. If anything fails, the edge keeps serving on the
 * one handle it has and says so in the log: this is a speed-up, never a reason not to start.
 */
import { spawn } from 'node:child_process';
import type { Server as HttpServer } from 'node:http';
import { Server as NetServer, Socket } from 'node:net';
import type { Logger } from '../obs/logger.factory';

/** How long the helper may take to hand the copies back before the edge goes on without them. */
const HELPER_TIMEOUT_MS = 10_000;

/** Messages between this process and the helper. */
const COPY = 'cdn-edge:accept-copy';
const FORWARDED = 'cdn-edge:accept-forwarded';

/**
 * The helper, run by `node -e`. It gets `{ copies }` and the server; sends the server back
 * that many times, one after another (Node queues handle messages until each is
 * acknowledged); forwards any connection its own copy accepted meanwhile; then closes its
 * copy and leaves. It also leaves if the edge goes away first.
 */
const HELPER_SOURCE = `
process.once('message', (m, server) => {
  if (!server || typeof m !== 'object' || m === null || !(m.copies > 0)) return process.exit(2);
  server.on('connection', (socket) => process.send({ type: '${FORWARDED}' }, socket));
  let left = m.copies;
  const next = () => process.send({ type: '${COPY}' }, server, (err) => {
    if (err) return process.exit(1);
    if (--left > 0) return next();
    server.close(() => process.disconnect());
  });
  next();
});
process.on('disconnect', () => process.exit(0));
`;

export interface AcceptFanout {
  /** Listening handles in all: the server's own plus the copies. */
  readonly handles: number;
  /** Stops accepting on the copies; resolves once the connections they accepted have ended. */
  close(): Promise<void>;
}

/**
 * Gives `server` (listening already) `copies - 1` more handles on its socket. The sockets
 * they accept get the options node:http gives its own (no Nagle, half-open allowed).
 * Resolves when the helper is gone; never rejects.
 */
export async function widenAccept(server: HttpServer, copies: number, logger: Logger): Promise<AcceptFanout> {
  if (copies <= 1 || !server.listening) return { handles: 1, close: async () => {} };
  const extra: NetServer[] = [];
  const adopt = (socket: Socket): void => {
    socket.setNoDelay(true);
    socket.allowHalfOpen = true;
    server.emit('connection', socket);
  };
  await new Promise<void>((resolve) => {
    let settled = false;
    const done = (problem?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (problem !== undefined) {
        logger.warn({ handles: 1 + extra.length, wanted: copies }, `accepting on fewer listening handles than CDN_EDGE_ACCEPT_HANDLES asks: ${problem}`);
      }
      resolve();
    };
    const helper = spawn(process.execPath, ['-e', HELPER_SOURCE], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: {} });
    const timer = setTimeout(() => {
      helper.kill('SIGKILL');
      done(`the helper process did not answer within ${HELPER_TIMEOUT_MS} ms`);
    }, HELPER_TIMEOUT_MS);
    timer.unref();
    helper.on('message', (message: unknown, handle: unknown) => {
      const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
      if (type === COPY && handle instanceof NetServer) {
        handle.on('connection', adopt);
        // An accept error (EMFILE, say) on a copy is the same as on the server's own handle: logged, not fatal.
        handle.on('error', (err) => logger.warn({ err: err.message }, 'cannot accept a connection'));
        extra.push(handle);
      } else if (type === FORWARDED && handle instanceof Socket) {
        adopt(handle);
      }
    });
    helper.once('error', (err) => done(`cannot start the helper process (${err.message})`));
    // The channel closes after the last message has been read ('exit' may come before it).
    helper.once('disconnect', () => {
      if (extra.length === copies - 1) done();
      else done(`the helper process ended early (exit code ${helper.exitCode ?? 'not yet known'})`);
    });
    try {
      helper.send({ copies: copies - 1 }, server);
    } catch (err) {
      helper.kill('SIGKILL');
      done(`this server's handle cannot be passed on (${(err as Error).message})`);
    }
  });
  return {
    handles: 1 + extra.length,
    close: () => Promise.all(extra.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => {}),
  };
}
