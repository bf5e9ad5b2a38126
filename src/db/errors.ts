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

/** What the caller is told for each refusal: what broke, named, and what to change. */
function refusalDetail(code: string, constraint: string | undefined, column: string | undefined, message: string | undefined): string {
  const theColumn = column ? `the column "${column}"` : 'a column';
  const theConstraint = constraint ? `the constraint "${constraint}"` : 'a constraint';
  switch (code) {
    case '23505':
      return `Another profile already holds this value (${theConstraint}${column ? ` on "${column}"` : ''}). Change the value in the user's auth data, or the other profile, so that they differ.`;
    case '23503':
      return `The row names a row that does not exist (${theConstraint}${column ? ` on "${column}"` : ''}). Create that row first, or map the field to a value that exists.`;
    case '23P01':
      return `The row overlaps another under ${theConstraint}. Change the value in the user's auth data, or the other row.`;
    case '23502':
      return `${column ? `The column "${column}"` : 'A column'} cannot be empty, and the user's auth data gives it no value. Map a field that has one (FIELD_MAP), or give the column a default.`;
    case '23514':
      return `The row breaks ${theConstraint}. Change the value in the user's auth data, or the constraint.`;
    case '22001':
      return `A value is longer than ${theColumn} allows. Shorten it in the user's auth data, or widen the column.`;
    case '22003':
      return `A number is out of the range of ${theColumn}. Change it in the user's auth data, or widen the column's type.`;
    default: {
      // The type's name only, from "invalid input syntax for type uuid: ..."; never the value.
      const type = /for type ([a-z0-9 _]+)/i.exec(message ?? '')?.[1];
      return `A value in the user's auth data is not a valid ${type ?? 'value'} for ${theColumn}. Correct the value, or map another field to the column (FIELD_MAP).`;
    }
  }
}

/**
 * Converts an error raised while writing (or casting) a profile row into the problem the caller
 * should see: the constraint and column when the database names them, and what to change. The
 * database's own message (which may quote other users' values) and its SQLSTATE are not passed
 * on; they stay on the problem's `cause`, which the error handler logs under the request id.
 * Returns undefined for errors that are not about the row's data.
 */
export function profileWriteProblem(error: unknown): ProblemError | undefined {
  if (isDatabaseUnavailable(error)) return databaseUnavailable(error);
  const { code, constraint, column, message } = asPgError(error);
  if (code === undefined) return undefined;
  const extensions = { ...(constraint ? { constraint } : {}), ...(column ? { column } : {}) };
  const detail = refusalDetail(code, constraint, column, message);
  if (code === '23505' || code === '23503' || code === '23P01') {
    return new ProblemError('profile_conflict', detail, { extensions, cause: error });
  }
  // Class 23 (integrity constraints: NOT NULL, CHECK) and class 22 (data exceptions: a value the
  // column's type cannot hold, a string too long) are both the mapped data's fault.
  if (code.startsWith('23') || code.startsWith('22')) {
    return new ProblemError('profile_rejected', detail, { extensions, cause: error });
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
