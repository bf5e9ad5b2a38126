/**
 * Reads the profile table's real columns at start-up, so the field map is checked against what
 * the table has, and every value is cast to its column's type in SQL (the database, not our
 * code, decides whether "abc" is a valid uuid).
 */
import { ConfigError } from '../config/config.ts';
import type { Queryable } from './sql-client.ts';

export interface ProfileColumn {
  name: string;
  /** The type without its modifier (`character varying`, not `character varying(255)`): a cast
   * to the bare type leaves length checks to the INSERT, which refuses instead of truncating. */
  type: string;
  notNull: boolean;
  hasDefault: boolean;
  generated: boolean;
}

export interface ProfileTable {
  /** As configured, e.g. `public.users`. */
  name: string;
  /** Quoted for SQL, e.g. `"public"."users"`. */
  sqlName: string;
  columns: ProfileColumn[];
}

export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

export function qualifiedSqlName(name: string): string {
  const parts = name.includes('.') ? name.split('.') : ['public', name];
  return parts.map(quoteIdent).join('.');
}

export async function readProfileTable(db: Queryable, name: string): Promise<ProfileTable> {
  const sqlName = qualifiedSqlName(name);
  const [found] = await db.query<{ oid: string | null }>('SELECT to_regclass($1)::oid::text AS oid', [sqlName]);
  if (!found?.oid) {
    throw new ConfigError(
      `invalid configuration:\n  PROFILE_TABLE: the table ${name} does not exist in the database (create it, or name another table)`,
    );
  }
  const columns = await db.query<{
    name: string;
    type: string;
    not_null: boolean;
    has_default: boolean;
    generated: boolean;
  }>(
    `SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type, a.attnotnull AS not_null,
            a.atthasdef AS has_default, (a.attgenerated <> '' OR a.attidentity = 'a') AS generated
       FROM pg_attribute a
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [found.oid],
  );
  const [idIsUnique] = await db.query<{ ok: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = $1::oid AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL
          AND a.attname = 'id') AS ok`,
    [found.oid],
  );
  const idColumn = columns.find((column) => column.name === 'id');
  if (!idColumn || !idIsUnique?.ok || idColumn.type !== 'uuid') {
    throw new ConfigError(
      `invalid configuration:\n  PROFILE_TABLE: ${name} needs an "id uuid" column that is its primary key (or unique), holding the auth.users id`,
    );
  }
  return {
    name,
    sqlName,
    columns: columns.map((column) => ({
      name: column.name,
      type: column.type,
      notNull: column.not_null,
      hasDefault: column.has_default,
      generated: column.generated,
    })),
  };
}
