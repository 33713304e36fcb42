/**
 * A subscription's iterator over an async generator that stops early: `return()` (the client
 * left) or `throw()` aborts the signal the generator waits on, so a generator parked on an
 * event wakes up and ends instead of holding its listeners until the next event.
 */
export function abortableIterator<T>(start: (signal: AbortSignal) => AsyncGenerator<T, unknown, undefined>): AsyncIterableIterator<T> {
  const stop = new AbortController();
  const updates = start(stop.signal);
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => updates.next() as Promise<IteratorResult<T>>,
    return: (value?: unknown) => {
      stop.abort();
      return updates.return(value) as Promise<IteratorResult<T>>;
    },
    throw: (err?: unknown) => {
      stop.abort();
      return updates.throw(err) as Promise<IteratorResult<T>>;
    },
  };
}
