/**
 * Test databases, Supabase-shaped (the same layout embedded mode builds; docs/supabase-auth-users.md):
 * PGlite in memory by default; with TEST_DATABASE=postgres, a fresh database on the real server
 * named by TEST_DATABASE_URL, dropped afterwards. Nothing is mocked.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPgClient } from '../../src/db/pg-client.ts';
import { createPgliteClient } from '../../src/db/pglite-client.ts';
import type { SqlClient } from '../../src/db/sql-client.ts';
import { seedDemoData } from '../../src/embedded/demo-seed.ts';
import { authSchemaSql, demoProfileTableSql, supabaseRolesSql } from '../../src/embedded/supabase-schema.ts';

export const onPostgres = process.env.TEST_DATABASE === 'postgres';
const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** For setting up and checking data; the app under test gets its own connection. */
  sql: SqlClient;
  /** The connection URL, on the real server only. */
  url: string | undefined;
  close(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** The profile table(s) to create; defaults to the demo `public.users`. */
  profileSql?: string;
  /** Seed the demo users, as embedded mode does on first start. */
  seed?: boolean;
}

async function layOut(sql: SqlClient, options: TestDatabaseOptions): Promise<void> {
  await sql.exec(supabaseRolesSql);
  await sql.exec(authSchemaSql);
  await sql.exec(options.profileSql ?? demoProfileTableSql);
  if (options.seed) await seedDemoData(sql);
}

export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  if (!onPostgres) {
    const sql = await createPgliteClient('memory://');
    await layOut(sql, options);
    return { sql, url: undefined, close: () => sql.close() };
  }
  const name = `usersync_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const sql = createPgClient({ connectionString: url.toString(), max: 4, applicationName: 'usersync-tests' });
  await layOut(sql, options);
  return {
    sql,
    url: url.toString(),
    async close() {
      await sql.close();
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
