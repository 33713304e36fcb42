/**
 * `cdn token`: create, list and revoke API tokens from the command line, with the database
 * and secret the api uses — how the first tokens are made (bootstrap), and how an operator
 * revokes one without GraphQL.
 */
import { loadTokenToolConfig } from '../api/config';
import { createDataSource, migrate } from '../api/db/data-source';
import { Database } from '../api/db/database';
import { tokenSigningKey } from '../api/services/token-signing';
import { TokenService, TOKEN_EXPIRES_IN_DEFAULT } from '../api/services/token.service';
import { cdnError, invalidInput } from '../core/errors';
import { ROLES } from '../core/roles';
import { escapeForbidden } from '../core/text.rules';
import { createLogger } from '../obs/logger.factory';
import { ensureDir } from './data-dir';
import { lockDataDir, type DataDirLock } from './data-dir.lock';
import { createRevocations } from './wiring';

export const TOKEN_HELP = `Usage:
  cdn token create --role <role> [--customer <id>] [--name <text>] [--expires-in <90d|12h|30m|3600s>]
  cdn token list [--customer <id>]
  cdn token revoke <token id>

Roles: ${ROLES.join(', ')}. Customer roles need --customer; platform roles take none.
"create" prints the token once, on stdout (nothing else is printed there): store it now.
Uses DATABASE_URL (or PGlite under CDN_DATA_DIR), CDN_SECRET_KEY (the api's) and, to tell
running api processes about a revocation at once, REDIS_URL and CDN_REDIS_PREFIX.
PGlite allows one process: while \`npm start\` runs on CDN_DATA_DIR this refuses; use the
\`createToken\` mutation with its admin token, or stop it first (its key: CDN_DATA_DIR/secret-key).
Default expiry: ${TOKEN_EXPIRES_IN_DEFAULT}.
`;

const ADMIN = { kind: 'admin', role: 'admin' } as const;

export async function runToken(args: string[]): Promise<void> {
  const [verb, ...rest] = args;
  const flags = parseFlags(rest);
  const config = loadTokenToolConfig(process.env);
  const logger = createLogger({ name: 'cdn-token', level: 'warn' });
  let lock: DataDirLock | undefined;
  if (config.databaseUrl === undefined) {
    await ensureDir(config.dataDir);
    // Refuses while `npm start` (or any cdn process) has this embedded database open: a token
    // written beside it would be lost and never accepted.
    lock = lockDataDir(config.dataDir, `cdn token ${verb ?? ''}`.trim());
  }
  const dataSource = createDataSource({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await dataSource.initialize();
  const revocations = createRevocations({ redis: config.redis, prefix: config.redisPrefix, logger });
  try {
    await migrate(dataSource);
    const tokens = new TokenService({ db: new Database(dataSource), key: tokenSigningKey(config.secretKey), revocations, logger });
    switch (verb) {
      case 'create': {
        if (flags.role === undefined) throw invalidInput([{ field: '--role', message: `is required: one of ${ROLES.join(', ')}` }]);
        const { token, secret } = await tokens.create('cli', {
          name: flags.name ?? `${flags.role} token (cli)`,
          role: flags.role,
          customerId: flags.customer,
          expiresIn: flags['expires-in'],
        });
        process.stderr.write(`Created token ${token.id} (${token.role}${token.customerId ? ` of ${token.customerId}` : ''}), expires ${token.expiresAt.toISOString()}. It is shown once:\n`);
        process.stdout.write(`${secret}\n`);
        return;
      }
      case 'list': {
        const rows = await tokens.list(ADMIN, flags.customer);
        for (const t of rows) {
          const state = t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : t.expiresAt.getTime() <= Date.now() ? 'expired' : `expires ${t.expiresAt.toISOString()}`;
          process.stdout.write(`${t.id}  ${t.role.padEnd(15)}  ${(t.customerId ?? '-').padEnd(20)}  ${state}  ${escapeForbidden(t.name)}\n`);
        }
        return;
      }
      case 'revoke': {
        const id = rest.find((a) => !a.startsWith('--'));
        if (id === undefined) throw invalidInput([{ field: '<token id>', message: 'is required (see cdn token list)' }]);
        const token = await tokens.revoke(ADMIN, id);
        process.stdout.write(`Revoked token ${token.id} (${escapeForbidden(token.name)}).\n`);
        return;
      }
      default:
        throw cdnError('CDN_ERR_INPUT_INVALID', [{ field: 'command', message: `unknown "${verb ?? ''}": use create, list or revoke (cdn token --help)` }]);
    }
  } finally {
    await revocations.close();
    await dataSource.destroy();
    lock?.release();
  }
}

function parseFlags(args: string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (let i = 0; i < args.length; i += 1) {
    const a = args[i]!;
    if (!a.startsWith('--')) continue;
    const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    out[name] = inline ?? args[++i];
  }
  return out;
}
