/**
 * Logger settings. Secrets never reach the logs: request logs carry no headers by default, and
 * these paths are redacted wherever they appear, in case a header, a config object or a webhook
 * record is ever logged.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { LoggerOptions } from 'pino';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers.apikey',
  'req.headers["webhook-signature"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'token',
  'secret',
  'password',
  'encrypted_password',
  '*.token',
  '*.secret',
  '*.password',
  '*.encrypted_password',
  '*.serviceKey',
  '*.serviceTokens',
  '*.*.encrypted_password',
  '*.*_token',
  '*.*.*_token',
];

export function loggerOptions(level: string, pretty: boolean): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
          },
        }
      : {}),
  };
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Takes the caller's `x-request-id` when it is a plain token (so ids can be followed across
 * services) and makes one otherwise: a raw header would let callers write into our logs.
 */
export function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}
