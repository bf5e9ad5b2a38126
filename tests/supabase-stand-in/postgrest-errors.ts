/**
 * PostgREST's error answers: the body `{code, details, hint, message}` (keys in that order, as
 * PostgREST's encoder sorts them), the `Proxy-Status` header, and the HTTP status PostgREST picks
 * for each PostgreSQL SQLSTATE (PostgREST.Error.mapSQLtoHTTP, for an authenticated request).
 */
import type { PgError } from './sql.ts';

export interface PostgrestErrorBody {
  code: string;
  details: string | null;
  hint: string | null;
  message: string;
}

/** Thrown anywhere while serving a /rest/v1 request; turned into the response as it stands. */
export class PostgrestError extends Error {
  readonly status: number;
  readonly body: PostgrestErrorBody;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, details: string | null = null, hint: string | null = null, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.body = { code, details, hint, message };
    this.headers = headers;
  }
}

/** A query-string parse failure (PGRST100), worded like PostgREST's Parsec messages. */
export const queryParamError = (message: string, details: string) => new PostgrestError(400, 'PGRST100', message, details);

/** Something PostgREST does that the stand-in does not: PostgREST's own "not implemented" code. */
export const notImplemented = (what: string) =>
  new PostgrestError(400, 'PGRST127', 'Feature not implemented', `The Supabase stand-in does not support ${what}`);

export function fromPgError(error: PgError): PostgrestError {
  return new PostgrestError(statusForSqlState(error.code, error.message), error.code, error.message, error.detail ?? null, error.hint ?? null);
}

/** PostgREST.Error.mapSQLtoHTTP, with `authed` true (the stand-in only serves the service role). */
export function statusForSqlState(code: string, message: string): number {
  switch (code) {
    case '23503': // foreign_key_violation
    case '23505': // unique_violation
      return 409;
    case '25006': // read_only_sql_transaction
      return 405;
    case '21000': // cardinality_violation: pg-safeupdate's refusal is the client's fault
      return message.endsWith('requires a WHERE clause') ? 400 : 500;
    case '22023': // invalid_parameter_value, or a JWT role that does not exist
      return message.startsWith('role') && message.endsWith('does not exist') ? 401 : 400;
    case '53400':
      return 500;
    case '57P01':
      return 503;
    case 'P0001': // RAISE without a SQLSTATE
      return 400;
    case '42883': // undefined_function
      return message.startsWith('function xmlagg(') ? 406 : 404;
    case '42P01': // undefined_table
      return 404;
    case '42P17': // infinite recursion
      return 500;
    case '42501': // insufficient_privilege, for an authenticated role
      return 403;
  }
  const byClass: Record<string, number> = {
    '08': 503, // connection exception
    '09': 500, // triggered action exception
    '0L': 403, // invalid grantor
    '0P': 403, // invalid role specification
    '25': 500, // invalid transaction state
    '28': 403, // invalid authorization specification
    '2D': 500, // invalid transaction termination
    '38': 500, // external routine exception
    '39': 500, // external routine invocation exception
    '3B': 500, // savepoint exception
    '40': 500, // transaction rollback
    '53': 503, // insufficient resources
    '54': 500, // program limit exceeded
    '55': 500, // object not in prerequisite state
    '57': 500, // operator intervention
    '58': 500, // system error
    F0: 500, // configuration file error
    HV: 500, // foreign data wrapper error
    P0: 500, // PL/pgSQL error
    XX: 500, // internal error
  };
  const status = byClass[code.slice(0, 2)];
  if (status !== undefined) return status;
  // RAISE SQLSTATE 'PT402' and the like: the status is in the code.
  if (code.startsWith('PT')) {
    const custom = Number(code.slice(2));
    return Number.isInteger(custom) && custom >= 100 && custom <= 599 ? custom : 500;
  }
  return 400;
}
