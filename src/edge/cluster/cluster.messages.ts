/**
 * The IPC messages between the edge's cluster primary and its workers (besides
 * prom-client's own metric requests). Plain JSON over the cluster channel.
 */

/** Worker -> primary, whenever readiness or the applied seq changes. */
export interface WorkerStatusMessage {
  type: 'cdn-edge:status';
  ready: boolean;
  appliedSeq: number;
}

/** Primary -> worker: stop accepting, finish in-flight requests, exit 0. */
export interface DrainMessage {
  type: 'cdn-edge:drain';
}

/**
 * Worker -> primary -> every other worker: cache keys this worker deleted (an unsafe
 * method invalidated them). The disk and index are shared; each worker's memory tier is
 * not, so the others must drop their copies.
 */
export interface ForgetMessage {
  type: 'cdn-edge:forget';
  keys: string[];
}

export function isForget(message: unknown): message is ForgetMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'cdn-edge:forget' && Array.isArray((message as { keys?: unknown }).keys);
}

export const DRAIN: DrainMessage = Object.freeze({ type: 'cdn-edge:drain' });

export function isWorkerStatus(message: unknown): message is WorkerStatusMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'cdn-edge:status';
}

export function isDrain(message: unknown): message is DrainMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'cdn-edge:drain';
}
