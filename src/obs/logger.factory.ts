/**
 * The pino logger factory. JSON lines on stdout; secrets are redacted by path so a
 * stray `authorization` header or Basic Auth password never reaches a log.
 */
import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function createLogger(options: { name: string; level: LevelWithSilent; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level,
      base: { role: options.name },
      redact: {
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          '*.password',
          '*.passwordCiphertext',
          'basicAuth',
          '*.basicAuth',
          'token',
          '*.token',
        ],
        censor: '[redacted]',
      },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}
