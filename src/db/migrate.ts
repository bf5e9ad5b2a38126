/**
 * Applies pending migrations in one transaction under a transaction-scoped advisory lock, so
 * replicas starting at once apply each migration exactly once: the second waits for the lock,
 * then finds nothing left to do.
 */
import type { SqlClient } from './sql-client.ts';
import { migrations as allMigrations, type Migration } from './migrations.ts';

/** An arbitrary constant naming "user_sync migrations" among advisory locks. */
export const MIGRATION_LOCK_KEY = 7_321_004_211;

export async function migrate(
  sql: SqlClient,
  migrations: readonly Migration[] = allMigrations,
): Promise<{ applied: number[] }> {
  return sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query('CREATE SCHEMA IF NOT EXISTS user_sync');
    await tx.query(`
      CREATE TABLE IF NOT EXISTS user_sync.schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const done = await tx.query<{ version: number }>('SELECT version FROM user_sync.schema_migrations');
    const doneVersions = new Set(done.map((row) => Number(row.version)));
    const applied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (doneVersions.has(migration.version)) continue;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO user_sync.schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    return { applied };
  });
}
