/**
 * Tells apart the database errors the caller caused (a profile row the table refuses: 409/422)
 * from the ones nobody caused (the database is down: 503, retry) and from bugs (500).
 * @see https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
import { ProblemError, databaseUnavailable } from '../errors/problems.ts';

interface PgLikeError {
  code?: string;
  message?: string;
  constraint?: string;
  column?: string;
  table?: string;
}

const asPgError = (error: unknown): PgLikeError =>
  typeof error === 'object' && error !== null ? error : {};

/** Socket-level failures (Node error codes) and server states that mean "not reachable now". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000', // connection_exception
  '08001',
  '08003',
  '08004',
  '08006',
]);

const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'PGlite is closed',
  'Cannot use a pool after calling end',
];

export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = asPgError(error);
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) return true;
  if (error instanceof AggregateError) return error.errors.some(isDatabaseUnavailable);
  return message !== undefined && UNAVAILABLE_MESSAGES.some((text) => message.includes(text));
}

/**
 * Converts an error raised while writing (or casting) a profile row into the problem the caller
 * should see. Returns undefined for errors that are not about the row's data.
 */
export function profileWriteProblem(error: unknown): ProblemError | undefined {
  if (isDatabaseUnavailable(error)) return databaseUnavailable(error);
  const { code, message, constraint, column } = asPgError(error);
  if (code === undefined) return undefined;
  const extensions = { ...(constraint ? { constraint } : {}), ...(column ? { column } : {}), sqlstate: code };
  if (code === '23505' || code === '23503' || code === '23P01') {
    return new ProblemError('profile_conflict', `The profile table refused the row: ${message ?? code}.`, {
      extensions,
      cause: error,
    });
  }
  // Class 23 (integrity constraints: NOT NULL, CHECK) and class 22 (data exceptions: a value the
  // column's type cannot hold, a string too long) are both the mapped data's fault.
  if (code.startsWith('23') || code.startsWith('22')) {
    return new ProblemError('profile_rejected', `The profile table refused the row: ${message ?? code}.`, {
      extensions,
      cause: error,
    });
  }
  return undefined;
}

/** Runs a statement that writes or casts profile data, turning refusals into 409/422 problems. */
export async function profileStatement<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw profileWriteProblem(error) ?? error;
  }
}
