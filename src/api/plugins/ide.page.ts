/**
 * The GraphQL IDE page served at GET /graphql to browsers: GraphiQL from
 * @graphql-yoga/render-graphiql, inlined, so it makes no outside request. It is served
 * without auth, so the header editor holds a placeholder, never a real token. With
 * CDN_API_IDE=false browsers get a 404 saying so (`ideOffText`).
 */
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { cdnError } from '../../core/errors';

export const IDE_TITLE = 'Edgeplane GraphQL';
export const IDE_TOKEN_PLACEHOLDER = 'Bearer <paste token>';

const DEFAULT_QUERY = `# Paste the admin token into the Headers tab below, then run.
query Customers {
  customers(first: 20) {
    totalCount
    nodes { id name originUrl domains cacheTtl hasBasicAuth updatedAt }
    pageInfo { endCursor hasNextPage }
  }
}
`;

let cached: string | undefined;

/** About 9 MB of HTML and script; rendered once per process. */
export function idePageHtml(): string {
  cached ??= renderGraphiQL({
    title: IDE_TITLE,
    endpoint: '/graphql',
    subscriptionsProtocol: 'WS',
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: 'headers',
    headers: JSON.stringify({ Authorization: IDE_TOKEN_PLACEHOLDER }),
    shouldPersistHeaders: true,
    defaultQuery: DEFAULT_QUERY,
  });
  return cached;
}

/** A browser navigating to the endpoint (as opposed to a GraphQL GET request). */
export function wantsIde(method: string, accept: string | undefined): boolean {
  return method === 'GET' && accept !== undefined && accept.includes('text/html');
}

/** The plain-text 404 a browser gets at /graphql when CDN_API_IDE=false. */
export function ideOffText(): string {
  return `${cdnError('CDN_ERR_QUERY_IDE_OFF').message}\n`;
}
