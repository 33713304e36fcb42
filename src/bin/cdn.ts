/**
 * The `cdn` command: parses the sub-command and hands over to it. This folder is the
 * only place where concrete adapters (PostgreSQL or PGlite, Redis or in-process bus)
 * are chosen and wired into the api and the edge.
 */
import 'reflect-metadata';
import { isCdnError } from '../core/errors';

const USAGE = `Edgeplane — a multi-tenant CDN you run yourself, managed through GraphQL.

Usage: cdn <command> [options]

Commands:
  start     api + edge + demo customers in one process (what \`npm start\` runs)
  api       the control plane: GraphQL API on CDN_API_PORT (needs DATABASE_URL and REDIS_URL)
  edge      the data plane: serves customer domains on CDN_EDGE_PORT (needs REDIS_URL, or --config)
  migrate   apply pending database migrations and exit
  token     create, list or revoke API tokens (cdn token create --role admin)
  sign-url  sign a link for a customer's signed-URL rules, offline (key id and secret)

Run \`cdn <command> --help\` for a command's options. Configuration comes from the
environment; see the README for every variable.
`;

interface Command {
  help: string;
  run(args: string[]): Promise<void>;
}

/**
 * Loaded on demand: an edge process never loads the api's modules (GraphQL, TypeORM,
 * Apollo), which would cost it start-up time and memory in every worker.
 */
// `require`, not `import()`: under NodeNext a dynamic import() stays an ES import, which
// would need file extensions; require keeps this CommonJS build lazy.
const commands: Record<string, () => Command> = {
  start: () => {
    const m = require('./start.command') as typeof import('./start.command');
    return { help: m.START_HELP, run: m.runStart };
  },
  api: () => {
    const m = require('./api.command') as typeof import('./api.command');
    return { help: m.API_HELP, run: m.runApi };
  },
  edge: () => {
    const m = require('./edge.command') as typeof import('./edge.command');
    return { help: m.EDGE_HELP, run: m.runEdge };
  },
  migrate: () => {
    const m = require('./migrate.command') as typeof import('./migrate.command');
    return { help: m.MIGRATE_HELP, run: m.runMigrate };
  },
  token: () => {
    const m = require('./token.command') as typeof import('./token.command');
    return { help: m.TOKEN_HELP, run: m.runToken };
  },
  'sign-url': () => {
    const m = require('./sign-url.command') as typeof import('./sign-url.command');
    return { help: m.SIGN_URL_HELP, run: (args) => m.runSignUrl(args) };
  },
};

export function main(argv: string[]): void {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const load = commands[name];
  if (load === undefined) {
    process.stderr.write(`cdn: unknown command "${name}".\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  Promise.resolve()
    .then(async () => {
      const command = load();
      if (args.includes('--help') || args.includes('-h')) {
        process.stdout.write(command.help);
        return;
      }
      await command.run(args);
    })
    .catch((err: unknown) => {
      if (isCdnError(err)) {
        process.stderr.write(`cdn ${name}: ${err.message}\n`);
      } else {
        process.stderr.write(`cdn ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      }
      process.exit(1);
    });
}
