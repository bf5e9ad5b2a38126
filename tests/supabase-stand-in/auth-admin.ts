/**
 * `/auth/v1/admin/users` as GoTrue (supabase/auth) answers it: requireAdminCredentials on every
 * admin route, loadUser for `/users/{id}`, offset pagination with `X-Total-Count` and `Link`
 * (internal/api/admin.go, pagination.go), and errors in the shape HandleResponseError picks from
 * the request's `X-Supabase-Api-Version` (internal/api/errors.go).
 */
import type { Queryable } from '../../src/db/sql-client.ts';
import { findUserById, findUsersInAudience } from './auth-users.ts';
import { header, jsonResponse, type StandInRequest, type StandInResponse } from './exchange.ts';

const ADMIN_ROLES = ['service_role', 'supabase_admin'];
/** GoTrue's default audience (GOTRUE_JWT_AUD); admin tokens carry no audience of their own. */
const AUDIENCE = 'authenticated';
const API_VERSION_HEADER = 'x-supabase-api-version';

/** An apierrors.HTTPError: status, error code (may be empty) and message. */
class GoTrueError extends Error {
  readonly status: number;
  readonly errorCode: string;

  constructor(status: number, errorCode: string, message: string) {
    super(message);
    this.status = status;
    this.errorCode = errorCode;
  }
}

export interface AuthAdminOptions {
  sql: Queryable;
  serviceKey: string;
}

export function createAuthAdmin(options: AuthAdminOptions): (request: StandInRequest) => Promise<StandInResponse> {
  return async (request) => {
    try {
      const path = request.path.replace(/\/+$/, '');
      if (!path.startsWith('/admin/') && path !== '/admin') throw notImplemented(request);
      requireAdminCredentials(request, options.serviceKey);
      if (path === '/admin/users') {
        if (request.method !== 'GET') throw notImplemented(request);
        return await listUsers(options.sql, request);
      }
      const userRoute = /^\/admin\/users\/([^/]+)$/.exec(path);
      if (!userRoute) throw notImplemented(request);
      const user = await loadUser(options.sql, decodeURIComponent(userRoute[1]!));
      if (request.method !== 'GET') throw notImplemented(request);
      return jsonResponse(200, user);
    } catch (error) {
      if (error instanceof GoTrueError) return errorResponse(request, error);
      // A panic or a database failure: GoTrue's recoverer and "Database error …" are both a 500.
      return errorResponse(request, new GoTrueError(500, '', error instanceof Error ? error.message : String(error)));
    }
  };
}

/** A route the real GoTrue serves but the stand-in does not: said plainly rather than faked. */
function notImplemented(request: StandInRequest): GoTrueError {
  return new GoTrueError(501, 'not_implemented', `The Supabase stand-in does not implement ${request.method} /auth/v1${request.path}`);
}

/**
 * middleware.go requireAdminCredentials: a bearer token (401 no_authorization without one), a
 * valid JWT (403 bad_jwt), an admin role (403 not_admin). The stand-in can only verify the service
 * key itself; another JWT is read unverified, so one claiming a non-admin role gets not_admin.
 */
function requireAdminCredentials(request: StandInRequest, serviceKey: string): void {
  const token = /^bearer (\S+)$/i.exec(header(request, 'authorization') ?? '')?.[1];
  if (token === undefined) throw new GoTrueError(401, 'no_authorization', 'This endpoint requires a valid Bearer token');
  if (token === serviceKey) return;
  const segments = token.split('.');
  if (segments.length !== 3) {
    throw new GoTrueError(403, 'bad_jwt', 'invalid JWT: unable to parse or verify signature, token is malformed: token contains an invalid number of segments');
  }
  const role = unverifiedRole(segments[1]!);
  if (role !== undefined && !ADMIN_ROLES.includes(role)) throw new GoTrueError(403, 'not_admin', 'User not allowed');
  throw new GoTrueError(403, 'bad_jwt', 'invalid JWT: unable to parse or verify signature, token signature is invalid: signature is invalid');
}

function unverifiedRole(payload: string): string | undefined {
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { role?: unknown };
    return typeof claims.role === 'string' ? claims.role : undefined;
  } catch {
    return undefined;
  }
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** admin.go loadUser: a malformed id is a 404 too, with validation_failed. */
async function loadUser(sql: Queryable, id: string): Promise<Record<string, unknown>> {
  if (!UUID.test(id)) throw new GoTrueError(404, 'validation_failed', 'user_id must be an UUID');
  const user = await findUserById(sql, id);
  if (!user) throw new GoTrueError(404, 'user_not_found', 'User not found');
  return user;
}

/** strconv.ParseUint, with its error text. */
function parseUint(value: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(value)}: invalid syntax`);
  return Number(value);
}

async function listUsers(sql: Queryable, request: StandInRequest): Promise<StandInResponse> {
  const query = request.query;
  const sort = sortParams(query);
  let page = 1;
  let perPage = 50;
  try {
    // supabase-js sends `page=&per_page=` when not given: empty means the default.
    if (query.get('page')) page = parseUint(query.get('page')!);
    if (query.get('per_page')) perPage = parseUint(query.get('per_page')!);
  } catch (error) {
    throw new GoTrueError(400, 'validation_failed', `Bad Pagination Parameters: ${(error as Error).message}`);
  }
  const result = await findUsersInAudience(sql, { aud: AUDIENCE, filter: query.get('filter') ?? '', sort, page, perPage });
  // GoTrue divides by per_page for the page count: per_page=0 panics, and the recoverer answers 500.
  if (perPage === 0) throw new GoTrueError(500, '', 'Internal Server Error');
  return jsonResponse(
    200,
    { users: result.users, aud: AUDIENCE },
    { link: linkHeader(request, page, perPage, result.total), 'x-total-count': String(result.total) },
  );
}

/** sorting.go: `sort=created_at [asc|desc]`, repeated; created_at descending by default. */
function sortParams(query: URLSearchParams): Array<{ field: 'created_at'; direction: 'asc' | 'desc' }> {
  const values = query.getAll('sort');
  if (values.length === 0) return [{ field: 'created_at', direction: 'desc' }];
  return values.map((value) => {
    const [field = '', direction] = value.split(/ (.*)/s);
    if (field !== 'created_at') throw new GoTrueError(400, 'validation_failed', `Bad Sort Parameters: bad field for sort '${field}'`);
    if (direction === undefined) return { field, direction: 'desc' };
    const upper = direction.toUpperCase();
    if (upper !== 'ASC' && upper !== 'DESC') {
      throw new GoTrueError(400, 'validation_failed', `Bad Sort Parameters: bad direction for sort '${direction}', only 'asc' and 'desc' allowed`);
    }
    return { field, direction: upper === 'ASC' ? 'asc' : 'desc' };
  });
}

/**
 * pagination.go addPaginationHeaders: `<url>; rel="next", <url>; rel="last"`, where url is the
 * request's own path as GoTrue sees it (the gateway strips /auth/v1) with `page` replaced and the
 * query re-encoded by Go's url.Values.Encode (keys sorted). supabase-js reads one digit of it.
 */
function linkHeader(request: StandInRequest, page: number, perPage: number, total: number): string {
  const totalPages = Math.ceil(total / perPage);
  const url = (target: number) => {
    const query = new URLSearchParams(request.query);
    query.set('page', String(target));
    return `<${request.path}?${goQueryEncode(query)}>`;
  };
  let link = '';
  if (totalPages > page) link += `${url(page + 1)}; rel="next", `;
  link += `${url(totalPages)}; rel="last"`;
  return link;
}

/** url.Values.Encode: keys sorted, values in order, url.QueryEscape (space as +). */
function goQueryEncode(query: URLSearchParams): string {
  const escape = (text: string) =>
    encodeURIComponent(text)
      .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replaceAll('%20', '+');
  const keys = [...new Set(query.keys())].sort();
  return keys.flatMap((key) => query.getAll(key).map((value) => `${escape(key)}=${escape(value)}`)).join('&');
}

/**
 * errors.go: clients declaring API version 2024-01-01 or later (supabase-js always does) get
 * `{code, message}` and the version echoed in `X-Supabase-Api-Version`; older ones
 * `{code: <status>, error_code, msg}`. `x-sb-error-code` carries the code either way.
 */
function errorResponse(request: StandInRequest, error: GoTrueError): StandInResponse {
  const headers: Record<string, string> = error.errorCode ? { 'x-sb-error-code': error.errorCode } : {};
  const code = error.errorCode || (error.status === 500 ? 'unexpected_failure' : 'unknown');
  if (declaresApiVersion2024(header(request, API_VERSION_HEADER))) {
    return jsonResponse(error.status, { code, message: error.message }, { ...headers, [API_VERSION_HEADER]: '2024-01-01' });
  }
  return jsonResponse(error.status, { code: error.status, error_code: code, msg: error.message }, headers);
}

function declaresApiVersion2024(value: string | undefined): boolean {
  if (!value || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(date) && date >= Date.parse('2024-01-01T00:00:00Z');
}
