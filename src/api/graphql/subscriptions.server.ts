/**
 * graphql-ws on Fastify's own HTTP server, same path as HTTP GraphQL (/graphql).
 * The token is checked at connection_init; a bad or missing one closes the socket with 4401
 * before any operation runs. A connection outlives that check, so it is also closed with 4401
 * (the catalog code as the reason) when its token is revoked, on any api (the verifier's
 * revocation notices, `revocations`), and when its token expires (a timer at expiresAt); when
 * notices may have been missed, every connection's token is checked again. 4401 is a code
 * graphql-ws clients do not retry (4403 they do), so a client learns why and stops.
 * Errors go through the same formatter as HTTP.
 * Running subscriptions are reported by root field (`onSubscriptionsChanged`) for the
 * subscriptions-open gauge: counted when the operation starts streaming, uncounted when it
 * completes or its socket closes, whichever comes first.
 *
 * Shutting down, sockets close before any stream ends (server.ts calls close() first): a
 * graphql-ws client retries a socket closed with 1001 Going Away and subscribes again, through
 * a load balancer on another replica, whereas a stream the server completes is over for it.
 */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { execute, getOperationAST, GraphQLError, Kind, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocket, WebSocketServer } from 'ws';
import { cdnError, isCdnError } from '../../core/errors';
import type { Logger } from '../../obs/logger.factory';
import { authorizationFromConnectionParams, type Authenticator, type Principal } from '../services/bearer.authenticator';
import type { RevocationListener } from '../services/token-verifier';
import type { ApiContext, ApiServices } from './context.type';
import { formatApiError } from './error.format';

export const WS_CLOSE_UNAUTHORIZED = 4401;
/**
 * RFC 6455 §7.4.1: "an endpoint is going away, such as a server going down". graphql-ws
 * clients treat it as retryable (unlike 1002-1011 or 4400-4499), so they reconnect.
 */
export const WS_CLOSE_GOING_AWAY = 1001;
/** Answer to an upgrade that reaches a draining api: a load balancer tries the next replica (nginx: proxy_next_upstream http_503). */
const DRAINING_UPGRADE_RESPONSE = 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** Per-connection state graphql-ws keeps in ctx.extra. A type alias (docs/CONTRIBUTING.md: not an interface). */
type ConnectionExtra = { principal?: Principal };

/** Longest single timer (setTimeout's limit is 2^31-1 ms, about 24.8 days): a later expiry re-arms. */
const EXPIRY_TIMER_MAX_MS = 2 ** 31 - 1;

/** A token connection the api may have to close: its socket, the credential it presented, its expiry timer. */
type Watched = { close(code: string): void; authorization: string | undefined; principal: Principal; timer?: NodeJS.Timeout };

/** +1 when a subscription on root field `field` starts, -1 when it ends. */
export type SubscriptionsChanged = (field: string, delta: 1 | -1) => void;

/** What a graphql-ws subscribe message carries. */
export type SubscribePayload = {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
};

export interface SubscriptionServer {
  /**
   * Closes every socket with 1001 Going Away at once (a closing socket carries nothing more, so
   * streams ending afterwards are never reported complete) and answers upgrades that still
   * arrive with 503; resolves once every socket has closed.
   */
  close(): Promise<void>;
}

export function attachSubscriptions(options: {
  server: Server;
  path: string;
  schema: GraphQLSchema;
  authenticator: Authenticator;
  services: ApiServices;
  logger: Logger;
  /** Checks an operation before it runs (the api's limits): the arguments to run it with, or the errors to send instead. */
  onSubscribe?: (principal: Principal | null, payload: SubscribePayload) => Promise<ExecutionArgs | readonly GraphQLError[]>;
  onSubscriptionsChanged?: SubscriptionsChanged;
  /** Revocation notices (the TokenVerifier's): connections of revoked tokens close at once. */
  revocations?: { onRevoked(listener: RevocationListener): () => void };
  now?: () => number;
}): SubscriptionServer {
  const now = options.now ?? Date.now;
  const log = options.logger.child({ component: 'graphql-ws' });
  const changed = options.onSubscriptionsChanged ?? (() => {});
  /** Per connection: subscription id → the root fields it counted. */
  const running = new WeakMap<object, Map<string, string[]>>();
  const uncount = (ctx: object, id: string): void => {
    const fields = running.get(ctx)?.get(id);
    if (fields === undefined) return;
    running.get(ctx)!.delete(id);
    for (const field of fields) changed(field, -1);
  };
  /** Open connections of API tokens, by token id. */
  const watched = new Map<string, Set<Watched>>();
  const unwatch = (w: Watched): void => {
    clearTimeout(w.timer);
    const set = watched.get(w.principal.tokenId!);
    set?.delete(w);
    if (set?.size === 0) watched.delete(w.principal.tokenId!);
  };
  const armExpiry = (w: Watched): void => {
    const left = w.principal.expiresAt! - now();
    if (left <= 0) return w.close('CDN_ERR_AUTH_EXPIRED');
    w.timer = setTimeout(() => armExpiry(w), Math.min(left, EXPIRY_TIMER_MAX_MS));
    w.timer.unref();
  };
  const watch = (socket: WebSocket, authorization: string | undefined, principal: Principal): Watched | undefined => {
    if (principal.tokenId === undefined) return undefined; // the bootstrap admin token: never revoked, never expires
    if (socket.readyState !== WebSocket.OPEN) return undefined; // gone while its token was checked: no 'close' event will come to unwatch it
    const w: Watched = {
      authorization,
      principal,
      close: (code) => {
        unwatch(w);
        log.info({ tokenId: principal.tokenId, code }, 'graphql-ws connection closed: its token may no longer be used');
        socket.close(WS_CLOSE_UNAUTHORIZED, code);
      },
    };
    let set = watched.get(principal.tokenId);
    if (set === undefined) watched.set(principal.tokenId, (set = new Set()));
    set.add(w);
    socket.once('close', () => unwatch(w));
    if (principal.expiresAt !== undefined) armExpiry(w);
    return w;
  };
  /** Notices were lost: ask the verifier again about every token still connected. */
  const recheck = (w: Watched): void => {
    Promise.resolve()
      .then(() => options.authenticator.authenticate(w.authorization))
      .catch((err: unknown) => {
        if (isCdnError(err)) w.close(err.code);
        else log.warn({ err, tokenId: w.principal.tokenId }, 'could not re-check a connected token; it stays connected');
      });
  };
  /** Counts notices, so a connection whose check straddled one is checked again. */
  let notices = 0;
  const stopListening = options.revocations?.onRevoked((notice) => {
    notices += 1;
    if ('lost' in notice) {
      for (const set of watched.values()) for (const w of [...set]) recheck(w);
      return;
    }
    for (const tokenId of notice.tokenIds) for (const w of [...(watched.get(tokenId) ?? [])]) w.close('CDN_ERR_AUTH_REVOKED');
  });
  const wss = new WebSocketServer({ server: options.server, path: options.path });
  const disposable = useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      schema: options.schema,
      isProd: true,
      onConnect: async (ctx) => {
        try {
          const authorization = authorizationFromConnectionParams(ctx.connectionParams);
          const noticesBefore = notices;
          ctx.extra.principal = await options.authenticator.authenticate(authorization);
          const w = watch(ctx.extra.socket, authorization, ctx.extra.principal);
          // A decision made while a notice arrived may predate it: decide again (the verifier does not cache such a decision).
          if (w !== undefined && notices !== noticesBefore) recheck(w);
          return true;
        } catch (err) {
          const reason = isCdnError(err) ? err.code : 'Unauthorized';
          // Closing here, before returning false, gives the client 4401 rather than graphql-ws's generic 4403.
          ctx.extra.socket.close(WS_CLOSE_UNAUTHORIZED, reason);
          return false;
        }
      },
      onSubscribe: options.onSubscribe && ((ctx, _id, payload) => options.onSubscribe!(ctx.extra.principal ?? null, payload)),
      context: (ctx): ApiContext => ({ principal: ctx.extra.principal ?? null, services: options.services }),
      // Mutations only over HTTP, where the audit plugin records each one (plugins/audit.plugin.ts).
      execute: (args) =>
        getOperationAST(args.document, args.operationName)?.operation === 'mutation'
          ? { errors: [new GraphQLError(cdnError('CDN_ERR_WS_MUTATION').message, { originalError: cdnError('CDN_ERR_WS_MUTATION') })] }
          : execute(args),
      onOperation: (ctx, id, _payload, args, result) => {
        // Only a subscription that streams counts; one refused up front returns an ExecutionResult.
        if (!isAsyncIterable(result)) return undefined;
        const fields = subscriptionFields(args.document, args.operationName);
        if (fields.length === 0) return undefined;
        let ids = running.get(ctx);
        if (ids === undefined) {
          ids = new Map();
          running.set(ctx, ids);
        }
        ids.set(id, fields);
        for (const field of fields) changed(field, 1);
        return undefined;
      },
      onComplete: (ctx, id) => uncount(ctx, id),
      onClose: (ctx) => {
        for (const id of [...(running.get(ctx)?.keys() ?? [])]) uncount(ctx, id);
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors?.length) return undefined;
        return { ...result, errors: result.errors.map((e) => formatApiError(e.toJSON(), e, log)) };
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatApiError(e.toJSON(), e, log)),
    },
    wss,
  );
  wss.on('error', (err) => log.error({ err }, 'websocket server error'));
  return {
    async close() {
      stopListening?.();
      for (const set of watched.values()) for (const w of set) clearTimeout(w.timer);
      for (const socket of wss.clients) socket.close(WS_CLOSE_GOING_AWAY, 'api shutting down; reconnect');
      // dispose() stops the WebSocketServer at once (its upgrade listener is gone when it
      // returns) and resolves when every socket has closed. Without an upgrade listener, Node
      // would hand a late upgrade to Fastify as a plain GET (a 400 from Apollo); a 503 sends
      // a balancer on to another replica and tells a direct client what happened.
      const disposed = disposable.dispose();
      options.server.on('upgrade', (_request, socket: Duplex) => socket.end(DRAINING_UPGRADE_RESPONSE));
      await disposed;
    },
  };
}

/** Root field names of a subscription operation (validated against the schema already, so bounded). */
function subscriptionFields(document: DocumentNode, operationName: string | null | undefined): string[] {
  const operation = getOperationAST(document, operationName);
  if (operation?.operation !== 'subscription') return [];
  return operation.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? [s.name.value] : []));
}

function isAsyncIterable(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function';
}
