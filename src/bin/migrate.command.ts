import { loadDatabaseConfig } from '../api/config';
import { createDataSource, migrate } from '../api/db/data-source';
import { ensureDir } from './data-dir';
import { lockDataDir, type DataDirLock } from './data-dir.lock';

export const MIGRATE_HELP = `Usage: cdn migrate

Applies pending database migrations and exits. Uses DATABASE_URL, or with none the
embedded PostgreSQL (PGlite) under CDN_DATA_DIR (default ./.data), which it refuses to
open while another cdn process (e.g. \`npm start\`) has it open.
The api also applies pending migrations when it starts.
`;

export async function runMigrate(): Promise<void> {
  const config = loadDatabaseConfig(process.env);
  let lock: DataDirLock | undefined;
  if (config.databaseUrl === undefined) {
    await ensureDir(config.dataDir);
    lock = lockDataDir(config.dataDir, 'cdn migrate');
  }
  const dataSource = createDataSource({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await dataSource.initialize();
  try {
    const applied = await migrate(dataSource);
    process.stdout.write(
      applied.length === 0 ? 'Database is up to date; no migration to apply.\n' : `Applied ${applied.length} migration(s):\n${applied.map((m) => `  ${m}\n`).join('')}`,
    );
  } finally {
    await dataSource.destroy();
    lock?.release();
  }
}
