/**
 * Writes schema/schema.graphql from the resolvers (`npm run schema`). The file is
 * committed; test/unit/api.schema.test.ts fails when it is stale.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildApiSchema, printApiSchema } from '../src/api/graphql/schema.builder';

export const SCHEMA_FILE = path.join(__dirname, '..', 'schema', 'schema.graphql');

async function main(): Promise<void> {
  const sdl = printApiSchema(await buildApiSchema());
  writeFileSync(SCHEMA_FILE, sdl);
  console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)} (${sdl.length} bytes)`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
