/**
 * Helpers for the per-role config.ts files: read variables from a given environment
 * object (never process.env directly), collect every problem, and let the role throw
 * one CDN_ERR_CONFIG_INVALID listing all of them.
 */
import { CdnError, type FieldProblem } from './errors';

export type Env = Readonly<Record<string, string | undefined>>;

export class EnvReader {
  readonly #env: Env;
  readonly #problems: FieldProblem[] = [];

  constructor(env: Env) {
    this.#env = env;
  }

  #raw(name: string): string | undefined {
    const value = this.#env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  problem(name: string, message: string): void {
    this.#problems.push({ field: name, message });
  }

  string(name: string): string | undefined;
  string(name: string, fallback: string): string;
  string(name: string, fallback?: string): string | undefined {
    return this.#raw(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problem(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return n;
  }

  /** A TCP port; 0 asks the OS for a free one. */
  port(name: string, fallback: number): number {
    return this.int(name, fallback, 0, 65535);
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    const v = raw.toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problem(name, `must be true or false, got "${raw}"`);
    return fallback;
  }

  url(name: string, protocols: string[]): string | undefined {
    const raw = this.#raw(name);
    if (raw === undefined) return undefined;
    try {
      const url = new URL(raw);
      if (!protocols.includes(url.protocol)) {
        this.problem(name, `must be a ${protocols.join(' or ')} URL, got protocol ${url.protocol}`);
        return undefined;
      }
      return raw;
    } catch {
      this.problem(name, `is not a valid URL (expected e.g. ${protocols[0]}//host:port)`);
      return undefined;
    }
  }

  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    if (!values.includes(raw as T)) {
      this.problem(name, `must be one of ${values.join(', ')}, got "${raw}"`);
      return fallback;
    }
    return raw as T;
  }

  /** Throws one error listing every problem found so far, or returns the value frozen. */
  finish<T extends object>(role: string, value: T): Readonly<T> {
    if (this.#problems.length > 0) {
      throw new CdnError('CDN_ERR_CONFIG_INVALID', [role, this.#problems], { fields: this.#problems });
    }
    return Object.freeze(value);
  }
}
