/**
 * The service's own schema: created at start-up, each migration applied exactly once, even by
 * replicas starting together, and checked against its recorded checksum at every start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MigrationChangedError, migrationChecksum } from '../src/db/migrate.ts';
import { migrations } from '../src/db/migrations.ts';
import { createPgClient } from '../src/db/pg-client.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.ts';
import { count } from './helpers/users.ts';

describe('migrations', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('two replicas migrating at once apply each migration once; a third finds nothing to do', async () => {
    // On the real server each "replica" has its own pool, so the advisory lock is really contended.
    const replicas = onPostgres
      ? [createPgClient({ connectionString: db.url!, max: 2 }), createPgClient({ connectionString: db.url!, max: 2 })]
      : [db.sql, db.sql];
    try {
      const results = await Promise.all(replicas.map((sql) => migrate(sql)));
      const applied = results.flatMap((result) => result.applied).sort();
      expect(applied).toEqual(migrations.map((migration) => migration.version).sort());
      expect(await count(db.sql, 'SELECT 1 FROM user_sync.schema_migrations')).toBe(migrations.length);
      expect(await migrate(db.sql)).toEqual({ applied: [] });
    } finally {
      if (onPostgres) await Promise.all(replicas.map((sql) => sql.close()));
    }
  });

  it('never touches auth or the profile table', async () => {
    const tables = await db.sql.query<{ name: string }>(
      `SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
        WHERE table_schema IN ('auth', 'public') ORDER BY 1`,
    );
    // Only what the Supabase-shaped test database was built with (src/embedded/supabase-schema.ts).
    expect(tables.map((table) => table.name)).toEqual(['auth.identities', 'auth.users', 'public.users']);
  });

  it('records each migration\'s checksum, and refuses to start when an applied migration was edited, naming it', async () => {
    await migrate(db.sql);
    const rows = await db.sql.query<{ version: number; checksum: string }>('SELECT version, checksum FROM user_sync.schema_migrations ORDER BY version');
    expect(rows).toEqual(migrations.map((migration) => ({ version: migration.version, checksum: migrationChecksum(migration) })));

    const edited = migrations.map((migration) => (migration.version === 3 ? { ...migration, sql: `${migration.sql}\n-- edited` } : migration));
    const refused = await migrate(db.sql, edited).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(MigrationChangedError);
    expect((refused as Error).message).toMatch(/^migration 3 \("reconcile jobs"\) was changed after this database applied it/);
    // The refused run changed no record: the original text still passes.
    expect(await db.sql.query('SELECT version, checksum FROM user_sync.schema_migrations ORDER BY version')).toEqual(rows);
    expect(await migrate(db.sql)).toEqual({ applied: [] });
  });

  it('a database migrated before checksums were recorded takes the current ones, then holds to them', async () => {
    // As a database migrated by a version without checksums left it: no such column.
    await db.sql.query('ALTER TABLE user_sync.schema_migrations DROP COLUMN checksum');
    expect(await migrate(db.sql)).toEqual({ applied: [] });
    expect(await count(db.sql, 'SELECT 1 FROM user_sync.schema_migrations WHERE checksum IS NULL')).toBe(0);
    const edited = migrations.map((migration) => (migration.version === 1 ? { ...migration, sql: migration.sql.replace('audit', 'AUDIT') } : migration));
    await expect(migrate(db.sql, edited)).rejects.toThrow(/migration 1 \("audit log"\) was changed/);
  });
});
