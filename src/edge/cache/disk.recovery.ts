/**
 * Start-up repair of the disk tier, in the background while the edge already serves
 * (a lookup trusts only the index and checks the file size, so nothing broken is served
 * meanwhile). One process of an edge runs it (claimed in the index); it removes:
 *
 * - index entries whose file is missing or has the wrong size (dropped from the index
 *   first, then the file);
 * - files no index entry names (a crash between rename and index put), once older than
 *   a grace period (a sibling process may be between the two right now);
 * - temp files of writers that are gone (`<name>.<pid>.tmp`, pid not alive) or idle for
 *   an hour;
 * - leftovers of customer folders being removed when the process died (`.trash`).
 */
import { readdir, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { hasBodyFile, type MetadataIndex } from './metadata.index';

export interface RecoveryReport {
  skipped: boolean;
  brokenEntries: number;
  orphans: number;
  tempFiles: number;
  trash: number;
}

interface RecoverableDisk {
  readonly dir: string;
  readonly index: MetadataIndex;
  filePath(customerId: string, file: string): string;
}

const CLAIM_TTL_MS = 10 * 60_000;
const STALE_TEMP_MS = 60 * 60_000;
const BATCH = 1000;

export async function recoverDisk(disk: RecoverableDisk, options: { orphanGraceMs: number }): Promise<RecoveryReport> {
  const report: RecoveryReport = { skipped: false, brokenEntries: 0, orphans: 0, tempFiles: 0, trash: 0 };
  if (!(await disk.index.claim('recovery', CLAIM_TTL_MS, isAlive))) return { ...report, skipped: true };
  const trash = path.join(disk.dir, '.trash');
  for (const name of await readdir(trash).catch(() => [] as string[])) {
    await rm(path.join(trash, name), { recursive: true, force: true });
    report.trash += 1;
  }
  const customers = new Set<string>();
  for (const e of await readdir(disk.dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory() && !e.name.startsWith('.')) customers.add(e.name);
  }
  for (const { customerId, account } of disk.index.accounts()) if (account.objects > 0) customers.add(customerId);
  for (const customerId of customers) {
    const referenced = await checkEntries(disk, customerId, report);
    await removeStrays(disk, customerId, referenced, options.orphanGraceMs, report);
  }
  return report;
}

/** Drops entries whose file is missing or of the wrong size; returns the files in use. */
async function checkEntries(disk: RecoverableDisk, customerId: string, report: RecoveryReport): Promise<Set<string>> {
  const referenced = new Set<string>();
  let after: string | undefined;
  for (;;) {
    // Batches, so no read transaction stays open across the awaits below.
    const batch: Array<{ indexKey: string; file: string; size: number; hasFile: boolean }> = [];
    for (const { indexKey, entry } of disk.index.entries(customerId, after)) {
      batch.push({ indexKey, file: entry.file, size: entry.size, hasFile: hasBodyFile(entry) });
      if (batch.length >= BATCH) break;
    }
    if (batch.length === 0) return referenced;
    after = batch[batch.length - 1]!.indexKey;
    for (const e of batch) {
      if (!e.hasFile) continue; // an empty or inline body has no file
      const file = disk.filePath(customerId, e.file);
      const size = await stat(file).then((s) => s.size, () => -1);
      if (size === e.size) {
        referenced.add(e.file);
        continue;
      }
      const removed = await disk.index.removeByIndexKey(customerId, e.indexKey, e.file);
      if (removed !== undefined) {
        report.brokenEntries += 1;
        if (size >= 0) await unlink(file).catch(() => {});
      }
    }
  }
}

async function removeStrays(disk: RecoverableDisk, customerId: string, referenced: Set<string>, graceMs: number, report: RecoveryReport): Promise<void> {
  const root = path.join(disk.dir, customerId);
  const now = Date.now();
  for (const sub of await readdir(root).catch(() => [] as string[])) {
    const folder = path.join(root, sub);
    for (const name of await readdir(folder).catch(() => [] as string[])) {
      const file = path.join(folder, name);
      if (name.endsWith('.tmp')) {
        const pid = Number(name.split('.').at(-2));
        const mtime = await stat(file).then((s) => s.mtimeMs, () => undefined);
        if (mtime === undefined) continue;
        const writerGone = !Number.isInteger(pid) || (pid !== process.pid && !isAlive(pid));
        if (writerGone || now - mtime > STALE_TEMP_MS) {
          await unlink(file).catch(() => {});
          report.tempFiles += 1;
        }
        continue;
      }
      if (referenced.has(name)) continue;
      const mtime = await stat(file).then((s) => s.mtimeMs, () => undefined);
      if (mtime === undefined || now - mtime < graceMs) continue;
      await unlink(file).catch(() => {});
      report.orphans += 1;
    }
  }
}

/** Whether a process with this pid exists (EPERM: it does, and belongs to someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
