/**
 * Applies pending migrations in one transaction under a transaction-scoped advisory lock, so
 * replicas starting at once apply each migration exactly once: the second waits for the lock,
 * then finds nothing left to do.
 *
 * Each applied migration's checksum (SHA-256 of its SQL) is recorded, and checked at every start:
 * a migration edited after it ran would leave databases that applied the old text and databases
 * that apply the new one quietly different, so start-up stops and names it instead. Rows from
 * before checksums were recorded take the checksum of the text as it is now.
 */
import { createHash } from 'node:crypto';
import type { SqlClient } from './sql-client.ts';
import { migrations as allMigrations, type Migration } from './migrations.ts';

/** An arbitrary constant naming "user_sync migrations" among advisory locks. */
export const MIGRATION_LOCK_KEY = 7_321_004_211;

/** A migration whose text no longer matches what was applied; start-up stops with its message. */
export class MigrationChangedError extends Error {
  override name = 'MigrationChangedError';
}

export const migrationChecksum = (migration: Migration): string => createHash('sha256').update(migration.sql).digest('hex');

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
    // Added to tables made before checksums, only when missing: ALTER TABLE needs the table's
    // owner even when there is nothing to add, and the service's role need not own it.
    const [hasChecksum] = await tx.query<{ present: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_attribute
                       WHERE attrelid = 'user_sync.schema_migrations'::regclass AND attname = 'checksum' AND NOT attisdropped) AS present`,
    );
    if (!hasChecksum!.present) await tx.query('ALTER TABLE user_sync.schema_migrations ADD COLUMN checksum text');
    const done = await tx.query<{ version: number; checksum: string | null }>('SELECT version, checksum FROM user_sync.schema_migrations');
    const recorded = new Map(done.map((row) => [Number(row.version), row.checksum]));
    const applied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      const checksum = migrationChecksum(migration);
      const was = recorded.get(migration.version);
      if (was !== undefined) {
        if (was === null) {
          await tx.query('UPDATE user_sync.schema_migrations SET checksum = $2 WHERE version = $1', [migration.version, checksum]);
        } else if (was !== checksum) {
          throw new MigrationChangedError(
            `migration ${migration.version} ("${migration.name}") was changed after this database applied it ` +
              `(checksum ${was.slice(0, 12)}… recorded, ${checksum.slice(0, 12)}… now): put its text back as it was, ` +
              'and make the change a new migration',
          );
        }
        continue;
      }
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO user_sync.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        checksum,
      ]);
      applied.push(migration.version);
    }
    return { applied };
  });
}
