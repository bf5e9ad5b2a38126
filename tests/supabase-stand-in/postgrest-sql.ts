/**
 * The SQL PostgREST runs for a request, rebuilt from its query builder (PostgREST.Query): one
 * statement per request, `WITH pgrst_source AS (…)` then one row with the counts and the JSON
 * body that PostgreSQL renders itself (json_agg), so the response text is PostgreSQL's, not ours.
 * Payloads go through json_to_recordset() with the columns' own types, so PostgreSQL refuses bad
 * values with its own SQLSTATE, exactly as behind PostgREST.
 */
import type { Column, Table } from './postgrest-catalog.ts';
import { PostgrestError, queryParamError } from './postgrest-errors.ts';
import type { Field, Filter, LogicTree, OrderTerm, SelectItem } from './postgrest-params.ts';
import { arrayLiteral, quoteIdent, type SqlParams } from './sql.ts';

export type BodyShape = 'array' | 'single';

export interface Rendering {
  shape: BodyShape;
  stripNulls: boolean;
}

export const tableRef = (table: Table) => `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
const sourceRef = quoteIdent('pgrst_source');

function columnOf(table: Table, name: string): Column | undefined {
  return table.columns.find((column) => column.name === name);
}

function fieldSql(qualifier: string, field: Field, params: SqlParams): string {
  let sql = `${qualifier}.${quoteIdent(field.name)}`;
  for (const step of field.path) sql += step.arrow + (step.isIndex ? String(Number(step.key)) : params.text(step.key));
  return sql;
}

/** The type an operand is cast to: the column's, text after `->>`, none for an unknown column (PostgreSQL reports it). */
function operandType(table: Table, field: Field): string | undefined {
  const column = columnOf(table, field.name);
  if (!column) return undefined;
  if (field.path.length === 0) return column.castType;
  return field.path.at(-1)!.arrow === '->>' ? 'text' : column.castType;
}

const compareSql = { eq: '=', gte: '>=', gt: '>', lte: '<=', lt: '<', like: 'LIKE', ilike: 'ILIKE', match: '~', imatch: '~*' } as const;
const simpleSql = { neq: '<>', cs: '@>', cd: '<@', ov: '&&', sl: '<<', sr: '>>', nxr: '&<', nxl: '&>', adj: '-|-' } as const;
const ftsFunction = { fts: 'to_tsquery', plfts: 'plainto_tsquery', phfts: 'phraseto_tsquery', wfts: 'websearch_to_tsquery' } as const;

function filterSql(filter: Filter, qualifier: string, table: Table, params: SqlParams): string {
  const left = fieldSql(qualifier, filter.field, params);
  const type = operandType(table, filter.field);
  const operand = (value: string) => (type ? params.cast(value, type) : params.text(value));
  const operation = filter.operation;
  let sql: string;
  switch (operation.kind) {
    case 'compare': {
      // like/ilike take a text pattern, with `*` standing for `%` (URLs cannot carry `%` comfortably).
      const isPattern = operation.operator === 'like' || operation.operator === 'ilike';
      const value = isPattern ? operation.value.replaceAll('*', '%') : operation.value;
      const right = operation.quantifier
        ? `${operation.quantifier.toUpperCase()}(${params.cast(value, `${isPattern ? 'text' : (type ?? 'text')}[]`)})`
        : isPattern
          ? params.text(value)
          : operand(value);
      sql = `${left} ${compareSql[operation.operator]} ${right}`;
      break;
    }
    case 'simple':
      sql = `${left} ${simpleSql[operation.operator]} ${operand(operation.value)}`;
      break;
    case 'in':
      // PostgREST writes `= ANY('{…}')` rather than IN (…); `in.()` matches nothing.
      sql =
        operation.values.length === 1 && operation.values[0] === ''
          ? `${left} = ANY('{}')`
          : `${left} = ANY(${params.cast(arrayLiteral(operation.values), `${type ?? 'text'}[]`)})`;
      break;
    case 'is':
      sql = `${left} IS ${{ null: 'NULL', not_null: 'NOT NULL', true: 'TRUE', false: 'FALSE', unknown: 'UNKNOWN' }[operation.value]}`;
      break;
    case 'isdistinct':
      sql = `${left} IS DISTINCT FROM ${operand(operation.value)}`;
      break;
    case 'fts': {
      const language = operation.language === undefined ? '' : `${params.cast(operation.language, 'regconfig')}, `;
      sql = `${left} @@ ${ftsFunction[operation.operator]}(${language}${params.text(operation.value)})`;
      break;
    }
  }
  return filter.negated ? `NOT ${sql}` : sql;
}

function logicSql(tree: LogicTree, qualifier: string, table: Table, params: SqlParams): string {
  if (tree.kind === 'filter') return filterSql(tree.filter, qualifier, table, params);
  const inner = tree.children.map((child) => logicSql(child, qualifier, table, params)).join(tree.operator === 'and' ? ' AND ' : ' OR ');
  return `${tree.negated ? 'NOT ' : ''}(${inner})`;
}

export function whereSql(trees: readonly LogicTree[], table: Table, params: SqlParams): string {
  if (trees.length === 0) return '';
  return ` WHERE ${trees.map((tree) => logicSql(tree, tableRef(table), table, params)).join(' AND ')}`;
}

/** The `select=` list over `qualifier` (the table for reads, pgrst_source for mutations). */
function selectSql(items: readonly SelectItem[], qualifier: string, params: SqlParams): string {
  if (items.length === 0) return `${qualifier}.*`;
  return items
    .map((item) => {
      if (item.kind === 'star') return `${qualifier}.*`;
      if (item.cast?.includes('$')) throw queryParamError(`"failed to parse select parameter" (line 1, column 1)`, `unexpected "$" in cast ${item.cast}`);
      // Like PostgREST: a JSON path is named after its last key, a cast after its column.
      const lastStep = item.field.path.at(-1);
      let alias = item.alias;
      if (alias === undefined && lastStep) alias = lastStep.isIndex ? item.field.name : lastStep.key;
      if (alias === undefined && item.cast) alias = item.field.name;
      return `${fieldSql(qualifier, item.field, params)}${item.cast ? `::${item.cast}` : ''}${alias === undefined ? '' : ` AS ${quoteIdent(alias)}`}`;
    })
    .join(', ');
}

function orderSql(terms: readonly OrderTerm[], table: Table, params: SqlParams): string {
  if (terms.length === 0) return '';
  const sql = terms.map((term) => {
    const direction = term.direction ? ` ${term.direction.toUpperCase()}` : '';
    const nulls = term.nulls ? ` NULLS ${term.nulls.toUpperCase()}` : '';
    return `${fieldSql(tableRef(table), term.field, params)}${direction}${nulls}`;
  });
  return ` ORDER BY ${sql.join(', ')}`;
}

function bodySql(rendering: Rendering | undefined): string {
  if (!rendering) return `''`;
  const aggregate = rendering.shape === 'single' ? 'json_agg(_postgrest_t)->0' : 'json_agg(_postgrest_t)';
  const stripped = rendering.stripNulls ? `json_strip_nulls(${aggregate})` : aggregate;
  return `coalesce(${stripped}, '${rendering.shape === 'single' ? 'null' : '[]'}')::text`;
}

/** Marker in the error a singular mutation raises to undo itself; see singularGuard. */
export const SINGULAR_MARKER = 'standin-singular:';

/**
 * PostgREST rolls back a mutation asked for one object (`.single()`) that touched 0 or 2+ rows.
 * The stand-in runs one statement without a transaction of its own, so the statement fails
 * instead: casting the marker to integer raises 22P02, which the caller turns into PGRST116.
 */
const singularGuard = `CASE WHEN pg_catalog.count(_postgrest_t) = 1 THEN 0
  ELSE CAST('${SINGULAR_MARKER}' || pg_catalog.count(_postgrest_t) AS integer) END`;

export interface ResultRow {
  total_result_set: number | null;
  page_total: number;
  body: string;
  response_inserted: number | null;
}

function mainStatement(options: {
  source: string;
  countSql?: string | undefined;
  outerSelect: string;
  rendering: Rendering | undefined;
  guardSingular: boolean;
  countInserted: boolean;
}): string {
  return `WITH pgrst_source AS (${options.source})
SELECT ${options.countSql ? `(${options.countSql})::integer` : 'NULL::integer'} AS total_result_set,
       pg_catalog.count(_postgrest_t)::integer AS page_total,
       ${bodySql(options.rendering)} AS body,
       ${options.countInserted ? `nullif(current_setting('pgrst.inserted', true), '')::integer` : 'NULL::integer'} AS response_inserted
       ${options.guardSingular ? `, ${singularGuard} AS singular_guard` : ''}
  FROM (SELECT ${options.outerSelect} FROM pgrst_source) _postgrest_t`;
}

export function readStatement(options: {
  table: Table;
  select: readonly SelectItem[];
  where: readonly LogicTree[];
  order: readonly OrderTerm[];
  limit: number | undefined;
  offset: number;
  count: boolean;
  rendering: Rendering;
  params: SqlParams;
}): string {
  const { table, params } = options;
  const from = ` FROM ${tableRef(table)}`;
  const range = options.limit === undefined && options.offset === 0 ? '' : ` LIMIT ${options.limit ?? 'ALL'} OFFSET ${options.offset}`;
  const source = `SELECT ${selectSql(options.select, tableRef(table), params)}${from}${whereSql(options.where, table, params)}${orderSql(options.order, table, params)}${range}`;
  const countSql = options.count ? `SELECT pg_catalog.count(*) FROM ${tableRef(table)}${whereSql(options.where, table, params)}` : undefined;
  return mainStatement({ source, countSql, outerSelect: '*', rendering: options.rendering, guardSingular: false, countInserted: false });
}

/**
 * PostgREST's fromJsonBodyF: the payload as rows of typed columns, named pgrst_body. With
 * `Prefer: missing=default` the columns' defaults are merged under the payload first (as jsonb).
 */
function jsonBodySql(columns: readonly Column[], isObject: boolean, applyDefaults: boolean, body: string, params: SqlParams): string {
  const payload = `(SELECT ${params.text(body)}::${applyDefaults ? 'jsonb' : 'json'} AS json_data) pgrst_payload`;
  let source = 'pgrst_payload.json_data';
  let defaults = '';
  const withDefaults = columns.filter((column) => column.default !== null);
  if (applyDefaults) {
    const defaultsObject = `jsonb_build_object(${withDefaults.map((column) => `${params.text(column.name)}, ${column.default}`).join(', ')})`;
    defaults = isObject
      ? `LATERAL (SELECT ${defaultsObject} || pgrst_payload.json_data AS val) pgrst_json_defs, `
      : `LATERAL (SELECT jsonb_agg(${defaultsObject} || elem) AS val FROM jsonb_array_elements(pgrst_payload.json_data) elem) pgrst_json_defs, `;
    source = 'pgrst_json_defs.val';
  }
  const prefix = applyDefaults ? 'jsonb' : 'json';
  const rows =
    columns.length === 0
      ? isObject
        ? '(values(1)) _'
        : `${prefix}_array_elements(${source}) _`
      : `${prefix}_${isObject ? 'to_record' : 'to_recordset'}(${source}) AS _(${columns.map((column) => `${quoteIdent(column.name)} ${column.nominalType}`).join(', ')})`;
  const names = columns.map((column) => quoteIdent(column.name)).join(', ');
  return `FROM ${payload}, ${defaults}LATERAL (SELECT ${names} FROM ${rows}) pgrst_body`;
}

/** Counts inserted rows in a GUC, as PostgREST does, to answer 200 rather than 201 when an upsert only updated. */
const insertedCounter = (delta: '+' | '-') =>
  `set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::integer, 0) ${delta} 1)::text, true) <> '${delta === '+' ? '0' : '-1'}'`;

export interface Mutation {
  table: Table;
  columns: readonly Column[];
  body: string;
  isObject: boolean;
  applyDefaults: boolean;
  params: SqlParams;
  select: readonly SelectItem[];
  rendering: Rendering | undefined;
}

export function insertStatement(
  options: Mutation & { conflict: { resolution: 'merge-duplicates' | 'ignore-duplicates'; columns: string[] } | undefined },
): string {
  const { table, columns, params, conflict } = options;
  const names = columns.map((column) => quoteIdent(column.name));
  const merge = conflict?.resolution === 'merge-duplicates';
  let sql = `INSERT INTO ${tableRef(table)}${names.length === 0 ? ' ' : `(${names.join(', ')}) `}`;
  sql += `SELECT ${columns.map((column) => `pgrst_body.${quoteIdent(column.name)}`).join(', ')} `;
  sql += jsonBodySql(columns, options.isObject, options.applyDefaults, options.body, params);
  if (merge) sql += ` WHERE ${insertedCounter('+')}`;
  if (conflict) {
    sql += ` ON CONFLICT(${conflict.columns.map(quoteIdent).join(', ')}) `;
    sql +=
      !merge || names.length === 0
        ? 'DO NOTHING'
        : `DO UPDATE SET ${names.map((name) => `${name} = EXCLUDED.${name}`).join(', ')} WHERE ${insertedCounter('-')}`;
  }
  sql += ` RETURNING ${tableRef(table)}.*`;
  return mutationStatement(sql, options, merge);
}

export function updateStatement(options: Mutation & { where: readonly LogicTree[] }): string {
  const { table, columns, params } = options;
  // An empty payload updates nothing; PostgREST selects no rows rather than writing `SET` with nothing.
  if (columns.length === 0) return mutationStatement(`SELECT ${tableRef(table)}.* FROM ${tableRef(table)} WHERE false`, options, false);
  if (options.where.length === 0) throw safeUpdateError('UPDATE');
  const assignments = columns.map((column) => `${quoteIdent(column.name)} = pgrst_body.${quoteIdent(column.name)}`).join(', ');
  const body = jsonBodySql(columns, options.isObject, options.applyDefaults, options.body, params);
  const sql = `UPDATE ${tableRef(table)} SET ${assignments} ${body}${whereSql(options.where, table, params)} RETURNING ${tableRef(table)}.*`;
  return mutationStatement(sql, options, false);
}

export function deleteStatement(options: {
  table: Table;
  where: readonly LogicTree[];
  params: SqlParams;
  select: readonly SelectItem[];
  rendering: Rendering | undefined;
}): string {
  const { table, params } = options;
  if (options.where.length === 0) throw safeUpdateError('DELETE');
  const sql = `DELETE FROM ${tableRef(table)}${whereSql(options.where, table, params)} RETURNING ${tableRef(table)}.*`;
  return mutationStatement(sql, options, false);
}

function mutationStatement(
  source: string,
  options: { select: readonly SelectItem[]; rendering: Rendering | undefined; params: SqlParams },
  countInserted: boolean,
): string {
  return mainStatement({
    source,
    outerSelect: options.rendering ? selectSql(options.select, sourceRef, options.params) : '*',
    rendering: options.rendering,
    guardSingular: options.rendering?.shape === 'single',
    countInserted,
  });
}

/**
 * Supabase preloads pg-safeupdate for PostgREST's role: an UPDATE or DELETE without a WHERE
 * clause fails with 21000, which PostgREST answers with 400.
 */
function safeUpdateError(command: 'UPDATE' | 'DELETE'): PostgrestError {
  return new PostgrestError(400, '21000', `${command} requires a WHERE clause`);
}
