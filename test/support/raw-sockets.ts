/**
 * Raw TCP connections as a browser or a load balancer holds them, for the drain tests: open
 * one, read everything the server sends until it closes it, wait until a port refuses.
 */
import { connect, type Socket } from 'node:net';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A connection to 127.0.0.1:`port`, once connected. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything the server sends until the connection closes, and the error it ended with, if any. */
export function untilClosed(socket: Socket): Promise<{ data: string; error: string | undefined }> {
  return new Promise((resolve) => {
    let data = '';
    let error: string | undefined;
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.once('close', () => resolve({ data, error }));
  });
}

/** Resolves once a new connection to `port` is refused (a connection accepted and then reset counts as not yet). */
export async function untilRefused(port: number, what = 'the server'): Promise<void> {
  for (let i = 0; i < 500; i += 1) {
    try {
      (await openSocket(port)).destroy();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED') return;
      if (code !== 'ECONNRESET') throw err;
    }
    await sleep(10);
  }
  throw new Error(`${what} kept accepting connections after close() began`);
}
