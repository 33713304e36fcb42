/** Durations as people type them on a command line or in a form. */

/** `90d`, `12h`, `30m`, `45s` or plain seconds, as seconds; undefined when unreadable. */
export function parseDuration(value: string): number | undefined {
  const m = /^\s*(\d{1,9})\s*([smhd]?)\s*$/i.exec(value);
  if (!m) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2]!.toLowerCase() as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
