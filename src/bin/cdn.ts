/**
 * The `cdn` command: parses the sub-command and hands over to it. This folder is the
 * only place where concrete adapters (PostgreSQL or PGlite, Redis or in-process bus)
 * are chosen and wired into the api and the edge.
 */
import 'reflect-metadata';
import { isCdnError } from '../core/errors';
import { runApi, API_HELP } from './api.command';
import { runEdge, EDGE_HELP } from './edge.command';
import { runMigrate, MIGRATE_HELP } from './migrate.command';
import { runStart, START_HELP } from './start.command';

const USAGE = `Edgeplane — a multi-tenant CDN you run yourself, managed through GraphQL.

Usage: cdn <command> [options]

Commands:
  start     api + edge + demo customers in one process (what \`npm start\` runs)
  api       the control plane: GraphQL API on CDN_API_PORT (needs DATABASE_URL and REDIS_URL)
  edge      the data plane: serves customer domains on CDN_EDGE_PORT (needs REDIS_URL, or --config)
  migrate   apply pending database migrations and exit

Run \`cdn <command> --help\` for a command's options. Configuration comes from the
environment; see the README for every variable.
`;

const commands: Record<string, { help: string; run: (args: string[]) => Promise<void> }> = {
  start: { help: START_HELP, run: runStart },
  api: { help: API_HELP, run: runApi },
  edge: { help: EDGE_HELP, run: runEdge },
  migrate: { help: MIGRATE_HELP, run: runMigrate },
};

export function main(argv: string[]): void {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`cdn: unknown command "${name}".\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(command.help);
    return;
  }
  command.run(args).catch((err: unknown) => {
    if (isCdnError(err)) {
      process.stderr.write(`cdn ${name}: ${err.message}\n`);
    } else {
      process.stderr.write(`cdn ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exit(1);
  });
}
