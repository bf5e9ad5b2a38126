/**
 * Logger settings. Secrets never reach the logs: request logs carry no headers by default, and
 * these paths are redacted wherever they appear, in case a header, a config object or a webhook
 * record is ever logged.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger, LoggerOptions } from 'pino';

/** The little of a logger that start-up code needs; Fastify's and pino's both fit. */
export type Log = Pick<Logger, 'info' | 'warn' | 'error'>;

/**
 * Keys whose values are secrets, at any of the first three levels of a logged object: request
 * headers, config, and the `auth.users` token columns a Database Webhook record carries.
 * (pino's redaction takes exact keys or whole-segment wildcards, so each column is named.)
 */
const SECRET_KEYS = [
  'authorization',
  'cookie',
  'apikey',
  'token',
  'secret',
  'password',
  'encrypted_password',
  'confirmation_token',
  'recovery_token',
  'email_change_token_new',
  'email_change_token_current',
  'phone_change_token',
  'reauthentication_token',
  'access_token',
  'refresh_token',
  'serviceKey',
  'serviceTokens',
];

/** Keys that are not identifiers need pino's bracket form, which cannot start a path. */
const SECRET_HEADER_KEYS = ['webhook-signature'];

export const REDACTED_PATHS = [
  ...SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]),
  ...SECRET_HEADER_KEYS.flatMap((key) => [`*["${key}"]`, `*.*["${key}"]`, `*.*.*["${key}"]`]),
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
