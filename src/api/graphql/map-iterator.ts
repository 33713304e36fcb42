/** Shared by the subscription resolvers. */

/** Maps each value, passing `return()` through so an unsubscribe ends the source at once. */
export function mapIterator<T, U>(source: AsyncIterableIterator<T>, map: (value: T) => U): AsyncIterableIterator<U> {
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      const r = await source.next();
      return r.done ? { done: true, value: undefined } : { done: false, value: map(r.value) };
    },
    async return() {
      await source.return?.();
      return { done: true, value: undefined };
    },
  };
}
