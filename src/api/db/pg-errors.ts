/** Recognises PostgreSQL errors the api turns into user errors (same codes from pg and PGlite). */
import { QueryFailedError } from 'typeorm';

export interface UniqueViolation {
  constraint: string | undefined;
  /** e.g. `Key (hostname)=(cdn.example.com) already exists.` */
  detail: string | undefined;
}

export function asUniqueViolation(err: unknown): UniqueViolation | null {
  const driverError = err instanceof QueryFailedError ? (err.driverError as Record<string, unknown>) : (err as Record<string, unknown> | null);
  if (driverError === null || typeof driverError !== 'object' || driverError.code !== '23505') return null;
  return {
    constraint: typeof driverError.constraint === 'string' ? driverError.constraint : undefined,
    detail: typeof driverError.detail === 'string' ? driverError.detail : undefined,
  };
}

/** The value in a unique violation's detail, `Key (col)=(value) already exists.` */
export function conflictingValue(v: UniqueViolation): string | undefined {
  return v.detail?.match(/\)=\((.*)\) already exists/)?.[1];
}

/**
 * SQLSTATEs that mean "the server went away or would not take us", not "the query was
 * wrong": class 08 (connection exception; pgbouncer reports its own failures, e.g.
 * `query_wait_timeout` or `server login has been failing`, as 08P01), the server shutting
 * down or starting up (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
 * cannot_connect_now), and no free connection slot (53300).
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** Socket errors of a connection to PostgreSQL or to the pooler in front of it. */
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * node-postgres and pg-pool raise these without a code: a connection that closed under a
 * query, a pool that could not hand out a connection in time, a client already broken.
 */
const UNAVAILABLE_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/;

/**
 * True when `err` says the database could not be reached or dropped the connection (a
 * restart, a failover, the pooler giving up), as opposed to an error in the query itself.
 * The work it interrupted may be retried once the database is back.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const driverError = err instanceof QueryFailedError ? (err.driverError as unknown) : err;
  if (driverError === null || typeof driverError !== 'object') return false;
  const { code, message } = driverError as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code)) return true;
  }
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}
