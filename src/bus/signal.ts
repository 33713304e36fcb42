/**
 * What the in-process channels (memory-bus, memory-fleet, memory-stats, memory-revocations)
 * block their readers on: a promise with its resolver, replaced after each firing.
 */

/** A promise with its resolver (Node 20 has no Promise.withResolvers). */
export class Signal {
  fire: () => void = () => {};
  readonly fired = new Promise<void>((resolve) => (this.fire = resolve));
}

/** Resolves when `woken` does or after `ms`, whichever is first (the timer never outlives it). */
export async function wokenOrTimeout(woken: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([woken, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
