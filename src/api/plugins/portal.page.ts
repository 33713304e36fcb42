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
import type { FastifyInstance } from 'fastify';
import { graphqlWsBrowserBuild, hashedScript, registerPage, type HashedAsset } from './page-assets';
import { DASHBOARD_CHARTS_SCRIPT } from './dashboard/dashboard-charts.script';
import { portalHtml, PORTAL_STYLE } from './portal/portal.html';
import { PORTAL_CORE_MODULE } from './portal/portal-core.module';
import { PORTAL_APP_MODULE } from './portal/portal-app.module';
import { PORTAL_PAGE_MODULES } from './portal/pages';

export const PORTAL_PATH = '/portal';

/**
 * Each module (served as `name`, imported as `'./<file>.module'`, the file holding its source)
 * with every import of an earlier module replaced by that module's hashed URL, in the order
 * given (a module may import only modules before it: the core first, the app last).
 */
export function linkModules(modules: ReadonlyArray<{ name: string; file: string; source: string }>): Map<string, HashedAsset> {
  const linked = new Map<string, HashedAsset>();
  const specs: Array<[string, string]> = [];
  for (const m of modules) {
    let source = m.source;
    for (const [spec, url] of specs) source = source.split(`'${spec}'`).join(`'${url}'`);
    const a = hashedScript(PORTAL_PATH, m.name, source);
    linked.set(m.name, a);
    specs.push([`./${m.file}`, a.url]);
  }
  return linked;
}

export function registerPortalPage(app: FastifyInstance, options: { graphqlPath: string }): void {
  // Linked, hashed and wrapped once per api; each compressed when first asked for.
  const modules = linkModules([
    { name: 'portal-core.js', file: 'portal-core.module', source: PORTAL_CORE_MODULE },
    ...PORTAL_PAGE_MODULES.map((p) => ({ name: `${p.name}.js`, file: `${p.name}.module`, source: p.source })),
    { name: 'portal-app.js', file: 'portal-app.module', source: PORTAL_APP_MODULE },
  ]);
  const client = hashedScript(PORTAL_PATH, 'graphql-ws.js', graphqlWsBrowserBuild());
  // The dashboard's canvas line charts (global `EP`), shared rather than copied: the overview draws the same series.
  const charts = hashedScript(PORTAL_PATH, 'charts.js', DASHBOARD_CHARTS_SCRIPT);
  const pageUrls = PORTAL_PAGE_MODULES.map((p) => modules.get(`${p.name}.js`)!.url);
  const html = portalHtml({ graphqlPath: options.graphqlPath, classicScripts: [client.url, charts.url], pageModules: pageUrls, appModule: modules.get('portal-app.js')!.url });
  registerPage(app, PORTAL_PATH, html, PORTAL_STYLE, [client, charts, ...modules.values()]);
}
