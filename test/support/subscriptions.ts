/**
 * A GraphQL subscription over graphql-ws, followed as an end-to-end test's client follows it:
 * every event kept in order, `ended` once the server completes it. The status subscriptions
 * (purgeStatus, warmStatus) are followed this way, so a change to how a client connects
 * (authorization, no retries, lazy connect) is made once.
 */
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface Followed<T> {
  /** The events so far, in order. */
  events: T[];
  /** Resolves once the server completes the subscription; rejects on an error result. */
  ended: Promise<void>;
  /** Leaves the subscription and closes the connection. */
  close(): Promise<void>;
}

/** Subscribes at `<apiUrl>/graphql` with `token`; `field` is the subscription's root field. */
export function followSubscription<T>(apiUrl: string, token: string, query: string, variables: Record<string, unknown>, field: string): Followed<T> {
  const client = createClient({
    url: `${apiUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
  });
  const events: T[] = [];
  const iterator = client.iterate<Record<string, T>>({ query, variables });
  const ended = (async () => {
    for await (const result of iterator) {
      assert.equal(result.errors, undefined, JSON.stringify(result.errors));
      events.push(result.data![field]!);
    }
  })();
  // A test that never awaits `ended` must not fail on an unhandled rejection.
  ended.catch(() => {});
  return {
    events,
    ended,
    close: async () => {
      await iterator.return?.();
      await client.dispose();
    },
  };
}
