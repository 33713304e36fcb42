/**
 * The admin port: health, readiness and metrics on their own Fastify instance, so no
 * customer domain can ever reach them (the public port has no such routes at all).
 * Served by the single-process edge from its own state, or by the cluster primary from
 * its workers' (readiness of all of them, metrics aggregated).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { cdnError, httpErrorBody } from '../core/errors';

/** What /metrics serves: a prom-client Registry, or the primary's aggregation. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface AdminOptions {
  metrics: { registry: MetricsSource };
  isReady: () => boolean;
  edgeId: string;
  appliedSeq: () => number;
  /** Extra fields for /readyz (the primary: its workers). */
  details?: () => Record<string, unknown>;
}

export function createAdminApp(options: AdminOptions): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ready = options.isReady();
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'starting', edgeId: options.edgeId, appliedSeq: options.appliedSeq(), ...options.details?.() };
  });
  app.get('/metrics', async (_req, reply) => {
    const source = options.metrics.registry;
    try {
      const text = await source.metrics();
      reply.header('content-type', source.contentType);
      return text;
    } catch (err) {
      reply.code(503).header('cache-control', 'no-store');
      return httpErrorBody(cdnError('CDN_ERR_EDGE_METRICS_UNAVAILABLE', (err instanceof Error ? err.message : String(err)).replace(/\.+$/, '')));
    }
  });
  return app;
}
