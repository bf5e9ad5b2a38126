/** The service's own schema: created at start-up, each migration applied exactly once, even by replicas starting together. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/db/migrate.ts';
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
});
