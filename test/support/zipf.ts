/** Skewed workloads for the top-k tests: a seeded Zipf-like stream of paths, the same on every run. */

/** `length` paths `/assets/<n>.js` over `keys` distinct ones, path n drawn with weight 1 / (n + 1)^s (seeded LCG). */
export function zipfStream(length: number, keys: number, s: number, seed: number): string[] {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const weights = Array.from({ length: keys }, (_, i) => 1 / (i + 1) ** s);
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let acc = 0;
  for (const w of weights) cumulative.push((acc += w / total));
  const out: string[] = [];
  for (let i = 0; i < length; i += 1) {
    const r = random();
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    out.push(`/assets/${lo}.js`);
  }
  return out;
}
