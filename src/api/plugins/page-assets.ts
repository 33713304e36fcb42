/**
 * What the api's browser pages (the dashboard at /dashboard, the customer portal at /portal)
 * share: scripts served under content-hashed URLs, each compressed once (compressed.page.ts),
 * graphql-ws' own browser build, the pages' Content-Security-Policy, and the routes that serve
 * a page and its assets.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { CompressedPage } from './compressed.page';

export interface HashedAsset {
  page: CompressedPage;
  /** `<prefix>/<name>?v=<hash of the content>`: cached for good, and an upgrade still loads the new one. */
  url: string;
}

/** A script under a URL carrying its content's hash. */
export function hashedScript(prefix: string, name: string, content: string | Buffer): HashedAsset {
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 16);
  return { page: new CompressedPage('text/javascript; charset=utf-8', () => content), url: `${prefix}/${name}?v=${hash}` };
}

/**
 * graphql-ws ships a UMD build (global `graphqlWs`) that runs without a bundler; serving the
 * package's own file keeps the protocol client out of our code. Its `exports` map hides the
 * folder, so it is found beside the resolved entry point.
 */
export function graphqlWsBrowserBuild(): Buffer {
  const entry = require.resolve('graphql-ws');
  return readFileSync(path.join(path.dirname(entry), '..', 'umd', 'graphql-ws.min.js'));
}

/** Scripts from this origin only, the page's own style by its hash, GraphQL over HTTP and WebSocket to this origin. */
export function pageContentSecurityPolicy(style: string): string {
  const styleHash = createHash('sha256').update(style).digest('base64');
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

/** Serves the page at `pathname` (never cached: it names the assets' current hashes) and each asset. */
export function registerPage(app: FastifyInstance, pathname: string, html: string, style: string, assets: Iterable<HashedAsset>): void {
  const page = new CompressedPage('text/html; charset=utf-8', () => html);
  const csp = pageContentSecurityPolicy(style);
  app.get(pathname, async (request, reply) =>
    page.send(request, reply.header('cache-control', 'no-cache').header('content-security-policy', csp).header('referrer-policy', 'no-referrer')),
  );
  for (const asset of assets) {
    const [assetPath, query] = asset.url.split('?') as [string, string];
    app.get(assetPath, async (request, reply) => {
      // Only the URL with this content's hash may be cached for good: a page from an older version asking for its hash must not keep this body under it.
      const current = request.url.endsWith(`?${query}`);
      return asset.page.send(request, reply.header('cache-control', current ? 'public, max-age=31536000, immutable' : 'no-cache'));
    });
  }
}
