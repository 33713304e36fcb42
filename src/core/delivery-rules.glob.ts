/**
 * Path globs of delivery rules (`RuleMatch.globs`), compiled once per customer change.
 *
 * `*` is any run of characters within one segment (not "/"), `**` any run across segments,
 * `?` one character other than "/"; every other character is literal (a glob is compared with
 * the raw, percent-encoded path, so `%20` is three characters). A `**` that is a whole segment
 * may also match no segment at all, as in gitignore and most glob libraries (examples below).
 *
 * Why two matchers: a glob translated to a RegExp is matched by a backtracking engine, and
 * the path is the client's. Two unbounded wildcards that compete for the same characters
 * (`/**a**a**b`, `/*-*-*.png`) cost O(n^k) on a crafted path of n characters: one request
 * could hold an edge worker for minutes. A glob with at most one `**` and at most one
 * wildcard per segment cannot backtrack more than linearly (each `*` ends where its segment
 * ends, so it has one way to match), and becomes one RegExp, the fast common case. Any other
 * glob is run as an automaton over its characters: O(path length × glob length), never worse.
 */
// Examples (line comments: a doc comment cannot hold these):
//   /assets/**/*.js   /assets/app.js, /assets/v1/app.js; not /assets.js
//   /img/*.png        /img/a.png; not /img/x/a.png
//   /static/**        /static/, /static/a/b; not /static
//   /a.b/(x)+         exactly that path: ".", "(", ")" and "+" are literal

export const GLOB_LENGTH_MAX = 256;
/** Wildcards (`*` and `**`) in one glob: bounds the automaton, and no real glob needs more. */
export const GLOB_WILDCARDS_MAX = 16;

export interface GlobMatcher {
  test(path: string): boolean;
  /** `regexp` or `automaton`: which of the two matchers above (for tests and explainRequest). */
  readonly kind: 'regexp' | 'automaton';
}

type Token =
  | { kind: 'lit'; char: string }
  | { kind: 'one' }
  | { kind: 'star' }
  | { kind: 'dstar'; dir: boolean };

/** Why a glob cannot be compiled, or undefined when it can. The validator names the field. */
export function globProblem(glob: string): string | undefined {
  if (glob.length === 0) return 'must not be empty';
  if (!glob.startsWith('/')) return `"${glob}" must start with "/" (globs match the whole path)`;
  if (glob.length > GLOB_LENGTH_MAX) return `must be at most ${GLOB_LENGTH_MAX} characters (got ${glob.length})`;
  if (glob.includes('***')) return `"${glob}" has "***", which means nothing: use "*" within a segment or "**" across segments`;
  const wildcards = tokenize(glob).filter((t) => t.kind === 'star' || t.kind === 'dstar').length;
  if (wildcards > GLOB_WILDCARDS_MAX) return `has ${wildcards} wildcards; at most ${GLOB_WILDCARDS_MAX} ("*" and "**" together)`;
  return undefined;
}

/** `kind` forces one matcher (tests compare both); by default the RegExp only where it is linear. */
export function compileGlob(glob: string, kind?: GlobMatcher['kind']): GlobMatcher {
  const problem = globProblem(glob);
  if (problem !== undefined) throw new RangeError(`glob ${JSON.stringify(glob)}: ${problem}`);
  const tokens = tokenize(glob);
  return (kind ?? (isLinear(tokens) ? 'regexp' : 'automaton')) === 'regexp' ? regexpMatcher(tokens) : automatonMatcher(tokens);
}

function tokenize(glob: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i]!;
    if (c === '?') tokens.push({ kind: 'one' });
    else if (c !== '*') tokens.push({ kind: 'lit', char: c });
    else if (glob[i + 1] !== '*') tokens.push({ kind: 'star' });
    else {
      // `/**/`: the `**` and the "/" after it may match nothing at all.
      tokens.push({ kind: 'dstar', dir: glob[i - 1] === '/' && glob[i + 2] === '/' });
      i += 1;
    }
  }
  return tokens;
}

/** At most one `**`, and at most one wildcard between two "/" (see the file comment). */
function isLinear(tokens: readonly Token[]): boolean {
  let dstars = 0;
  let inSegment = 0;
  for (const t of tokens) {
    if (t.kind === 'lit' && t.char === '/') inSegment = 0;
    else if (t.kind === 'star' || t.kind === 'dstar') {
      if (t.kind === 'dstar') dstars += 1;
      inSegment += 1;
      if (dstars > 1 || inSegment > 1) return false;
    }
  }
  return true;
}

function regexpMatcher(tokens: readonly Token[]): GlobMatcher {
  let source = '^';
  for (let i = 0; i < tokens.length; i += 1) {
    const t = tokens[i]!;
    if (t.kind === 'lit') source += t.char.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
    else if (t.kind === 'one') source += '[^/]';
    else if (t.kind === 'star') source += '[^/]*';
    else if (t.dir) {
      source += '(?:.*/)?';
      i += 1; // the "/" that follows belongs to the optional group
    } else source += '.*';
  }
  // `s`: "." also matches a line break, so no character escapes `**`.
  const re = new RegExp(`${source}$`, 's');
  return { test: (path) => re.test(path), kind: 'regexp' };
}

/**
 * A Thompson automaton: states are positions in the token list; a wildcard loops on itself
 * and may be skipped (an epsilon move forward), so closures are computed once, here. A `**`
 * that is a whole segment gets an entry state before it whose second way out skips the `**`
 * and the "/" after it: taken only before the `**` has consumed anything.
 */
function automatonMatcher(parsed: readonly Token[]): GlobMatcher {
  type State = Token | { kind: 'entry' };
  const tokens: State[] = parsed.flatMap((t): State[] => (t.kind === 'dstar' && t.dir ? [{ kind: 'entry' }, t] : [t]));
  const accept = tokens.length;
  const closure: number[][] = new Array<number[]>(accept + 1);
  for (let i = accept; i >= 0; i -= 1) {
    const t = tokens[i];
    const states = new Set<number>([i]);
    if (t !== undefined && (t.kind === 'star' || t.kind === 'dstar' || t.kind === 'entry')) for (const s of closure[i + 1]!) states.add(s);
    // entry, then the `**`, then its "/": the state after those three.
    if (t !== undefined && t.kind === 'entry') for (const s of closure[i + 3]!) states.add(s);
    closure[i] = [...states].sort((a, b) => a - b);
  }
  let literalPrefix = '';
  for (const t of tokens) {
    if (t.kind !== 'lit') break;
    literalPrefix += t.char;
  }
  const seen = new Uint32Array(accept + 1);
  let generation = 0;
  const test = (path: string): boolean => {
    if (!path.startsWith(literalPrefix)) return false;
    let current = closure[0]!;
    for (let p = 0; p < path.length && current.length > 0; p += 1) {
      const c = path[p]!;
      generation += 1;
      if (generation === 0xffffffff) {
        seen.fill(0);
        generation = 1;
      }
      const next: number[] = [];
      for (const s of current) {
        if (s === accept) continue;
        const t = tokens[s]!;
        let target = -1;
        if (t.kind === 'entry') continue;
        if (t.kind === 'lit') target = t.char === c ? s + 1 : -1;
        else if (t.kind === 'one') target = c !== '/' ? s + 1 : -1;
        else if (t.kind === 'star') target = c !== '/' ? s : -1;
        else target = s;
        if (target < 0) continue;
        for (const r of closure[target]!) {
          if (seen[r] !== generation) {
            seen[r] = generation;
            next.push(r);
          }
        }
      }
      current = next;
    }
    return current.includes(accept);
  };
  return { test, kind: 'automaton' };
}
