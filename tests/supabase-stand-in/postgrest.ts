/**
 * `/rest/v1/…` as PostgREST (v13, as Supabase runs it) answers it: reads, inserts and upserts,
 * updates and deletes on the tables of the exposed schemas, and the OpenAPI document at the root.
 * Statuses, `Content-Range`, `Preference-Applied` and error bodies follow PostgREST.Response and
 * PostgREST.Error; the SQL follows PostgREST.Query (see postgrest-sql.ts).
 */
import type { Queryable } from '../../src/db/sql-client.ts';
import { header, headerValues, type StandInRequest, type StandInResponse } from './exchange.ts';
import { loadTable, loadTables, tableNames, type Column, type Table } from './postgrest-catalog.ts';
import { openApiDocument } from './postgrest-openapi.ts';
import { fromPgError, notImplemented, PostgrestError } from './postgrest-errors.ts';
import { parsePreferences, parseQueryParams, type Preferences } from './postgrest-params.ts';
import { deleteStatement, insertStatement, readStatement, SINGULAR_MARKER, updateStatement, type Rendering, type ResultRow } from './postgrest-sql.ts';
import { isPgError, SqlParams } from './sql.ts';

/** The version the OpenAPI document reports. */
const POSTGREST_VERSION = '13.0.5';
const JSON_TYPE = 'application/json; charset=utf-8';

export interface PostgrestOptions {
  sql: Queryable;
  serviceKey: string;
  /** Exposed schemas; the first is the default (Supabase exposes public and graphql_public). */
  schemas: readonly string[];
  /** host:port, for the OpenAPI document. */
  host: () => string;
}

export function createPostgrest(options: PostgrestOptions): (request: StandInRequest) => Promise<StandInResponse> {
  return async (request) => {
    try {
      checkJwt(request, options.serviceKey);
      const { schema, negotiated } = negotiateSchema(request, options.schemas);
      const profile: Record<string, string> = negotiated ? { 'content-profile': schema } : {};
      if (request.path === '' || request.path === '/') return await root(request, options, schema, profile);
      const segments = request.path.slice(1).split('/');
      if (segments[0] === 'rpc' && segments.length === 2) throw notImplemented('calling functions (/rpc)');
      if (segments.length !== 1) throw new PostgrestError(404, 'PGRST125', 'Invalid path specified in request URL');
      const name = decodeURIComponent(segments[0]!);
      const table = await loadTable(options.sql, schema, name);
      if (!table) throw await tableNotFound(options.sql, schema, name);
      const context: Context = { sql: options.sql, request, table, profile, preferences: parsePreferences(headerValues(request, 'prefer')) };
      switch (request.method) {
        case 'GET':
        case 'HEAD':
          return await read(context);
        case 'POST':
          return await insert(context);
        case 'PATCH':
          return await update(context);
        case 'DELETE':
          return await remove(context);
        case 'PUT':
          throw notImplemented('PUT (single-row upsert)');
        default:
          throw new PostgrestError(405, 'PGRST117', `Unsupported HTTP method: ${request.method}`);
      }
    } catch (error) {
      return errorResponse(error);
    }
  };
}

interface Context {
  sql: Queryable;
  request: StandInRequest;
  table: Table;
  profile: Record<string, string>;
  preferences: Preferences;
}

/**
 * The gateway has already checked `apikey`; PostgREST then verifies the bearer JWT. The stand-in
 * only knows the service key: any other token fails as a JWT signed with another key does. A
 * request without a bearer runs as the apikey's role, as Supabase's gateway arranges.
 */
function checkJwt(request: StandInRequest, serviceKey: string): void {
  const authorization = header(request, 'authorization');
  const token = authorization === undefined ? undefined : /^bearer (.*)$/i.exec(authorization)?.[1];
  if (token === undefined || token === serviceKey) return;
  const parts = token.split('.').length;
  const [message, details] =
    token === ''
      ? ['Empty JWT is sent in Authorization header', null]
      : parts !== 3
        ? [`Expected 3 parts in JWT; got ${parts}`, null]
        : ['No suitable key or wrong key type', 'None of the keys was able to decode the JWT'];
  throw new PostgrestError(401, 'PGRST301', message, details, null, {
    'www-authenticate': `Bearer error="invalid_token", error_description=${JSON.stringify(message)}`,
  });
}

/** Accept-Profile on reads, Content-Profile on writes; anything not exposed is a 406. */
function negotiateSchema(request: StandInRequest, schemas: readonly string[]): { schema: string; negotiated: boolean } {
  const reading = request.method === 'GET' || request.method === 'HEAD';
  const requested = header(request, reading ? 'accept-profile' : 'content-profile');
  if (requested === undefined) return { schema: schemas[0]!, negotiated: false };
  if (!schemas.includes(requested)) {
    throw new PostgrestError(406, 'PGRST106', `Invalid schema: ${requested}`, null, `Only the following schemas are exposed: ${schemas.join(', ')}`);
  }
  return { schema: requested, negotiated: true };
}

async function root(request: StandInRequest, options: PostgrestOptions, schema: string, profile: Record<string, string>): Promise<StandInResponse> {
  if (request.method !== 'GET' && request.method !== 'HEAD') throw new PostgrestError(405, 'PGRST117', `Unsupported HTTP method: ${request.method}`);
  const accept = acceptedTypes(request);
  if (accept.length > 0 && !accept.some((type) => ['application/openapi+json', 'application/json', '*/*', 'application/*'].includes(type.mime))) {
    throw mediaTypeError(accept.map((type) => type.raw));
  }
  const [described] = await options.sql.query<{ description: string | null }>(
    `SELECT obj_description(oid, 'pg_namespace') AS description FROM pg_namespace WHERE nspname = $1::text`,
    [schema],
  );
  const document = openApiDocument({
    tables: await loadTables(options.sql, schema),
    schemaDescription: described?.description ?? null,
    host: options.host(),
    version: POSTGREST_VERSION,
  });
  return { status: 200, headers: { 'content-type': 'application/openapi+json; charset=utf-8', ...profile }, body: JSON.stringify(document) };
}

/** PGRST205, with PostgREST's "Perhaps you meant" hint for a table name at least 75% alike. */
async function tableNotFound(sql: Queryable, schema: string, name: string): Promise<PostgrestError> {
  let best: { table: string; score: number } | undefined;
  for (const table of await tableNames(sql, schema)) {
    const score = similarity(name.toLowerCase(), table.toLowerCase());
    if (score >= 0.75 && (!best || score > best.score)) best = { table, score };
  }
  return new PostgrestError(
    404,
    'PGRST205',
    `Could not find the table '${schema}.${name}' in the schema cache`,
    null,
    best ? `Perhaps you meant the table '${schema}.${best.table}'` : null,
  );
}

/** 1 - Levenshtein distance / longer length: the score PostgREST's fuzzy set ends up with. */
function similarity(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = previous[j]!;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return 1 - previous[b.length]! / Math.max(a.length, b.length, 1);
}

interface AcceptedType {
  raw: string;
  mime: string;
  stripNulls: boolean;
}

function acceptedTypes(request: StandInRequest): AcceptedType[] {
  const accept = header(request, 'accept');
  if (!accept) return [];
  return accept
    .split(',')
    .map((raw) => raw.trim())
    .filter((raw) => raw !== '')
    .map((raw) => {
      const [mime, ...parameters] = raw.split(';').map((part) => part.trim());
      return { raw, mime: mime!.toLowerCase(), stripNulls: parameters.includes('nulls=stripped') };
    });
}

/** JSON array (the default), JSON array without nulls, or one object (`.single()`). */
function negotiateRendering(request: StandInRequest): Rendering {
  const accepted = acceptedTypes(request);
  if (accepted.length === 0) return { shape: 'array', stripNulls: false };
  for (const type of accepted) {
    if (['application/json', '*/*', 'application/*'].includes(type.mime)) return { shape: 'array', stripNulls: false };
    if (type.mime === 'application/vnd.pgrst.array+json') return { shape: 'array', stripNulls: type.stripNulls };
    if (type.mime === 'application/vnd.pgrst.object+json') return { shape: 'single', stripNulls: type.stripNulls };
  }
  throw mediaTypeError(accepted.map((type) => type.raw));
}

function mediaTypeError(types: string[]): PostgrestError {
  return new PostgrestError(406, 'PGRST107', `None of these media types are available: ${types.join(', ')}`);
}

function contentType(rendering: Rendering): string {
  if (rendering.shape === 'single') return `application/vnd.pgrst.object+json${rendering.stripNulls ? ';nulls=stripped' : ''}; charset=utf-8`;
  return rendering.stripNulls ? 'application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8' : JSON_TYPE;
}

function singularityError(rows: number): PostgrestError {
  return new PostgrestError(406, 'PGRST116', 'Cannot coerce the result to a single JSON object', `The result contains ${rows} rows`);
}

/** `Content-Range: first-last/total`, `*` where PostgREST writes it (RangeQuery.contentRangeH). */
function contentRange(lower: number, upper: number, total: number | null): string {
  const range = total !== 0 && lower <= upper ? `${lower}-${upper}` : '*';
  return `${range}/${total ?? '*'}`;
}

/** `Preference-Applied`, in PostgREST's order: resolution, missing, return, count. */
function preferenceApplied(values: Array<string | undefined>): Record<string, string> {
  const applied = values.filter((value): value is string => value !== undefined);
  return applied.length === 0 ? {} : { 'preference-applied': applied.join(', ') };
}

async function runStatement(sql: Queryable, statement: string, params: SqlParams): Promise<ResultRow> {
  const [row] = await sql.query<ResultRow>(statement, params.values);
  return row!;
}

async function read(context: Context): Promise<StandInResponse> {
  const { request, table, preferences } = context;
  const query = parseQueryParams(request.query);
  if (query.limit !== undefined && query.limit < 0) {
    throw new PostgrestError(416, 'PGRST103', 'Requested range not satisfiable', 'Limit should be greater than or equal to zero.');
  }
  const rendering = negotiateRendering(request);
  const params = new SqlParams();
  // Planned and estimated counts are exact here: a test database is small.
  const counting = preferences.count !== undefined;
  const statement = readStatement({ table, ...query, count: counting, rendering, params });
  const row = await runStatement(context.sql, statement, params);
  if (rendering.shape === 'single' && row.page_total !== 1) throw singularityError(row.page_total);

  const lower = query.offset;
  const upper = lower + row.page_total - 1;
  const total = row.total_result_set;
  if (total !== null && lower > total) {
    throw new PostgrestError(416, 'PGRST103', 'Requested range not satisfiable', `An offset of ${lower} was requested, but there are only ${total} rows.`, null, {
      'content-range': contentRange(lower, upper, total),
    });
  }
  const status = total !== null && 1 + upper - lower < total ? 206 : 200;
  const canonical = [...request.query].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const location = `/${table.name}${canonical.length === 0 ? '' : `?${new URLSearchParams(canonical).toString()}`}`;
  return {
    status,
    headers: {
      'content-range': contentRange(lower, upper, total),
      // PostgREST echoes the query here. Only a stand-in with no URL limit sees URLs long enough
      // to matter, and a 40 KB response header would overflow Node's fetch (16 KB): left out.
      ...(location.length <= 4096 ? { 'content-location': location } : {}),
      'content-type': contentType(rendering),
      ...context.profile,
      ...preferenceApplied([preferences.count && `count=${preferences.count}`]),
    },
    body: request.method === 'HEAD' ? '' : row.body,
  };
}

interface Payload {
  columns: Column[];
  isObject: boolean;
}

/**
 * The payload's columns: `?columns=` when given (the body then goes to PostgreSQL unread), else
 * the keys of the object, or of every object of the array, which must all have the same keys.
 */
function readPayload(context: Context, columnsParam: string[] | undefined): Payload {
  const text = context.request.body ?? '';
  const isObject = text.trimStart().startsWith('{');
  let keys: string[];
  if (columnsParam) {
    keys = columnsParam;
  } else {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new PostgrestError(400, 'PGRST102', 'Empty or invalid json');
    }
    const keysOf = (value: unknown) => (value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value).sort() : undefined);
    if (Array.isArray(json)) {
      const first = json.length === 0 ? [] : keysOf(json[0]);
      const uniform = first !== undefined && json.every((element) => keysOf(element)?.join('\u0000') === first.join('\u0000'));
      if (!uniform) throw new PostgrestError(400, 'PGRST102', 'All object keys must match');
      keys = first;
    } else {
      const own = keysOf(json);
      if (own === undefined) throw new PostgrestError(400, 'PGRST102', 'All object keys must match');
      keys = own;
    }
  }
  const columns = keys.map((key) => {
    const column = context.table.columns.find((candidate) => candidate.name === key);
    if (!column) throw new PostgrestError(400, 'PGRST204', `Could not find the '${key}' column of '${context.table.name}' in the schema cache`);
    return column;
  });
  return { columns, isObject };
}

/** The rendering of a mutation's rows, when `Prefer: return=representation` asks for them. */
function mutationRendering(context: Context): Rendering | undefined {
  const rendering = negotiateRendering(context.request);
  return context.preferences.representation === 'representation' ? rendering : undefined;
}

function mutationHeaders(context: Context, rendering: Rendering | undefined, range: string, applied: Array<string | undefined>): Record<string, string> {
  return {
    'content-range': range,
    ...(rendering ? { 'content-type': contentType(rendering), ...context.profile } : {}),
    ...preferenceApplied(applied),
  };
}

async function insert(context: Context): Promise<StandInResponse> {
  const { table, preferences } = context;
  const query = parseQueryParams(context.request.query);
  const payload = readPayload(context, query.columns);
  const rendering = mutationRendering(context);
  // An upsert conflicts on ?on_conflict=, else on the primary key; without either it is a plain insert.
  const primaryKey = table.columns.filter((column) => column.isPrimaryKey).map((column) => column.name);
  const conflictColumns = query.onConflict ?? primaryKey;
  const conflict = preferences.resolution && conflictColumns.length > 0 ? { resolution: preferences.resolution, columns: conflictColumns } : undefined;
  const params = new SqlParams();
  const statement = insertStatement({
    table,
    columns: payload.columns,
    body: context.request.body ?? '',
    isObject: payload.isObject,
    applyDefaults: preferences.missing === 'default',
    params,
    select: query.select,
    rendering,
    conflict,
  });
  const row = await runStatement(context.sql, statement, params);
  const upsertOnlyUpdated = conflict?.resolution === 'merge-duplicates' && (row.response_inserted ?? 0) <= 0;
  const counted = preferences.count ? row.page_total : null;
  return {
    status: upsertOnlyUpdated ? 200 : 201,
    headers: mutationHeaders(context, rendering, contentRange(1, 0, counted), [
      conflict && `resolution=${conflict.resolution}`,
      preferences.missing && `missing=${preferences.missing}`,
      preferences.representation && `return=${preferences.representation}`,
      preferences.count && `count=${preferences.count}`,
    ]),
    body: rendering ? row.body : '',
  };
}

async function update(context: Context): Promise<StandInResponse> {
  const { table, preferences } = context;
  const query = parseQueryParams(context.request.query);
  if (query.limit !== undefined || query.offset !== 0) throw notImplemented('limit/offset on PATCH');
  const payload = readPayload(context, query.columns);
  const rendering = mutationRendering(context);
  const params = new SqlParams();
  const statement = updateStatement({
    table,
    columns: payload.columns,
    body: context.request.body ?? '',
    isObject: payload.isObject,
    applyDefaults: preferences.missing === 'default',
    params,
    select: query.select,
    rendering,
    where: query.where,
  });
  const row = await runStatement(context.sql, statement, params);
  return {
    status: rendering ? 200 : 204,
    headers: mutationHeaders(context, rendering, contentRange(0, row.page_total - 1, preferences.count ? row.page_total : null), [
      preferences.missing && `missing=${preferences.missing}`,
      preferences.representation && `return=${preferences.representation}`,
      preferences.count && `count=${preferences.count}`,
    ]),
    body: rendering ? row.body : '',
  };
}

async function remove(context: Context): Promise<StandInResponse> {
  const { table, preferences } = context;
  const query = parseQueryParams(context.request.query);
  if (query.limit !== undefined || query.offset !== 0) throw notImplemented('limit/offset on DELETE');
  const rendering = mutationRendering(context);
  const params = new SqlParams();
  const statement = deleteStatement({ table, where: query.where, params, select: query.select, rendering });
  const row = await runStatement(context.sql, statement, params);
  return {
    status: rendering ? 200 : 204,
    headers: mutationHeaders(context, rendering, contentRange(1, 0, preferences.count ? row.page_total : null), [
      preferences.representation && `return=${preferences.representation}`,
      preferences.count && `count=${preferences.count}`,
    ]),
    body: rendering ? row.body : '',
  };
}

function errorResponse(error: unknown): StandInResponse {
  let failure: PostgrestError;
  if (error instanceof PostgrestError) {
    failure = error;
  } else if (isPgError(error)) {
    const singular = error.code === '22P02' ? new RegExp(`"${SINGULAR_MARKER}(\\d+)"`).exec(error.message) : null;
    failure = singular ? singularityError(Number(singular[1])) : fromPgError(error);
  } else {
    failure = new PostgrestError(500, 'PGRSTX00', error instanceof Error ? error.message : String(error));
  }
  return {
    status: failure.status,
    headers: { 'content-type': JSON_TYPE, 'proxy-status': `PostgREST; error=${failure.body.code}`, ...failure.headers },
    body: JSON.stringify(failure.body),
  };
}
