/**
 * A separate process writing objects into a disk cache (crash and multi-process tests):
 *   node --require @swc-node/register cache-writer.child.ts <dir> <customer> <count> <delayMs> [<first>] [<indexBodyMax>]
 * Object i is `/obj/<i>-<chunks>` and its body is expectedBody(path). Prints "stored <i>"
 * after each object is in the index, then "done".
 */
import { DiskTier } from '../../src/edge/cache/disk.tier';
import { cacheKey } from '../../src/edge/cache/cache-key';
import { body, meta } from './cache-store.fixtures';

export function objectPath(i: number): string {
  return `/obj/${i}-${1 + (i % 7)}`;
}

/**
 * 1 to 7 chunks of ~20 KB. With WRITER_INDEX_BODY_MAX, one chunk goes into the index's body
 * table, two or three take the disk tier's one-go file write (up to 64 KiB), more stream to
 * a temp file: a kill -9 finds every kind of write.
 */
export const WRITER_INDEX_BODY_MAX = 32 * 1024;

export function expectedChunks(path: string): string[] {
  const n = Number(path.split('-').at(-1));
  const unit = `${path}#`;
  return Array.from({ length: n }, (_, c) => `${unit}${c};`.repeat(Math.ceil(20_000 / (unit.length + 2))));
}

async function main(): Promise<void> {
  const [dir, customer, countArg, delayArg, firstArg, indexBodyMaxArg] = process.argv.slice(2);
  const count = Number(countArg);
  const delayMs = Number(delayArg);
  const first = Number(firstArg ?? 0);
  const store = new DiskTier({ dir: dir!, maxObjectBytes: 1024 * 1024, recover: false, indexBodyMax: Number(indexBodyMaxArg ?? WRITER_INDEX_BODY_MAX) });
  let next = first;
  const worker = async (): Promise<void> => {
    while (next < first + count) {
      const i = next++;
      const p = objectPath(i);
      const outcome = await store.put(cacheKey(customer!, p, ''), meta(), body(expectedChunks(p), delayMs));
      if (outcome === 'stored') process.stdout.write(`stored ${i}\n`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  await store.close();
  process.stdout.write('done\n');
}

if (require.main === module) void main();
