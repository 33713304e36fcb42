/**
 * The edge's cluster primary: forks one worker per slot, each running a whole edge
 * (customer feed, memory tier, pipeline) on the shared public port (each worker accepts from
 * sockets of its own, bound with SO_REUSEPORT: see accept.handles.ts), and
 * serves the admin port once for all of them:
 * /readyz is ready when every worker is, /metrics aggregates the workers' registries.
 *
 * Port 0: the first worker binds a free port and the primary learns it from the worker's
 * `listening` message (the HTTPS port too); only then are the other workers forked, asking
 * for those ports explicitly, and so is every restarted one, so the edge never moves. A fixed port is checked free once, here,
 * before any worker binds it (SO_REUSEPORT would otherwise share it with whoever holds it).
 * Without SO_REUSEPORT (development platforms) workers share the primary's one handle, as
 * node:cluster does by default.
 *
 * Restarts: a worker that dies after start-up is forked again after a backoff (100 ms,
 * doubling to 10 s; reset once a worker has lived 10 s). A worker that dies during
 * start-up fails the whole edge: a bad port or file would only crash-loop.
 */
import cluster, { type Worker } from 'node:cluster';
import { Server as NetServer, type AddressInfo } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../../obs/logger.factory';
import { createAdminApp } from '../admin.routes';
import type { EdgeConfig } from '../config';
import { EDGE_METRICS, EdgePrimaryMetrics, type CustomerSeriesSnapshot } from '../edge.metrics';
import { maxStored, renderCustomerFamilies, sumRows } from '../stats/customer.series';
import { assertPortFree, reusePortAvailable } from '../accept.handles';
import { FillCoordinator } from './fill-coordinator';
import { RateCoordinator } from './rate-coordinator';
import { isWorkerListening, DRAIN, isForget, isSeries, isWorkerStatus, type SeriesRequestMessage } from './cluster.messages';

export const RESTART_BACKOFF_MIN_MS = 100;
export const RESTART_BACKOFF_MAX_MS = 10_000;
/** A worker that lived this long is healthy again: its next crash restarts at the minimum backoff. */
export const STABLE_AFTER_MS = 10_000;
/** How long a scrape waits for a worker's per-customer rows (prom-client waits as long for the rest). */
const SERIES_TIMEOUT_MS = 5_000;

export interface EdgePrimaryOptions {
  logger: Logger;
  /** Time workers get to drain on stop before they are killed. */
  graceMs?: number;
}

export interface EdgePrimaryHandle {
  url: string;
  adminUrl: string;
  port: number;
  adminPort: number;
  /** The HTTPS port; undefined with CDN_EDGE_TLS_PORT=off. */
  tlsUrl: string | undefined;
  tlsPort: number | undefined;
  workers: number;
  /** Drains every worker; resolves 0 when all exited cleanly, 1 when one had to be killed or failed. */
  stop(): Promise<number>;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  startedAt: number;
  failures: number;
  listening: boolean;
  ready: boolean;
  appliedSeq: number;
  restart: NodeJS.Timeout | undefined;
}

export async function startEdgePrimary(config: Readonly<EdgeConfig>, options: EdgePrimaryOptions): Promise<EdgePrimaryHandle> {
  const primary = new EdgePrimary(config, options);
  return primary.start();
}

class EdgePrimary {
  readonly #config: Readonly<EdgeConfig>;
  readonly #logger: Logger;
  readonly #graceMs: number;
  readonly #slots: Slot[];
  readonly #metrics: EdgePrimaryMetrics;
  readonly #aggregator = new AggregatorRegistry();
  /** Which worker fetches which key: one origin request per key for the whole machine. */
  readonly #fills = new FillCoordinator();
  /** Client rate budgets (delivery rules' rateLimit): one per key for every worker. */
  readonly #rates = new RateCoordinator();
  #admin: { close(): Promise<unknown> } | undefined;
  #port: number | undefined;
  /** What workers are told to listen on (CDN_EDGE_PORT). */
  #listenPort: number;
  #tlsPort: number | undefined;
  /** What workers are told to listen on for HTTPS (CDN_EDGE_TLS_PORT); undefined: off. */
  #tlsListenPort: number | undefined;
  /** Workers bind sockets of their own (SO_REUSEPORT), rather than share the primary's. */
  #ownSockets = false;
  #started = false;
  #stopping: Promise<number> | undefined;
  #startupFailed: ((err: Error) => void) | undefined;
  #allListening: (() => void) | undefined;
  #allExited: (() => void) | undefined;
  #drainFailed = false;
  #seriesId = 0;
  /** Scrapes waiting for workers' rows, by request id (each settles on its answer or its timeout). */
  readonly #seriesWaits = new Map<number, { worker: Worker; settle(snapshot: CustomerSeriesSnapshot): void }>();

  constructor(config: Readonly<EdgeConfig>, options: EdgePrimaryOptions) {
    this.#config = config;
    this.#logger = options.logger;
    this.#graceMs = options.graceMs ?? 15_000;
    this.#listenPort = config.port;
    this.#tlsListenPort = config.tlsPort;
    this.#slots = Array.from({ length: config.workers }, (_, index) => ({
      index,
      worker: undefined,
      startedAt: 0,
      failures: 0,
      listening: false,
      ready: false,
      appliedSeq: 0,
      restart: undefined,
    }));
    this.#metrics = new EdgePrimaryMetrics({ workers: () => this.#slots.filter((s) => s.worker !== undefined).length });
  }

  async start(): Promise<EdgePrimaryHandle> {
    const config = this.#config;
    const admin = createAdminApp({
      metrics: { registry: { contentType: this.#aggregator.contentType, metrics: () => this.#collectMetrics() } },
      isReady: () => this.#isReady(),
      edgeId: config.edgeId,
      appliedSeq: () => Math.min(...this.#slots.map((s) => s.appliedSeq)),
      details: () => ({ workers: this.#slots.length, workersReady: this.#slots.filter((s) => s.worker !== undefined && s.listening && s.ready).length }),
    });
    await admin.listen({ host: config.adminHost, port: config.adminPort });
    this.#admin = admin;

    // Workers accept on sockets of their own (edge/accept.handles.ts), so the kernel balances
    // connections between them. Without SO_REUSEPORT they share one handle, and each accepts
    // from it itself: with round robin the primary accepts and hands a worker one acknowledged
    // connection per worker turn, so a burst of 1,000 waited seconds.
    this.#ownSockets = reusePortAvailable() && config.acceptHandles > 1;
    if (!this.#ownSockets) {
      cluster.schedulingPolicy = cluster.SCHED_NONE;
      // Shared handles are keyed by address and port: both ports asking for 0 on one address
      // would get the same handle. The HTTPS port is then chosen here, once.
      if (config.tlsPort === 0 && config.port === 0 && config.tlsHost === config.host) this.#tlsListenPort = await freePort(config.tlsHost);
    } else {
      if (config.port !== 0) await assertPortFree(config.host, config.port);
      if (config.tlsPort !== undefined && config.tlsPort !== 0) await assertPortFree(config.tlsHost, config.tlsPort);
    }
    cluster.on('message', (worker, message) => this.#onMessage(worker, message));
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
    try {
      await new Promise<void>((resolve, reject) => {
        this.#allListening = resolve;
        this.#startupFailed = reject;
        // With sockets of their own, workers asking for port 0 would each get another port.
        for (const slot of this.#ownSockets && this.#listenPort === 0 ? this.#slots.slice(0, 1) : this.#slots) this.#fork(slot);
      });
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#started = true;
    const port = this.#port!;
    const adminPort = (admin.server.address() as AddressInfo).port;
    const tlsPort = this.#tlsPort;
    return {
      url: `http://${urlHost(config.host)}:${port}`,
      adminUrl: `http://${urlHost(config.adminHost)}:${adminPort}`,
      port,
      adminPort,
      tlsUrl: tlsPort === undefined ? undefined : `https://${urlHost(config.tlsHost)}:${tlsPort}`,
      tlsPort,
      workers: this.#slots.length,
      stop: () => this.stop(),
    };
  }

  stop(): Promise<number> {
    this.#stopping ??= this.#drain();
    return this.#stopping;
  }

  async #drain(): Promise<number> {
    for (const slot of this.#slots) {
      clearTimeout(slot.restart);
      slot.restart = undefined;
    }
    const live = this.#slots.filter((s) => s.worker !== undefined);
    const exited = new Promise<void>((resolve) => {
      this.#allExited = resolve;
      if (live.length === 0) resolve();
    });
    for (const slot of live) {
      try {
        slot.worker!.send(DRAIN);
      } catch {
        // its channel is already closed: it is exiting by itself
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.#graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      for (const slot of this.#slots) {
        if (slot.worker === undefined) continue;
        this.#logger.error({ worker: slot.worker.id, pid: slot.worker.process.pid, graceMs: this.#graceMs }, 'edge worker did not drain in time; killing it');
        slot.worker.process.kill('SIGKILL');
      }
      await exited;
    }
    await this.#admin?.close().catch(() => {});
    return timedOut || this.#drainFailed ? 1 : 0;
  }

  #fork(slot: Slot): void {
    // A worker sharing the primary's handle asks for port 0 to join it while it exists.
    const learned = this.#ownSockets || !this.#slots.some((s) => s.listening);
    if (this.#listenPort === 0 && this.#port !== undefined && learned) this.#listenPort = this.#port;
    if (this.#tlsListenPort === 0 && this.#tlsPort !== undefined && learned) this.#tlsListenPort = this.#tlsPort;
    const env: Record<string, string> = { CDN_EDGE_ID: this.#config.edgeId, CDN_EDGE_PORT: String(this.#listenPort) };
    if (this.#tlsListenPort !== undefined) env.CDN_EDGE_TLS_PORT = String(this.#tlsListenPort);
    const worker = cluster.fork(env);
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.listening = false;
    slot.ready = false;
    slot.appliedSeq = 0;
    this.#logger.info({ worker: worker.id, pid: worker.process.pid, slot: slot.index }, 'edge worker started');
  }

  #slotOf(worker: Worker): Slot | undefined {
    return this.#slots.find((s) => s.worker === worker);
  }

  #onListening(worker: Worker, port: number, tlsPort: number | undefined): void {
    const slot = this.#slotOf(worker);
    if (slot === undefined || slot.listening) return;
    this.#port ??= port;
    this.#tlsPort ??= tlsPort;
    slot.listening = true;
    this.#logger.info({ worker: worker.id, pid: worker.process.pid, port, tlsPort }, 'edge worker listening');
    if (!this.#started) {
      for (const other of this.#slots) if (other.worker === undefined) this.#fork(other);
      if (this.#slots.every((s) => s.listening)) this.#allListening?.();
    }
  }

  #onMessage(worker: Worker, message: unknown): void {
    if (this.#fills.onMessage(worker, message)) return;
    if (this.#rates.onMessage(worker, message)) return;
    if (isWorkerListening(message)) {
      this.#onListening(worker, message.port, message.tlsPort);
      return;
    }
    if (isSeries(message)) {
      this.#seriesWaits.get(message.id)?.settle(message);
      return;
    }
    if (isForget(message)) {
      for (const slot of this.#slots) {
        if (slot.worker !== undefined && slot.worker !== worker && slot.worker.isConnected()) slot.worker.send(message);
      }
      return;
    }
    if (!isWorkerStatus(message)) return;
    const slot = this.#slotOf(worker);
    if (slot === undefined) return;
    slot.ready = message.ready;
    slot.appliedSeq = message.appliedSeq;
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.#slotOf(worker);
    if (slot === undefined) return;
    slot.worker = undefined;
    slot.listening = false;
    slot.ready = false;
    this.#fills.workerGone(worker);
    // A scrape waiting for its rows goes on without them (its counts are gone with it).
    for (const wait of [...this.#seriesWaits.values()]) if (wait.worker === worker) wait.settle({ rows: [], stored: {} });
    const pid = worker.process.pid;
    if (this.#stopping !== undefined) {
      // A worker signalled before it could set up its handlers has nothing to drain.
      const clean = code === 0 || signal === 'SIGTERM' || signal === 'SIGINT';
      if (!clean) this.#drainFailed = true;
      this.#logger[clean ? 'info' : 'error']({ worker: worker.id, pid, code, signal }, 'edge worker stopped');
      if (this.#slots.every((s) => s.worker === undefined)) this.#allExited?.();
      return;
    }
    if (!this.#started) {
      this.#logger.error({ worker: worker.id, pid, code, signal }, 'edge worker exited during start-up');
      this.#startupFailed?.(new Error(`an edge worker exited during start-up (code ${code}, signal ${signal}); see its log above`));
      return;
    }
    if (Date.now() - slot.startedAt >= STABLE_AFTER_MS) slot.failures = 0;
    const delay = Math.min(RESTART_BACKOFF_MAX_MS, RESTART_BACKOFF_MIN_MS * 2 ** slot.failures);
    slot.failures += 1;
    this.#logger.warn({ worker: worker.id, pid, code, signal, restartInMs: delay, failures: slot.failures }, 'edge worker exited unexpectedly; restarting it');
    slot.restart = setTimeout(() => {
      slot.restart = undefined;
      if (this.#stopping !== undefined) return;
      this.#metrics.workerRestarts.inc();
      this.#fork(slot);
    }, delay);
  }

  #isReady(): boolean {
    return this.#started && this.#stopping === undefined && this.#slots.every((s) => s.worker !== undefined && s.listening && s.ready);
  }

  async #collectMetrics(): Promise<string> {
    // Workers' registries summed (gauges by their own aggregator), their per-customer rows
    // summed (stored figures: the max, one shared index), then the primary's own.
    const [workers, series] = await Promise.all([this.#aggregator.clusterMetrics(), this.#workerSeries()]);
    const families = await renderCustomerFamilies(
      EDGE_METRICS,
      sumRows(series.map((s) => s.rows)),
      maxStored(series.map((s) => s.stored)),
    );
    const own = await this.#metrics.registry.metrics();
    return `${workers.trimEnd()}\n\n${families}\n${own}`;
  }

  /** Every live worker's per-customer rows; rejects when one does not answer in time. */
  #workerSeries(): Promise<CustomerSeriesSnapshot[]> {
    const live = this.#slots.map((s) => s.worker).filter((w): w is Worker => w !== undefined && w.isConnected());
    return Promise.all(
      live.map(
        (worker) =>
          new Promise<CustomerSeriesSnapshot>((resolve, reject) => {
            const id = (this.#seriesId += 1);
            const timer = setTimeout(() => {
              this.#seriesWaits.delete(id);
              reject(new Error(`edge worker ${worker.id} sent no per-customer metrics within ${SERIES_TIMEOUT_MS} ms`));
            }, SERIES_TIMEOUT_MS);
            this.#seriesWaits.set(id, {
              worker,
              settle: (snapshot) => {
                clearTimeout(timer);
                this.#seriesWaits.delete(id);
                resolve(snapshot);
              },
            });
            const request: SeriesRequestMessage = { type: 'cdn-edge:series-request', id };
            try {
              worker.send(request);
            } catch {
              // Exited meanwhile: it has nothing to count any more.
              this.#seriesWaits.get(id)?.settle({ rows: [], stored: {} });
            }
          }),
      ),
    );
  }
}

/** A port free on `host` now (the OS's choice), for workers that must all be told the same one. */
async function freePort(host: string): Promise<number> {
  const probe = new NetServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host, port: 0, exclusive: true }, () => resolve());
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
