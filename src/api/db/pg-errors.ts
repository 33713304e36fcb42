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
