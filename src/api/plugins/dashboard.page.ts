/**
 * The live dashboard at GET /dashboard: one HTML document and two scripts, all served from
 * the package (no outside request). The page holds no data and no token; it asks for the
 * token and reads everything through GraphQL (HTTP for queries, graphql-ws for
 * subscriptions), so the routes themselves need no auth, like the IDE.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { CompressedPage } from './compressed.page';
import { DASHBOARD_CHARTS_SCRIPT } from './dashboard/dashboard-charts.script';
import { dashboardHtml, DASHBOARD_STYLE } from './dashboard/dashboard.html';
import { DASHBOARD_APP_SCRIPT } from './dashboard/dashboard-app.script';

export const DASHBOARD_PATH = '/dashboard';

interface Asset {
  /** About 40 KB for all three, about 12 KB on the wire in brotli (compressed.page.ts: once per process). */
  page: CompressedPage;
  /** Content hash in the URL, so the asset can be cached for good and an upgrade still loads the new one. */
  url: string;
}

/**
 * graphql-ws ships a UMD build (global `graphqlWs`) that runs without a bundler; serving the
 * package's own file keeps the protocol client out of our code. Its `exports` map hides the
 * folder, so it is found beside the resolved entry point.
 */
function graphqlWsBrowserBuild(): Buffer {
  const entry = require.resolve('graphql-ws');
  return readFileSync(path.join(path.dirname(entry), '..', 'umd', 'graphql-ws.min.js'));
}

function script(name: string, content: string | Buffer): Asset {
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 16);
  return { page: new CompressedPage('text/javascript; charset=utf-8', () => content), url: `${DASHBOARD_PATH}/${name}?v=${hash}` };
}

function contentSecurityPolicy(): string {
  const styleHash = createHash('sha256').update(DASHBOARD_STYLE).digest('base64');
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'sha256-${styleHash}'`,
    // 'self' covers ws:/wss: to the same host in current browsers; listed for older ones.
    "connect-src 'self' ws: wss:",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function registerDashboardPage(app: FastifyInstance, options: { graphqlPath: string }): void {
  // Built once per api (tens of KB, hashed at start, compressed when first asked for), not per request.
  const appScript = script('dashboard.js', `${DASHBOARD_CHARTS_SCRIPT}\n${DASHBOARD_APP_SCRIPT}`);
  const clientScript = script('graphql-ws.js', graphqlWsBrowserBuild());
  const html = dashboardHtml({ graphqlPath: options.graphqlPath, scripts: [clientScript.url, appScript.url] });
  const page = new CompressedPage('text/html; charset=utf-8', () => html);
  const csp = contentSecurityPolicy();

  app.get(DASHBOARD_PATH, async (request, reply) =>
    page.send(request, reply.header('cache-control', 'no-cache').header('content-security-policy', csp).header('referrer-policy', 'no-referrer')),
  );
  for (const s of [appScript, clientScript]) {
    const [pathname, query] = s.url.split('?') as [string, string];
    app.get(pathname, async (request, reply) => {
      // Only the URL with this content's hash may be cached for good: a page from an older version asking for its hash must not keep this body under it.
      const current = request.url.endsWith(`?${query}`);
      return s.page.send(request, reply.header('cache-control', current ? 'public, max-age=31536000, immutable' : 'no-cache'));
    });
  }
}
