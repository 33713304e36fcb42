/**
 * The one error catalog. Every error a user can cause has a code here
 * (`CDN_ERR_<AREA>_<WHAT>`), an HTTP status, the GraphQL `extensions.code` the api
 * reports, and a message that says what was wrong and what to do about it.
 * Services throw `CdnError`s; transports (GraphQL, the edge's HTTP) translate them.
 */

export type GraphqlErrorCode =
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'INTERNAL_SERVER_ERROR'
  | 'GRAPHQL_VALIDATION_FAILED'
  | 'BAD_REQUEST'
  | 'RATE_LIMITED'
  /** A dependency (the database) is briefly away: the same request may be sent again shortly. */
  | 'SERVICE_UNAVAILABLE';

export interface FieldProblem {
  /** Dotted path of the input field, e.g. `input.domains[1]`. */
  field: string;
  message: string;
}

interface CatalogEntry<A extends unknown[]> {
  status: number;
  graphqlCode: GraphqlErrorCode;
  message: (...args: A) => string;
}

function entry<A extends unknown[]>(
  status: number,
  graphqlCode: GraphqlErrorCode,
  message: (...args: A) => string,
): CatalogEntry<A> {
  return { status, graphqlCode, message };
}

export const errorCatalog = {
  CDN_ERR_INPUT_INVALID: entry(400, 'BAD_USER_INPUT', (problems: FieldProblem[]) =>
    `Invalid input: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
  ),
  CDN_ERR_CUSTOMER_NOT_FOUND: entry(404, 'NOT_FOUND', (id: string) =>
    `Customer "${id}" does not exist. List existing customers with the \`customers\` query.`,
  ),
  CDN_ERR_CUSTOMER_EXISTS: entry(409, 'CONFLICT', (id: string) =>
    `Customer id "${id}" is already taken. Choose another id, or update the existing customer with \`updateCustomer\`.`,
  ),
  // owner null: the caller is customer-scoped (or the owner is unknown) and learns nothing about other customers.
  CDN_ERR_DOMAIN_TAKEN: entry(409, 'CONFLICT', (domain: string, owner: string | null) =>
    owner === null
      ? `Domain "${domain}" is already in use by another customer. A domain can belong to one customer only; choose another domain, or ask an operator if it should be yours.`
      : `Domain "${domain}" already belongs to customer "${owner}". A domain can belong to one customer only; remove it there first.`,
  ),
  CDN_ERR_PURGE_NOT_FOUND: entry(404, 'NOT_FOUND', (id: string) =>
    `Purge "${id}" does not exist. List a customer's purges with the \`purges\` query.`,
  ),
  CDN_ERR_WARM_NOT_FOUND: entry(404, 'NOT_FOUND', (id: string) =>
    `Warm "${id}" does not exist. List a customer's warms with the \`warms\` query.`,
  ),
  CDN_ERR_WARM_NO_EDGES: entry(409, 'CONFLICT', (customerId: string) =>
    `No edge is live right now, so nothing would warm the cache of customer "${customerId}" and nothing was recorded. ` +
    'Start an edge, or wait until the edges report again (the `edges` query lists the live ones), then warm again.',
  ),
  CDN_ERR_CERTIFICATE_NOT_FOUND: entry(404, 'NOT_FOUND', (id: string) =>
    `Certificate "${id}" does not exist. List a customer's certificates with the \`certificates\` query.`,
  ),
  CDN_ERR_ACME_NOT_CONFIGURED: entry(503, 'SERVICE_UNAVAILABLE', () =>
    'Certificates cannot be requested: this api has no ACME server configured. Set CDN_ACME_DIRECTORY_URL (and CDN_ACME_EMAIL) on the api, or upload a certificate with uploadCertificate.',
  ),
  CDN_ERR_SIGNING_KEY_NOT_FOUND: entry(404, 'NOT_FOUND', (customerId: string, id: string) =>
    `Customer "${customerId}" has no signing key "${id}". List its keys with the customer's \`signingKeys\` field.`,
  ),
  CDN_ERR_SIGNING_KEYS_FULL: entry(409, 'CONFLICT', (customerId: string, max: number) =>
    `Customer "${customerId}" already has ${max} signing keys, the most it may hold. Delete the older one (once the links it signed have expired), then create a new one.`,
  ),
  CDN_ERR_SIGNING_KEY_NONE: entry(409, 'CONFLICT', (customerId: string) =>
    `Customer "${customerId}" has no signing key to sign with. Create one with createSigningKey first.`,
  ),
  CDN_ERR_WEBHOOK_NOT_FOUND: entry(404, 'NOT_FOUND', (id: string) =>
    `Webhook "${id}" does not exist. List webhooks with the \`webhooks\` query.`,
  ),
  CDN_ERR_WEBHOOK_DELIVERY_NOT_FOUND: entry(404, 'NOT_FOUND', (id: string) =>
    `Webhook delivery "${id}" does not exist. List a webhook's deliveries with the \`webhookDeliveries\` query.`,
  ),
  CDN_ERR_WEBHOOK_URL_INVALID: entry(400, 'BAD_USER_INPUT', (why: string) =>
    `The webhook URL is not usable: ${why}. Give an absolute http(s) URL such as https://hooks.example.com/edgeplane, without credentials or a fragment.`,
  ),
  // At save time (the admin typed it: naming the address says what to fix) and as a delivery's last error at connect time.
  CDN_ERR_WEBHOOK_FORBIDDEN_ADDRESS: entry(400, 'BAD_USER_INPUT', (why: string) =>
    `The webhook URL's ${why}; webhooks are sent to public addresses only (SSRF), unless the operator sets CDN_ALLOW_PRIVATE_WEBHOOKS=true.`,
  ),
  CDN_ERR_WEBHOOK_NO_EVENTS: entry(400, 'BAD_USER_INPUT', () =>
    'A webhook needs at least one event to subscribe to (the WebhookEventType enum lists them). To pause a webhook, set enabled to false.',
  ),
  CDN_ERR_WEBHOOKS_FULL: entry(409, 'CONFLICT', (scope: string, max: number) =>
    `${scope} already has ${max} webhooks, the most allowed (CDN_WEBHOOKS_MAX). Delete one, or send several event types to one webhook.`,
  ),
  CDN_ERR_AUTH_MISSING: entry(401, 'UNAUTHENTICATED', () =>
    'Missing credentials. Send the header `Authorization: Bearer <token>`.',
  ),
  CDN_ERR_AUTH_INVALID: entry(401, 'UNAUTHENTICATED', () =>
    'The bearer token is not valid. Check the token (cdn start prints the admin token; otherwise it is CDN_ADMIN_TOKEN).',
  ),
  CDN_ERR_AUTH_FORBIDDEN: entry(403, 'FORBIDDEN', (what: string) =>
    `This token may not ${what}. Use a token with a role that allows it.`,
  ),
  CDN_ERR_AUTH_EXPIRED: entry(401, 'UNAUTHENTICATED', (expiredAt: string) =>
    `The bearer token expired at ${expiredAt}. Ask an admin for a new token (\`createToken\`).`,
  ),
  CDN_ERR_AUTH_REVOKED: entry(401, 'UNAUTHENTICATED', () =>
    'The bearer token was revoked. Ask an admin for a new token (`createToken`).',
  ),
  CDN_ERR_TOKEN_NOT_FOUND: entry(404, 'NOT_FOUND', (id: string) =>
    `Token "${id}" does not exist. List tokens with the \`tokens\` query.`,
  ),
  CDN_ERR_AUDIT_UNAVAILABLE: entry(503, 'SERVICE_UNAVAILABLE', () =>
    'The mutation was not run because the audit log could not record it (the database may be unavailable); nothing was changed. Retry shortly.',
  ),
  // Restarts and failovers of PostgreSQL (docs/OPERATIONS.md, "PostgreSQL high availability").
  CDN_ERR_DATABASE_UNAVAILABLE: entry(503, 'SERVICE_UNAVAILABLE', (why: string) =>
    `The database is unavailable (${why}); it may be restarting or failing over. Retry in a few seconds.`,
  ),
  CDN_ERR_DATABASE_OUTCOME_UNKNOWN: entry(503, 'SERVICE_UNAVAILABLE', () =>
    'The connection to the database was lost while the change was being committed, so it may or may not have been applied. ' +
    'Check with a query (e.g. `customer`, `purges`, `tokens`) and send it again if it is missing; sending a purge or an update again is always safe.',
  ),
  // Redis failovers (docs/OPERATIONS.md, "Redis high availability"): the edges' heartbeats live in Redis.
  CDN_ERR_FLEET_UNAVAILABLE: entry(503, 'SERVICE_UNAVAILABLE', () =>
    'The live edges cannot be read right now: Redis, where the edges report, is not reachable (it may be restarting or failing over). Retry in a few seconds.',
  ),
  CDN_ERR_ACCESS_LOG_UNAVAILABLE: entry(503, 'SERVICE_UNAVAILABLE', () =>
    'Live access logs are not available on this api: it runs without an access log channel (cdn api and cdn start have one; an embedding without it cannot tail). The export files (CDN_LOG_DIR on the edges) still hold every request.',
  ),
  CDN_ERR_WS_MUTATION: entry(400, 'BAD_USER_INPUT', () =>
    'Mutations are not accepted over the websocket, so that every change is in the audit log. Send mutations with an HTTP POST to /graphql.',
  ),
  CDN_ERR_CONFIG_INVALID: entry(500, 'INTERNAL_SERVER_ERROR', (role: string, problems: FieldProblem[]) =>
    `Invalid ${role} configuration:\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`,
  ),
  CDN_ERR_DATA_DIR_BUSY: entry(409, 'CONFLICT', (dataDir: string, holder: string, staleLockFile: string | null) =>
    `The data directory ${dataDir} is in use by ${holder}, and its embedded database (PGlite) allows one process ` +
    'at a time, so nothing was done. Stop that process first (Ctrl-C where `npm start` runs), or go through its api ' +
    `while it runs: the admin token is the one it printed (kept in ${dataDir}/admin-token unless CDN_ADMIN_TOKEN is set); ` +
    'make tokens with the `createToken` mutation (README, "Your first token under npm start"). For several processes ' +
    'on one database, set DATABASE_URL to a PostgreSQL server.' +
    (staleLockFile === null ? '' : ` If that process no longer runs, delete ${staleLockFile}.`),
  ),
  CDN_ERR_EDGE_UNKNOWN_HOST: entry(404, 'NOT_FOUND', (host: string) =>
    `No customer serves the host "${host}". Check the address, or add the domain to a customer.`,
  ),
  CDN_ERR_EDGE_NOT_READY: entry(503, 'INTERNAL_SERVER_ERROR', () =>
    'This edge has not loaded its configuration yet. Retry shortly.',
  ),
  CDN_ERR_EDGE_INTERNAL_ERROR: entry(500, 'INTERNAL_SERVER_ERROR', () =>
    'The edge failed to handle this request. Retry; if it persists, the edge\'s log says why.',
  ),
  CDN_ERR_EDGE_METRICS_UNAVAILABLE: entry(503, 'INTERNAL_SERVER_ERROR', (why: string) =>
    `Cannot collect metrics (${why}). Retry shortly.`,
  ),
  CDN_ERR_EDGE_BAD_HOST: entry(400, 'BAD_USER_INPUT', (why: string) => `Bad Host header: ${why}.`),
  CDN_ERR_EDGE_MISDIRECTED: entry(421, 'BAD_USER_INPUT', (host: string) =>
    `This connection was opened for another name and its certificate does not cover "${host}": open a new connection to ${host} (its TLS server name must be the host asked for).`,
  ),
  CDN_ERR_ORIGIN_UNREACHABLE: entry(502, 'INTERNAL_SERVER_ERROR', (customerId: string, why: string) =>
    `The origin of customer "${customerId}" could not be reached: ${why}.`,
  ),
  CDN_ERR_ORIGIN_TIMEOUT: entry(504, 'INTERNAL_SERVER_ERROR', (customerId: string) =>
    `The origin of customer "${customerId}" did not answer in time.`,
  ),
  CDN_ERR_ORIGIN_ERROR: entry(502, 'INTERNAL_SERVER_ERROR', (why: string) =>
    `The edge could not fetch this object: ${why}. Retry shortly.`,
  ),
  CDN_ERR_ORIGIN_ALL_DOWN: entry(503, 'SERVICE_UNAVAILABLE', (customerId: string, retryAfterSeconds: number) =>
    `Every origin of customer "${customerId}" is down (failed health checks or requests), and this edge holds no copy of this object it may serve stale. Retry in ${retryAfterSeconds} s.`,
  ),
  CDN_ERR_ORIGIN_BUSY: entry(503, 'SERVICE_UNAVAILABLE', (customerId: string, maxConnections: number, waitedMs: number) =>
    `The origins of customer "${customerId}" already have ${maxConnections} requests from this edge in flight, the most allowed at once, and this request waited ${waitedMs} ms for a turn. Retry in a moment.`,
  ),
  // Shown to end users: names neither the origin host nor the address (the edge's log does).
  CDN_ERR_ORIGIN_FORBIDDEN_ADDRESS: entry(502, 'INTERNAL_SERVER_ERROR', (customerId: string) =>
    `The origin of customer "${customerId}" is not at a public address (it is loopback, private or link-local, ` +
    'or another special-purpose address), so the edge does not connect to it; the edge\'s log names the address. ' +
    'Such origins are refused unless the operator sets CDN_ALLOW_PRIVATE_ORIGINS=true.',
  ),
  CDN_ERR_SECRET_UNREADABLE: entry(500, 'INTERNAL_SERVER_ERROR', (what: string) =>
    `Could not decrypt ${what}: CDN_SECRET_KEY differs from the key it was encrypted with. ` +
    'Every api and edge must share the same CDN_SECRET_KEY.',
  ),
  CDN_ERR_EDGE_URL_TOO_LONG: entry(414, 'BAD_USER_INPUT', (limit: number) =>
    `The request target is longer than ${limit} bytes. Shorten the URL (move data into a request body).`,
  ),
  CDN_ERR_EDGE_HEADERS_TOO_LARGE: entry(431, 'BAD_USER_INPUT', (limit: number) =>
    `The request line and header fields are larger than ${limit} bytes. Send fewer or smaller headers (cookies are a common cause).`,
  ),
  CDN_ERR_EDGE_BODY_TOO_LARGE: entry(413, 'BAD_USER_INPUT', (limit: number) =>
    `The request body is larger than ${limit} bytes, the most this edge forwards to an origin. Send a smaller body.`,
  ),
  CDN_ERR_EDGE_REQUEST_TIMEOUT: entry(408, 'BAD_USER_INPUT', (ms: number) =>
    `The request was not received within ${ms} ms. Send the whole request head at once, then retry.`,
  ),
  CDN_ERR_EDGE_BODY_TIMEOUT: entry(408, 'BAD_USER_INPUT', (ms: number) =>
    `The request body stopped arriving: nothing came for ${ms} ms. Send the body without pauses, then retry.`,
  ),
  CDN_ERR_EDGE_BAD_REQUEST: entry(400, 'BAD_USER_INPUT', (why: string) => `Malformed HTTP request: ${why}.`),
  CDN_ERR_EDGE_ACCESS_DENIED: entry(403, 'FORBIDDEN', (why: string) =>
    `Access denied: ${why}.`,
  ),
  CDN_ERR_EDGE_SIGNATURE_INVALID: entry(403, 'FORBIDDEN', (why: string) =>
    `This URL must be signed and its signature is not valid: ${why}. Ask the site for a new link.`,
  ),
  CDN_ERR_EDGE_TOO_MANY_REQUESTS: entry(429, 'RATE_LIMITED', (perSecond: number, retryAfterSeconds: number) =>
    `Too many requests from your address: at most ${perSecond} per second here. Retry in ${retryAfterSeconds} s.`,
  ),
  CDN_ERR_EDGE_HOP_REFUSED: entry(403, 'FORBIDDEN', (why: string) =>
    `This origin shield refuses the request's Edgeplane-Hop field: ${why}. Only edges of this fleet (the same CDN_SECRET_KEY) may send one; clients send none.`,
  ),
  CDN_ERR_EDGE_LOOP_DETECTED: entry(508, 'BAD_USER_INPUT', (cdnId: string) =>
    `This request already went through this CDN (CDN-Loop: ${cdnId}): the customer's origin leads back to the edge. Point the customer's originUrl at the real origin server.`,
  ),
  CDN_ERR_QUERY_TOO_DEEP: entry(400, 'GRAPHQL_VALIDATION_FAILED', (depth: number, max: number) =>
    `Query depth ${depth} exceeds the maximum of ${max} (CDN_API_MAX_DEPTH). Ask for fewer nested fields.`,
  ),
  CDN_ERR_QUERY_TOO_MANY_ALIASES: entry(400, 'GRAPHQL_VALIDATION_FAILED', (aliases: number, max: number) =>
    `The operation uses ${aliases} aliases, more than the maximum of ${max} (CDN_API_MAX_ALIASES). Split it into several requests.`,
  ),
  CDN_ERR_QUERY_TOO_COSTLY: entry(400, 'GRAPHQL_VALIDATION_FAILED', (cost: number | string, max: number) =>
    `Query cost ${cost} exceeds the maximum of ${max} (CDN_API_MAX_COST). Ask for smaller pages (first), fewer fields or fewer aliases, or split the query.`,
  ),
  CDN_ERR_QUERY_INTROSPECTION_OFF: entry(400, 'GRAPHQL_VALIDATION_FAILED', () =>
    'Introspection (__schema, __type) is turned off on this server (CDN_API_INTROSPECTION=false). Use the published schema, schema/schema.graphql.',
  ),
  CDN_ERR_QUERY_BATCH_OFF: entry(400, 'BAD_REQUEST', () =>
    'Batched requests (a JSON array of operations) are not accepted. Send one operation per request.',
  ),
  CDN_ERR_QUERY_BODY_TOO_LARGE: entry(413, 'BAD_REQUEST', (limit: number) =>
    `The request body is larger than ${limit} bytes (CDN_API_MAX_BODY_BYTES). Send a shorter query or smaller variables.`,
  ),
  CDN_ERR_QUERY_IDE_OFF: entry(404, 'NOT_FOUND', () =>
    'The GraphQL IDE is turned off on this server (CDN_API_IDE=false). Send GraphQL requests with POST to this URL.',
  ),
  CDN_ERR_RATE_LIMITED: entry(429, 'RATE_LIMITED', (what: string, perMinute: number, retryAfterSeconds: number) =>
    `Rate limit reached: at most ${perMinute} ${what} per minute for this token. Retry in ${retryAfterSeconds} s.`,
  ),
  CDN_ERR_RATE_OPERATION_TOO_LARGE: entry(400, 'BAD_REQUEST', (what: string, asked: number, perMinute: number) =>
    `This operation asks for ${asked} ${what}, more than the limit of ${perMinute} per minute for this token. Send fewer per operation.`,
  ),
} as const;

export type ErrorCode = keyof typeof errorCatalog;
type ArgsOf<C extends ErrorCode> = (typeof errorCatalog)[C] extends CatalogEntry<infer A> ? A : never;

export class CdnError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name = 'CdnError';
  readonly code: C;
  readonly status: number;
  readonly graphqlCode: GraphqlErrorCode;
  /** Structured details safe to show to the caller (never secrets). */
  readonly details: Record<string, unknown>;

  constructor(code: C, args: ArgsOf<C>, details: Record<string, unknown> = {}) {
    const def = errorCatalog[code] as unknown as CatalogEntry<ArgsOf<C>>;
    super(def.message(...args));
    this.code = code;
    this.status = def.status;
    this.graphqlCode = def.graphqlCode;
    this.details = details;
  }
}

/** Shorthand: `throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', id)`. */
export function cdnError<C extends ErrorCode>(code: C, ...args: ArgsOf<C>): CdnError<C> {
  return new CdnError(code, args);
}

/**
 * The short name of a code in the edge's JSON error bodies: the code without `CDN_ERR_` and
 * the `EDGE_` area, lower-cased (`CDN_ERR_EDGE_UNKNOWN_HOST` -> `unknown_host`). Derived, so
 * the catalog stays the one vocabulary.
 */
export function shortName(code: ErrorCode): string {
  return code.replace(/^CDN_ERR_(EDGE_)?/, '').toLowerCase();
}

/** The JSON body the edge answers an error with: `{ error, code, message }` plus details. */
export function httpErrorBody(err: CdnError, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { error: shortName(err.code), code: err.code, message: err.message, ...extra };
}

/** An input error naming every bad field at once. */
export function invalidInput(problems: FieldProblem[]): CdnError<'CDN_ERR_INPUT_INVALID'> {
  return new CdnError('CDN_ERR_INPUT_INVALID', [problems], { fields: problems });
}

export function isCdnError(err: unknown): err is CdnError {
  return err instanceof CdnError;
}
