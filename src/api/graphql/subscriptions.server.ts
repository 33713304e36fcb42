/**
 * graphql-ws on Fastify's own HTTP server, same path as HTTP GraphQL (/graphql).
 * The token is checked once, at connection_init; a bad or missing one closes the socket
 * with 4401 before any operation runs. Errors go through the same formatter as HTTP.
 */
import type { Server } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { isCdnError } from '../../core/errors';
import type { Logger } from '../../obs/logger.factory';
import { authorizationFromConnectionParams, type Authenticator, type Principal } from '../services/auth.service';
import type { ApiContext, ApiServices } from './context.type';
import { formatApiError } from './error.format';

export const WS_CLOSE_UNAUTHORIZED = 4401;

/** Per-connection state graphql-ws keeps in ctx.extra. A type alias (STACK.md: not an interface). */
type ConnectionExtra = { principal?: Principal };

export interface SubscriptionServer {
  /** Closes every socket (1001 Going Away) and stops accepting upgrades. */
  close(): Promise<void>;
}

export function attachSubscriptions(options: {
  server: Server;
  path: string;
  schema: GraphQLSchema;
  authenticator: Authenticator;
  services: ApiServices;
  logger: Logger;
}): SubscriptionServer {
  const log = options.logger.child({ component: 'graphql-ws' });
  const wss = new WebSocketServer({ server: options.server, path: options.path });
  const disposable = useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      schema: options.schema,
      isProd: true,
      onConnect: (ctx) => {
        try {
          ctx.extra.principal = options.authenticator.authenticate(authorizationFromConnectionParams(ctx.connectionParams));
          return true;
        } catch (err) {
          const reason = isCdnError(err) ? err.code : 'Unauthorized';
          // Closing here, before returning false, gives the client 4401 rather than graphql-ws's generic 4403.
          ctx.extra.socket.close(WS_CLOSE_UNAUTHORIZED, reason);
          return false;
        }
      },
      context: (ctx): ApiContext => ({ principal: ctx.extra.principal ?? null, services: options.services }),
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
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
