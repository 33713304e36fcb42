/**
 * Helpers for the RFC 9111 edge tests: one edge with one customer (cdn.a.test) in front of
 * a scripted origin that counts what it receives and whose Date follows the test's clock
 * (so moving the clock never makes a new response look old).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { QueryStringPolicy } from '../../src/core/customer.types';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { customer, edgeConfig, http, ManualClock, silentLogger, startScriptedOrigin, tempDir, type HttpOptions, type HttpResult, type ScriptedOrigin } from './edge.harness';

export const HOST = 'cdn.a.test';

export interface RfcEnv {
  edge: EdgeHandle;
  origin: ScriptedOrigin;
  clock: ManualClock;
  /** A request to the edge for cdn.a.test. */
  get(path: string, options?: HttpOptions): Promise<HttpResult>;
  /** Origin requests for a path (query included). */
  hits(path: string): number;
  cleanup(): Promise<void>;
}

export type OriginHandler = (req: IncomingMessage, res: ServerResponse, body: string, clock: ManualClock) => void;

export async function rfcEdge(
  handler: OriginHandler,
  options: { cacheTtl?: number; basicAuth?: { username: string; password: string }; env?: Record<string, string>; queryString?: QueryStringPolicy; staleIfErrorSeconds?: number | null } = {},
): Promise<RfcEnv> {
  const clock = new ManualClock();
  const origin = await startScriptedOrigin((req, res, body) => {
    res.sendDate = false;
    res.setHeader('date', new Date(clock.now()).toUTCString());
    handler(req, res, body, clock);
  });
  const tmp = await tempDir();
  const c = { ...customer('customer-a', origin.url, [HOST], { cacheTtl: options.cacheTtl ?? 3600, basicAuth: options.basicAuth }), ...(options.queryString ? { queryString: options.queryString } : {}), ...(options.staleIfErrorSeconds !== undefined ? { staleIfErrorSeconds: options.staleIfErrorSeconds } : {}) };
  const edge = await startEdge(edgeConfig(tmp.dir, options.env), { customers: createStaticCustomerFeed([c]), logger: silentLogger, clock });
  return {
    edge,
    origin,
    clock,
    get: (path, o = {}) => http(edge.url, path, { host: HOST, ...o }),
    hits: (path) => origin.requests.filter((r) => r.url === path).length,
    cleanup: async () => {
      await edge.close();
      await origin.close();
      await tmp.remove();
    },
  };
}

export const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
