/**
 * The customer portal at GET /portal (issue 16): one HTML document, graphql-ws' own browser
 * build, the dashboard's charts script, and plain ES modules (a core, one module per page, the app), all served from the
 * package: no outside request, no build step. Like the dashboard, the page holds no data and no
 * token; it asks for the token and does everything through the public GraphQL API with it
 * (HTTP for queries and mutations, graphql-ws for subscriptions), so these routes need no auth
 * and the portal has no endpoint of its own.
 *
 * Browser modules import each other by the TypeScript file that holds the imported module's
 * source (`from './portal-core.module'`, so the project's import graph sees a real edge); the
 * page rewrites each such name to the module's content-hashed URL before hashing the importer,
 * so every URL can be cached for good and one changed module changes the URLs of everything
 * that imports it (and so the page's).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { CompressedPage } from './compressed.page';
import { DASHBOARD_CHARTS_SCRIPT } from './dashboard/dashboard-charts.script';
import { portalHtml, PORTAL_STYLE } from './portal/portal.html';
import { PORTAL_CORE_MODULE } from './portal/portal-core.module';
import { PORTAL_APP_MODULE } from './portal/portal-app.module';
import { PORTAL_PAGE_MODULES } from './portal/pages';

export const PORTAL_PATH = '/portal';

interface Asset {
  page: CompressedPage;
  /** `/portal/<name>?v=<hash of the content>`. */
  url: string;
}

/** graphql-ws' UMD build (global `graphqlWs`), found beside its entry point as dashboard.page.ts does. */
function graphqlWsBrowserBuild(): Buffer {
  const entry = require.resolve('graphql-ws');
  return readFileSync(path.join(path.dirname(entry), '..', 'umd', 'graphql-ws.min.js'));
}

function asset(name: string, content: string | Buffer): Asset {
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 16);
  return { page: new CompressedPage('text/javascript; charset=utf-8', () => content), url: `${PORTAL_PATH}/${name}?v=${hash}` };
}

/**
 * Each module (served as `name`, imported as `'./<file>.module'`, the file holding its source)
 * with every import of an earlier module replaced by that module's hashed URL, in the order
 * given (a module may import only modules before it: the core first, the app last).
 */
export function linkModules(modules: ReadonlyArray<{ name: string; file: string; source: string }>): Map<string, Asset> {
  const linked = new Map<string, Asset>();
  const specs: Array<[string, string]> = [];
  for (const m of modules) {
    let source = m.source;
    for (const [spec, url] of specs) source = source.split(`'${spec}'`).join(`'${url}'`);
    const a = asset(m.name, source);
    linked.set(m.name, a);
    specs.push([`./${m.file}`, a.url]);
  }
  return linked;
}

function contentSecurityPolicy(): string {
  const styleHash = createHash('sha256').update(PORTAL_STYLE).digest('base64');
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

export function registerPortalPage(app: FastifyInstance, options: { graphqlPath: string }): void {
  // Linked, hashed and wrapped once per api; each compressed when first asked for.
  const modules = linkModules([
    { name: 'portal-core.js', file: 'portal-core.module', source: PORTAL_CORE_MODULE },
    ...PORTAL_PAGE_MODULES.map((p) => ({ name: `${p.name}.js`, file: `${p.name}.module`, source: p.source })),
    { name: 'portal-app.js', file: 'portal-app.module', source: PORTAL_APP_MODULE },
  ]);
  const client = asset('graphql-ws.js', graphqlWsBrowserBuild());
  // The dashboard's canvas line charts (global `EP`), shared rather than copied: the overview draws the same series.
  const charts = asset('charts.js', DASHBOARD_CHARTS_SCRIPT);
  const pageUrls = PORTAL_PAGE_MODULES.map((p) => modules.get(`${p.name}.js`)!.url);
  const html = portalHtml({ graphqlPath: options.graphqlPath, classicScripts: [client.url, charts.url], pageModules: pageUrls, appModule: modules.get('portal-app.js')!.url });
  const page = new CompressedPage('text/html; charset=utf-8', () => html);
  const csp = contentSecurityPolicy();

  app.get(PORTAL_PATH, async (request, reply) =>
    page.send(request, reply.header('cache-control', 'no-cache').header('content-security-policy', csp).header('referrer-policy', 'no-referrer')),
  );
  for (const a of [client, charts, ...modules.values()]) {
    const [pathname, query] = a.url.split('?') as [string, string];
    app.get(pathname, async (request, reply) => {
      // Only the URL with this content's hash may be cached for good (an older page asking for its own hash gets no-cache).
      const current = request.url.endsWith(`?${query}`);
      return a.page.send(request, reply.header('cache-control', current ? 'public, max-age=31536000, immutable' : 'no-cache'));
    });
  }
}
