/**
 * The admin port: health, readiness and metrics on their own Fastify instance, so no
 * customer domain can ever reach them (the public port has no such routes at all).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { EdgeMetrics } from './edge.metrics';

export function createAdminApp(options: { metrics: EdgeMetrics; isReady: () => boolean; edgeId: string; appliedSeq: () => number }): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ready = options.isReady();
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'starting', edgeId: options.edgeId, appliedSeq: options.appliedSeq() };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });
  return app;
}
