/**
 * What the contract suites (one suite run against every implementation of a port) share:
 * a test that opens a fresh fixture and always disposes of it, and timing a call.
 */
import { it } from 'node:test';

/** `test(name, body, options)`: each test gets its own fixture from `open(options)`, disposed of afterwards. */
export function fixtureTest<F extends { dispose(): Promise<void> }, O>(
  open: (options: O) => Promise<F>,
): (name: string, body: (fixture: F) => Promise<void>, options?: O) => void {
  return (name, body, options = {} as O) =>
    it(name, async () => {
      const fixture = await open(options);
      try {
        await body(fixture);
      } finally {
        await fixture.dispose();
      }
    });
}

export async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work;
  return { value, ms: performance.now() - started };
}
