/**
 * A demo origin: a real HTTP server on loopback that answers every GET/HEAD with JSON
 * naming its customer, the path and a timestamp, cacheable for an hour. `cdn start`
 * runs one per demo customer; tests use it as a real origin and read what it received.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OriginRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface DemoOrigin {
  url: string;
  port: number;
  /** Every request received, oldest first. */
  readonly requests: OriginRequest[];
  close(): Promise<void>;
}

export interface DemoOriginOptions {
  customerId: string;
  host?: string;
  port?: number;
  /** When set, requests without these credentials get 401. */
  basicAuth?: { username: string; password: string };
  cacheControl?: string;
}

export async function startDemoOrigin(options: DemoOriginOptions): Promise<DemoOrigin> {
  const requests: OriginRequest[] = [];
  const expectedAuth = options.basicAuth
    ? `Basic ${Buffer.from(`${options.basicAuth.username}:${options.basicAuth.password}`).toString('base64')}`
    : undefined;
  let served = 0;
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    if (expectedAuth !== undefined && req.headers.authorization !== expectedAuth) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="demo origin"' });
      res.end(JSON.stringify({ error: 'unauthorized' }));
      return;
    }
    served += 1;
    const body = JSON.stringify({
      customer: options.customerId,
      path: req.url,
      servedAt: new Date().toISOString(),
      n: served,
    });
    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': options.cacheControl ?? 'public, max-age=3600',
      'content-length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
