/**
 * `cdn sign-url`: signs a link offline, with a key's id and secret (createSigningKey shows
 * the secret once), exactly as an edge checks it (core/signed-url.ts). No database, no api:
 * what an application's back end does in a few lines, as a command for scripts and support.
 * The secret comes from the environment or a file, never from the command line (it would
 * show in `ps` and in shell history).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDuration } from '../core/duration.rules';
import { invalidInput, type FieldProblem } from '../core/errors';
import { signPath } from '../core/signed-url';

export const SIGN_URL_HELP = `Usage:
  cdn sign-url --url <https://cdn.example.com/path> --key-id <id> --expires-in <1h|30m|7d|3600>
               [--prefix </downloads/>] [--ip <client address>]

Prints the signed URL on stdout. The key's secret is read from CDN_SIGNING_SECRET, or from the
file named by --secret-file. --prefix signs every path under it (the URL's path must start
with it); --ip binds the link to one client address. Edges refuse the link once it expires
(plus CDN_EDGE_SIGNED_URL_LEEWAY_SECONDS for clock skew).
`;

export async function runSignUrl(args: string[], env: NodeJS.ProcessEnv = process.env, now: () => number = Date.now): Promise<void> {
  const { values } = readArgs(args);
  const problems: FieldProblem[] = [];
  let url: URL | undefined;
  if (values.url === undefined) problems.push({ field: '--url', message: 'is required: the link to sign, such as https://cdn.example.com/file.zip' });
  else {
    try {
      url = new URL(values.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push({ field: '--url', message: 'must be an http or https URL' });
    } catch {
      problems.push({ field: '--url', message: `is not an absolute URL: ${JSON.stringify(values.url).slice(0, 100)}` });
    }
  }
  if (values['key-id'] === undefined) problems.push({ field: '--key-id', message: "is required: the key's id (the customer's signingKeys)" });
  const seconds = values['expires-in'] === undefined ? undefined : parseDuration(values['expires-in']);
  if (seconds === undefined || seconds < 1) problems.push({ field: '--expires-in', message: 'is required: a duration such as 1h, 30m, 7d or 3600 (seconds)' });
  if (values.prefix !== undefined && url !== undefined && (!values.prefix.startsWith('/') || !url.pathname.startsWith(values.prefix))) {
    problems.push({ field: '--prefix', message: `must start with "/" and be a prefix of the URL's path "${url.pathname}"` });
  }
  let secret: string | undefined;
  if (values['secret-file'] !== undefined) {
    try {
      secret = readFileSync(values['secret-file'], 'utf8').trim();
    } catch (err) {
      problems.push({ field: '--secret-file', message: `cannot be read: ${(err as Error).message}` });
    }
  } else secret = env.CDN_SIGNING_SECRET;
  if (problems.length === 0 && (secret === undefined || secret === '')) {
    problems.push({ field: 'CDN_SIGNING_SECRET', message: 'is not set: put the key\'s secret (shown once by createSigningKey) in it, or pass --secret-file' });
  }
  if (problems.length > 0) throw invalidInput(problems);
  const signed = signPath({
    path: url!.pathname,
    query: url!.search.slice(1),
    keyId: values['key-id']!,
    secret: secret!,
    expiresAt: Math.floor(now() / 1000) + seconds!,
    ...(values.prefix !== undefined ? { pathPrefix: values.prefix } : {}),
    ...(values.ip !== undefined ? { clientIp: values.ip } : {}),
  });
  process.stdout.write(`${url!.protocol}//${url!.host}${signed}\n`);
}

function readArgs(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        url: { type: 'string' },
        'key-id': { type: 'string' },
        'expires-in': { type: 'string' },
        prefix: { type: 'string' },
        ip: { type: 'string' },
        'secret-file': { type: 'string' },
      },
      strict: true,
    });
  } catch (err) {
    throw invalidInput([{ field: 'arguments', message: `${(err as Error).message}; see cdn sign-url --help` }]);
  }
}
