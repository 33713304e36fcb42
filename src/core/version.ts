/**
 * This build's version: `version` of the package.json above this file (the same from
 * src/ under ts-node-style registers and from dist/src/ in a build), read once.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  cached = 'unknown';
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
        if (pkg.name === 'edgeplane' && typeof pkg.version === 'string') {
          cached = pkg.version;
          break;
        }
      } catch {
        // not ours or unreadable: keep looking upwards
      }
    }
    if (path.dirname(dir) === dir) break;
  }
  return cached;
}
