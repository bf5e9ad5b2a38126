/**
 * A fingerprint of everything the service can write, to show that a rejected request wrote
 * nothing: per table a row count and an md5 over its rows (as JSON, sorted, so row order on disk
 * does not matter), plus the list of tables in the schemas involved (a dropped or added table
 * changes it). One statement, so it is cheap enough to take after every fuzzed request.
 *
 * No column is left out: nothing the service does on a read (or on a refused request) updates a
 * row, so any difference is a write.
 */
import type { Queryable } from '../../src/db/sql-client.ts';

/** auth.users is the source of truth, public.users the profiles, user_sync the service's own state. */
export const SNAPSHOT_TABLES = [
  'auth.users',
  'public.users',
  'user_sync.audit_log',
  'user_sync.webhook_deliveries',
  'user_sync.deferred_syncs',
  'user_sync.reconcile_jobs',
  'user_sync.schema_migrations',
] as const;

/** `table -> "count:md5"`, and `catalog -> the tables of auth, public and user_sync`. */
export type DatabaseSnapshot = Record<string, string>;

const TABLE_NAME = /^[a-z_]+\.[a-z_]+$/;

function snapshotSql(tables: readonly string[]): string {
  const perTable = tables.map((table) => {
    // The names are ours (a constant list), never input; checked anyway since they are spliced in.
    if (!TABLE_NAME.test(table)) throw new Error(`not a plain table name: ${table}`);
    return `SELECT '${table}' AS name,
                   count(*) || ':' || md5(coalesce(string_agg(to_jsonb(t)::text, E'\\n' ORDER BY to_jsonb(t)::text), '')) AS fingerprint
            FROM ${table} t`;
  });
  const catalog = `SELECT 'catalog' AS name,
                          string_agg(table_schema || '.' || table_name, ',' ORDER BY table_schema, table_name) AS fingerprint
                   FROM information_schema.tables
                   WHERE table_schema IN ('auth', 'public', 'user_sync')`;
  return [...perTable, catalog].join('\nUNION ALL\n');
}

export async function snapshotDatabase(db: Queryable, tables: readonly string[] = SNAPSHOT_TABLES): Promise<DatabaseSnapshot> {
  const rows = await db.query<{ name: string; fingerprint: string }>(snapshotSql(tables));
  return Object.fromEntries(rows.map((row) => [row.name, row.fingerprint]));
}

/** Row counts per table, from a snapshot (for messages and for "the table is still there"). */
export const rowCounts = (snapshot: DatabaseSnapshot): Record<string, number> =>
  Object.fromEntries(
    Object.entries(snapshot)
      .filter(([name]) => name !== 'catalog')
      .map(([name, fingerprint]) => [name, Number(fingerprint.split(':')[0])]),
  );
