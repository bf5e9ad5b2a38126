/**
 * The catalogue of errors the service answers with: each has a stable `code`, its true HTTP
 * status and a title. Bodies are RFC 9457 problem+json; `detail` is safe to show a caller and
 * never holds internal detail (SQL, stack traces, secrets).
 * @see https://www.rfc-editor.org/rfc/rfc9457
 */

/** Problem types are URNs: stable identifiers that promise no web page. The README lists them. */
export const PROBLEM_TYPE_BASE = 'urn:supabase-user-sync:problem:';

export const problemCatalogue = {
  invalid_request: { status: 400, title: 'The request is not valid' },
  invalid_user_id: { status: 400, title: 'The user id is not a UUID' },
  invalid_cursor: { status: 400, title: 'The cursor is not one this service issued' },
  unauthorized: { status: 401, title: 'Missing or invalid credentials' },
  token_expired: { status: 401, title: 'The access token has expired' },
  invalid_token: { status: 401, title: 'The access token is not valid' },
  webhook_signature_invalid: { status: 401, title: 'The webhook signature is missing or does not match' },
  webhook_timestamp_invalid: { status: 401, title: 'The webhook timestamp is more than 5 minutes off' },
  forbidden: { status: 403, title: 'Not allowed' },
  user_not_found: { status: 404, title: 'User not found' },
  route_not_found: { status: 404, title: 'No such route' },
  job_not_found: { status: 404, title: 'No such reconcile job' },
  profile_conflict: { status: 409, title: 'The profile row conflicts with another row' },
  email_taken: { status: 409, title: 'A user with this email address already exists' },
  capture_unavailable: { status: 409, title: 'Capture needs a SQL back end' },
  body_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type' },
  profile_rejected: { status: 422, title: 'The database refused the profile row' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal error' },
  overloaded: { status: 503, title: 'The service is overloaded' },
  shutting_down: { status: 503, title: 'The service is shutting down' },
  database_unavailable: { status: 503, title: 'The database is unavailable' },
  supabase_unavailable: { status: 503, title: 'The Supabase API did not answer' },
  supabase_unauthorized: { status: 503, title: 'Supabase refused the service key' },
  auth_keys_unavailable: { status: 503, title: "The project's signing keys could not be fetched" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof problemCatalogue;

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  [extension: string]: unknown;
}

/** An error that is answered as a problem. Throw it from anywhere; the error handler renders it. */
export class ProblemError extends Error {
  override name = 'ProblemError';
  readonly code: ProblemCode;
  readonly status: number;
  readonly extensions: Record<string, unknown>;
  /** Seconds a client should wait before retrying (429, 503). */
  readonly retryAfter: number | undefined;

  constructor(
    code: ProblemCode,
    detail: string,
    options: { extensions?: Record<string, unknown>; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(detail, { cause: options.cause });
    this.code = code;
    this.status = problemCatalogue[code].status;
    this.extensions = options.extensions ?? {};
    this.retryAfter = options.retryAfter;
  }

  toProblem(): Problem {
    return {
      type: PROBLEM_TYPE_BASE + this.code,
      title: problemCatalogue[this.code].title,
      status: this.status,
      detail: this.message,
      code: this.code,
      ...this.extensions,
    };
  }
}

/** An anonymous user while the rules give anonymous users no profile (SYNC_ANONYMOUS_USERS off). */
export class AnonymousUserRefused extends ProblemError {
  constructor(userId: string) {
    super('forbidden', `The user ${userId} is an anonymous sign-in, and anonymous users get no profile (SYNC_ANONYMOUS_USERS is off).`);
  }
}

export const userNotFound = (userId: string) =>
  new ProblemError('user_not_found', `No user ${userId} in auth.users and no profile row for it.`);

export const databaseUnavailable = (cause: unknown) =>
  new ProblemError('database_unavailable', 'The database did not answer; retry shortly.', { retryAfter: 5, cause });
