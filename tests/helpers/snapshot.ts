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
  // pg_catalog rather than information_schema: the same answer here, at a fraction of the cost.
  const catalog = `SELECT 'catalog' AS name,
                          string_agg(n.nspname || '.' || c.relname, ',' ORDER BY n.nspname, c.relname) AS fingerprint
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname IN ('auth', 'public', 'user_sync') AND c.relkind IN ('r', 'p', 'v', 'm')`;
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

/**
 * A cheap write detector for thousands of requests, where a full snapshot after each would cost
 * more than the requests: a row trigger on every snapshot table (and a TRUNCATE trigger) bumps a
 * counter in a schema of its own. The counter is a row, not a sequence, so a write that is rolled
 * back (a dry run, a refused insert) is not counted, exactly as it leaves no trace in a snapshot.
 * Install it after the app has run its migrations, so the user_sync tables exist.
 */
export interface WriteProbe {
  /** Committed writes (rows inserted, updated or deleted; truncations) since the probe was installed. */
  writes(): Promise<number>;
}

export async function installWriteProbe(db: Queryable, tables: readonly string[] = SNAPSHOT_TABLES): Promise<WriteProbe> {
  const triggers = tables.map((table) => {
    if (!TABLE_NAME.test(table)) throw new Error(`not a plain table name: ${table}`);
    const name = `write_probe_${table.replace('.', '_')}`;
    return `CREATE TRIGGER ${name}_rows AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION write_probe.count();
            CREATE TRIGGER ${name}_truncate AFTER TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION write_probe.count();`;
  });
  await db.exec(`
    CREATE SCHEMA write_probe;
    CREATE TABLE write_probe.counter (n bigint NOT NULL);
    INSERT INTO write_probe.counter VALUES (0);
    -- SECURITY DEFINER: the app may connect as a role that cannot write this schema.
    CREATE FUNCTION write_probe.count() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
    BEGIN
      UPDATE write_probe.counter SET n = n + 1;
      RETURN NULL;
    END $$;
    ${triggers.join('\n')}
  `);
  return {
    async writes() {
      const [row] = await db.query<{ n: string | number }>('SELECT n FROM write_probe.counter');
      return Number(row!.n);
    },
  };
}
