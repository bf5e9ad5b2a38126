/**
 * What PostgREST keeps in its schema cache, read from the catalogs on every request (the stand-in
 * has no cache to go stale): the tables of a schema with their columns.
 */
import type { Queryable } from '../../src/db/sql-client.ts';

export interface Column {
  name: string;
  /** The type as PostgREST reports it: format_type() without the modifier for built-in types ("character varying"). */
  dataType: string;
  /** The type with its modifier ("character varying(255)"): what json_to_recordset() converts the payload to. */
  nominalType: string;
  /** The type a filter operand is cast to: without the modifier, so nothing is truncated. */
  castType: string;
  nullable: boolean;
  default: string | null;
  maxLength: number | null;
  enumValues: string[];
  description: string | null;
  isPrimaryKey: boolean;
  /** A single-column foreign key to a table of the same schema, as [table, column]. */
  references: [string, string] | null;
}

export interface Table {
  schema: string;
  name: string;
  description: string | null;
  insertable: boolean;
  updatable: boolean;
  deletable: boolean;
  columns: Column[];
}

interface ColumnRow {
  table_name: string;
  table_description: string | null;
  insertable: boolean;
  updatable: boolean;
  deletable: boolean;
  name: string;
  data_type: string;
  nominal_type: string;
  cast_type: string;
  nullable: boolean;
  column_default: string | null;
  max_length: number | null;
  enum_values: string;
  description: string | null;
  is_pk: boolean;
  fk_table: string | null;
  fk_column: string | null;
}

// Modelled on PostgREST's tablesSqlQuery: tables, views, materialized views, foreign and
// partitioned tables; column types as it prints them; every value cast to text/int/bool so the
// two drivers return the same JavaScript values.
const columnsSql = `
SELECT c.relname::text AS table_name,
       obj_description(c.oid, 'pg_class') AS table_description,
       (c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (pg_relation_is_updatable(c.oid::regclass, true) & 8) = 8)) AS insertable,
       (c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (pg_relation_is_updatable(c.oid::regclass, true) & 4) = 4)) AS updatable,
       (c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (pg_relation_is_updatable(c.oid::regclass, true) & 16) = 16)) AS deletable,
       a.attname::text AS name,
       CASE
         WHEN t.typtype = 'd' THEN
           CASE WHEN bt.typnamespace = 'pg_catalog'::regnamespace THEN format_type(t.typbasetype, NULL::integer)
                ELSE format_type(a.atttypid, a.atttypmod) END
         WHEN t.typnamespace = 'pg_catalog'::regnamespace THEN format_type(a.atttypid, NULL::integer)
         ELSE format_type(a.atttypid, a.atttypmod)
       END AS data_type,
       format_type(a.atttypid, a.atttypmod) AS nominal_type,
       -- "character" alone would mean char(1) and truncate the operand: bpchar keeps it whole.
       CASE WHEN a.atttypid = 'bpchar'::regtype THEN 'bpchar' ELSE format_type(a.atttypid, NULL::integer) END AS cast_type,
       NOT (a.attnotnull OR (t.typtype = 'd' AND t.typnotnull)) AS nullable,
       CASE
         WHEN t.typbasetype <> 0 AND ad.adbin IS NULL THEN pg_get_expr(t.typdefaultbin, 0)
         WHEN a.attidentity = 'd' THEN format('nextval(%L)', pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname))
         WHEN a.attgenerated = 's' THEN NULL
         ELSE pg_get_expr(ad.adbin, ad.adrelid)
       END AS column_default,
       information_schema._pg_char_max_length(information_schema._pg_truetypid(a.*, t.*),
                                              information_schema._pg_truetypmod(a.*, t.*))::integer AS max_length,
       coalesce((SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder)
                   FROM pg_enum e WHERE e.enumtypid = coalesce(nullif(t.typbasetype, 0), t.oid)), '[]')::text AS enum_values,
       col_description(c.oid, a.attnum) AS description,
       EXISTS (SELECT 1 FROM pg_constraint pk
                WHERE pk.conrelid = c.oid AND pk.contype = 'p' AND a.attnum = ANY (pk.conkey)) AS is_pk,
       fk.table_name AS fk_table,
       fk.column_name AS fk_column
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  LEFT JOIN LATERAL (
    SELECT ft.relname::text AS table_name, fa.attname::text AS column_name
      FROM pg_constraint con
      JOIN pg_class ft ON ft.oid = con.confrelid
      JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[1]
     WHERE con.conrelid = c.oid AND con.contype = 'f' AND con.conkey = ARRAY[a.attnum] AND ft.relnamespace = c.relnamespace
     ORDER BY con.conname
     LIMIT 1
  ) fk ON true
 WHERE n.nspname = $1::text
   AND ($2::text IS NULL OR c.relname = $2::text)
   AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
 ORDER BY c.relname, a.attnum`;

/** The tables of `schema` (or just `table`), in name order. */
export async function loadTables(db: Queryable, schema: string, table?: string): Promise<Table[]> {
  const rows = await db.query<ColumnRow>(columnsSql, [schema, table ?? null]);
  const tables = new Map<string, Table>();
  for (const row of rows) {
    let entry = tables.get(row.table_name);
    if (!entry) {
      entry = {
        schema,
        name: row.table_name,
        description: row.table_description,
        insertable: row.insertable,
        updatable: row.updatable,
        deletable: row.deletable,
        columns: [],
      };
      tables.set(row.table_name, entry);
    }
    entry.columns.push({
      name: row.name,
      dataType: row.data_type,
      nominalType: row.nominal_type,
      castType: row.cast_type,
      nullable: row.nullable,
      default: row.column_default,
      maxLength: row.max_length,
      enumValues: JSON.parse(row.enum_values) as string[],
      description: row.description,
      isPrimaryKey: row.is_pk,
      references: row.fk_table && row.fk_column ? [row.fk_table, row.fk_column] : null,
    });
  }
  return [...tables.values()];
}

export async function loadTable(db: Queryable, schema: string, table: string): Promise<Table | undefined> {
  return (await loadTables(db, schema, table))[0];
}

export async function tableNames(db: Queryable, schema: string): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    `SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1::text AND c.relkind IN ('r', 'v', 'm', 'f', 'p') ORDER BY 1`,
    [schema],
  );
  return rows.map((row) => row.name);
}
