/**
 * Secrets that `cdn start` keeps in the data directory when the environment does not
 * provide them, so a newcomer's second run reuses the first run's token and key
 * (the key must stay the same, or stored Basic Auth passwords become unreadable).
 */
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { generateSecret } from '../core/secret-box';

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Reads `<dir>/<name>`, or creates it with a fresh random secret (mode 0600). */
export async function readOrCreateSecret(dir: string, name: string): Promise<{ value: string; created: boolean }> {
  const file = path.join(dir, name);
  try {
    const value = (await readFile(file, 'utf8')).trim();
    if (value.length > 0) return { value, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const value = generateSecret(32);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${value}\n`, { mode: 0o600 });
  await rename(tmp, file);
  return { value, created: true };
}
