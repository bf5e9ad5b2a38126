/**
 * Logger settings. Secrets never reach the logs: request logs carry no headers by default, these
 * keys are redacted wherever they appear in a line's first four levels, in case a header, a config
 * object or a webhook record is ever logged, and every secret value the configuration holds is
 * masked wherever it appears in a line, under whatever key or none.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger, LoggerOptions } from 'pino';

/** The little of a logger that start-up code needs; Fastify's and pino's both fit. */
export type Log = Pick<Logger, 'info' | 'warn' | 'error'>;

/**
 * Keys whose values are secrets: request headers, config, and the `auth.users` token columns a
 * Database Webhook record carries. Matched exactly, so each column is named.
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

/** Header names that are secrets, below the top level (`req.headers[...]`, and deeper). */
const SECRET_HEADER_KEYS = ['webhook-signature'];

const CENSOR = '[redacted]';
/** The top level of a log line is depth 1: `token`, `req.token`, ... `a.b.c.token`. */
const MAX_DEPTH = 4;
const secretKeys = new Set(SECRET_KEYS);
const secretHeaderKeys = new Set(SECRET_HEADER_KEYS);

/** A line that has none of these as a JSON key has nothing to redact (nearly every line). */
const MAY_HOLD_SECRET = new RegExp(
  `"(?:${[...SECRET_KEYS, ...SECRET_HEADER_KEYS].join('|')})":`,
);

function censor(value: unknown, depth: number): void {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (secretKeys.has(key) || (depth > 1 && secretHeaderKeys.has(key))) record[key] = CENSOR;
    else censor(record[key], depth + 1);
  }
}

/**
 * Redacts a finished log line (the logged object and the child bindings alike). Done on the line
 * rather than with pino's `redact` paths: those need wildcards to reach three levels down, and
 * pino runs every wildcard path over every value of every line, which cost ~120 µs per request
 * (two lines) against ~10 µs for this, where a line without a secret key is one regex test.
 */
export function redactLine(line: string): string {
  if (!MAY_HOLD_SECRET.test(line)) return line;
  const parsed = JSON.parse(line) as unknown;
  censor(parsed, 1);
  return `${JSON.stringify(parsed)}\n`;
}

/** Shorter values would mask ordinary words; they are still redacted by key. */
const MIN_MASKED_LENGTH = 8;

/**
 * A line's secrets masked by value, wherever they appear: under any key, at any depth, inside a
 * message or an error's text. Each value is looked for as written and as JSON escapes it; the
 * longest first, so a secret that contains another is masked whole.
 */
export function secretMasker(secrets: readonly string[]): ((line: string) => string) | undefined {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_MASKED_LENGTH) continue;
    forms.add(secret);
    forms.add(JSON.stringify(secret).slice(1, -1));
  }
  if (forms.size === 0) return undefined;
  const escaped = [...forms].sort((a, b) => b.length - a.length).map((form) => form.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const pattern = new RegExp(escaped.join('|'), 'g');
  return (line) => line.replace(pattern, CENSOR);
}

/**
 * `secrets`: every secret value the configuration holds (config.ts `secretValues`), masked by
 * value on top of the redaction by key.
 */
export function loggerOptions(level: string, pretty: boolean, secrets: readonly string[] = []): LoggerOptions {
  const mask = secretMasker(secrets);
  return {
    level,
    hooks: { streamWrite: mask === undefined ? redactLine : (line) => mask(redactLine(line)) },
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

/**
 * One line per request, written when it completes, instead of Fastify's two ("incoming request",
 * then "request completed"): each line cost a serialisation and a write, ~30 µs a request. The
 * line carries what both did: the request (method, url, host, remote address and port), its
 * status, response time, request id and caller. Errors are logged as Fastify logs them. The
 * arrival line stays, at debug level, for the rare question it alone answers: which requests
 * the process read but never answered.
 */
export class RequestLogs extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) {
      reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    } else {
      reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    }
  }
}

/**
 * Names the caller (never its token) on every later line of the request, "request completed"
 * included. Bound on the request's own logger rather than through a child of it: pino's child of
 * a child cost ~10 µs a request, this ~1 µs. Fastify gives the request and its reply one logger.
 */
export function bindCaller(request: FastifyRequest, caller: string): void {
  (request.log as unknown as Pick<Logger, 'setBindings'>).setBindings({ caller });
}
