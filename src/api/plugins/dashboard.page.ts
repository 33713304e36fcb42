/**
 * The live dashboard at GET /dashboard: one HTML document and two scripts, all served from
 * the package (no outside request). The page holds no data and no token; it asks for the
 * token and reads everything through GraphQL (HTTP for queries, graphql-ws for
 * subscriptions), so the routes themselves need no auth, like the IDE.
 */
import type { FastifyInstance } from 'fastify';
import { graphqlWsBrowserBuild, hashedScript, registerPage } from './page-assets';
import { DASHBOARD_CHARTS_SCRIPT } from './dashboard/dashboard-charts.script';
import { dashboardHtml, DASHBOARD_STYLE } from './dashboard/dashboard.html';
import { DASHBOARD_APP_SCRIPT } from './dashboard/dashboard-app.script';

export const DASHBOARD_PATH = '/dashboard';

export function registerDashboardPage(app: FastifyInstance, options: { graphqlPath: string }): void {
  // Built once per api (about 40 KB in all, about 12 KB on the wire in brotli; hashed at start, compressed when first asked for), not per request.
  const appScript = hashedScript(DASHBOARD_PATH, 'dashboard.js', `${DASHBOARD_CHARTS_SCRIPT}\n${DASHBOARD_APP_SCRIPT}`);
  const clientScript = hashedScript(DASHBOARD_PATH, 'graphql-ws.js', graphqlWsBrowserBuild());
  const html = dashboardHtml({ graphqlPath: options.graphqlPath, scripts: [clientScript.url, appScript.url] });
  registerPage(app, DASHBOARD_PATH, html, DASHBOARD_STYLE, [appScript, clientScript]);
}
