/**
 * Starts a real api (port 0) on its own PostgreSQL database, a MemoryBus, a MemoryFleet
 * and a stats channel (tests play the edges by writing heartbeats, acks and stats
 * reports to them; a MemoryStatsChannel unless one is given) and no rate limiter unless one is
 * given, for the api integration tests. Captures the api's log lines so tests can check what is logged.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { DataSource } from 'typeorm';
import { loadApiConfig } from '../../src/api/config';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { startApi, type ApiHandle } from '../../src/api/server';
import { MemoryBus } from '../../src/bus/memory-bus';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import { MemoryRevocations } from '../../src/bus/memory-revocations';
import { MemoryStatsChannel } from '../../src/bus/memory-stats';
import type { WebhookEvents } from '../../src/api/domain/webhook.types';
import type { EdgeStatus } from '../../src/core/fleet.port';
import type { RateLimiter } from '../../src/core/rate-limit.port';
import type { RevocationChannel } from '../../src/core/revocation.port';
import type { StatsChannel } from '../../src/core/stats.port';
import { createLogger } from '../../src/obs/logger.factory';
import { createTestDatabase } from '../support/services';

export const TOKEN = 'test-admin-token-0123456789';
export const SECRET_KEY = 'test-secret-key-0123456789abcdef0123456789';

export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  text: string;
  data: T | null | undefined;
  errors: Array<{ message: string; path?: string[]; extensions: Record<string, unknown> & { code: string } }> | undefined;
}

export interface TestApi {
  api: ApiHandle;
  bus: MemoryBus;
  fleet: MemoryFleet;
  stats: StatsChannel;
  /** The api's token revocation channel (pass it to a second api on the same database). */
  revocations: RevocationChannel;
  dataSource: DataSource;
  databaseUrl: string;
  logs: string[];
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<GqlResponse<T>>;
  /** Waits until the bus holds seq `seq` (the relay runs after each commit). */
  waitForBusSeq(seq: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTestApi(
  env: Record<string, string> = {},
  options: { fleet?: MemoryFleet; stats?: StatsChannel; rateLimiter?: RateLimiter; revocations?: RevocationChannel; alertEvents?: WebhookEvents } = {},
): Promise<TestApi> {
  const database = await createTestDatabase('edgeplane_api');
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ name: 'api', level: 'debug', destination });
  const dataSource = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await dataSource.initialize();
  await migrate(dataSource);
  const bus = new MemoryBus();
  const fleet = options.fleet ?? new MemoryFleet();
  const stats = options.stats ?? new MemoryStatsChannel();
  const config = loadApiConfig({
    CDN_API_PORT: '0',
    CDN_ADMIN_TOKEN: TOKEN,
    CDN_SECRET_KEY: SECRET_KEY,
    DATABASE_URL: database.url,
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
    ...env,
  });
  // No rate limits unless a test brings a limiter (which it owns and closes).
  const revocations = options.revocations ?? new MemoryRevocations();
  const api = await startApi(config, { dataSource, bus, fleet, stats, rateLimiter: options.rateLimiter, revocations, logger, alertEvents: options.alertEvents });
  return {
    api,
    bus,
    fleet,
    stats,
    revocations,
    dataSource,
    databaseUrl: database.url,
    logs,
    async gql<T>(query: string, variables: Record<string, unknown> = {}, token: string | null = TOKEN) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (token !== null) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${api.url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const text = await res.text();
      const body = JSON.parse(text) as { data?: T | null; errors?: GqlResponse['errors'] };
      return { status: res.status, text, data: body.data, errors: body.errors };
    },
    async waitForBusSeq(seq: number, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const published = await bus.publishedSeq();
        if (published !== null && published >= seq) return;
        if (Date.now() > deadline) throw new Error(`bus never reached seq ${seq} (at ${published})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      await api.close();
      if (options.revocations === undefined) await revocations.close();
      await fleet.close();
      await stats.close();
      await bus.close();
      await dataSource.destroy();
      await database.drop();
    },
  };
}

/** Rows in a table of the test database. */
export async function countRows(t: TestApi, table: string): Promise<number> {
  const rows: Array<{ n: string }> = await t.dataSource.query(`SELECT count(*) AS n FROM "${table}"`);
  return Number(rows[0]!.n);
}

/** The newest outbox sequence (0 when empty). */
export async function maxChangeSeq(t: TestApi): Promise<number> {
  const rows: Array<{ m: string | null }> = await t.dataSource.query('SELECT max(seq) AS m FROM change_log');
  return Number(rows[0]!.m ?? 0);
}

/** A graphql-ws client of the api at `apiUrl` (http://…), sending `token` in connection_init; connects on first use, never retries. */
export function wsClient(apiUrl: string, token: string = TOKEN): Client {
  return createClient({
    url: `${apiUrl.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
  });
}

/**
 * What a subscription's first answer says: `ok` for data, else the code of its first error
 * (as an error event or a rejected iteration). Ends the subscription.
 */
export async function firstSubscriptionCode(ws: Client, query: string, variables: Record<string, unknown> = {}): Promise<string> {
  const it = ws.iterate({ query, variables });
  try {
    const r = await it.next();
    const errors = (r.value as { errors?: Array<{ extensions?: { code?: string } }> } | undefined)?.errors;
    return errors === undefined ? 'ok' : String(errors[0]!.extensions?.code);
  } catch (err) {
    const list = err as Array<{ extensions?: { code?: string } }>;
    return Array.isArray(list) ? String(list[0]!.extensions?.code) : String(err);
  } finally {
    await it.return?.();
  }
}

export interface FieldProblemShape {
  field: string;
  message: string;
}

/** Asserts the answer is one BAD_USER_INPUT naming `field` with a message matching `message`; returns every problem named. */
export function refused(res: Pick<GqlResponse, 'errors' | 'text'>, field: string, message: RegExp): FieldProblemShape[] {
  assert.equal(res.errors?.length, 1, res.text);
  const err = res.errors![0]!;
  assert.equal(err.extensions.code, 'BAD_USER_INPUT', res.text);
  const problems = err.extensions.fields as FieldProblemShape[];
  assert.ok(problems.some((p) => p.field === field && message.test(p.message)), `${field} ${message}: ${JSON.stringify(problems)}`);
  return problems;
}

/** A customer-scoped token of `role` (CUSTOMER_ADMIN, ...) for `customerId`, valid an hour; its secret. */
export async function tokenFor(t: TestApi, role: string, customerId: string): Promise<string> {
  const res = await t.gql<{ createToken: { secret: string } }>('mutation($input: CreateTokenInput!) { createToken(input: $input) { secret } }', {
    input: { name: `${role} ${customerId}`, role, customerId, expiresIn: '1h' },
  });
  assert.equal(res.errors, undefined, res.text);
  return res.data!.createToken.secret;
}

/** An edge process (a cluster worker is `<id>#<n>`) heartbeats on the api's in-process fleet, live for a minute. */
export async function playEdge(t: Pick<TestApi, 'fleet'>, edgeId: string, overrides: Partial<EdgeStatus> = {}): Promise<void> {
  const now = new Date().toISOString();
  await t.fleet.heartbeat({ edgeId, host: 'edge.test', pid: 1, version: 'test', appliedSeq: 0, ready: true, startedAt: now, heartbeatAt: now, cacheObjects: 0, cacheBytes: 0, ...overrides }, 60_000);
}
