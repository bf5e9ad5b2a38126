/**
 * Who writes what, as on hosted Supabase (docs/capture.md): `supabase_auth_admin` owns the auth
 * schema and writes auth.users, with search_path `auth` and no rights on the profile table or
 * user_sync; the service connects as a non-superuser (Supabase's `postgres` is one) holding ALL on
 * auth.users (so TRIGGER) without owning it.
 *
 * On the real server the app connects as that role through its own URL. PGlite has one session,
 * whose user is a superuser: the session takes on the service's role with SET ROLE, and the Auth
 * writes switch to `supabase_auth_admin` for their transaction only (SET LOCAL ROLE is checked
 * against the session user, so both work).
 */
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Queryable } from '../../src/db/sql-client.ts';
import { loginRoleSql, supabaseOwnershipSql } from '../../src/embedded/supabase-schema.ts';
import type { TestDatabase } from './database.ts';

/** The non-superuser the service runs as in these tests; cluster-wide, like every role. */
export const SERVICE_ROLE = 'usersync_service';

export interface SupabaseRolesOptions {
  /** Leave TRIGGER on auth.users out of the service's grant, as some projects' migrations do. */
  withoutTrigger?: boolean;
}

/**
 * Hands auth to `supabase_auth_admin` and public.users to the service's role, grants the service
 * what Supabase grants `postgres`, and returns the environment that makes the app connect as the
 * service (on PGlite, the session has become the service's role and the app gets the database itself).
 */
export async function asOnSupabase(db: TestDatabase, options: SupabaseRolesOptions = {}): Promise<Record<string, string>> {
  await db.sql.exec(loginRoleSql(SERVICE_ROLE));
  const [database] = await db.sql.query<{ name: string }>('SELECT current_database() AS name');
  const privileges = options.withoutTrigger ? 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES' : 'ALL';
  await db.sql.exec(supabaseOwnershipSql(SERVICE_ROLE, database!.name, privileges));
  if (db.url === undefined) {
    await db.sql.exec(`SET ROLE ${SERVICE_ROLE}`);
    return {};
  }
  const url = new URL(db.url);
  url.username = SERVICE_ROLE;
  return { DATABASE_URL: url.toString() };
}

/** Runs `work` in one transaction as Supabase Auth does: role `supabase_auth_admin`, search_path `auth`. */
export function asSupabaseAuth<T>(db: TestDatabase, work: (tx: Queryable) => Promise<T>): Promise<T> {
  return db.sql.transaction(async (tx) => {
    await tx.exec('SET LOCAL ROLE supabase_auth_admin; SET LOCAL search_path = auth');
    return work(tx);
  });
}

/**
 * `asSupabaseAuth` for statements whose notices (RAISE WARNING) the test wants to see: run on a
 * connection of their own (the real server) or with PGlite's notice hook, in one transaction.
 */
export async function asSupabaseAuthWithNotices(db: TestDatabase, statements: { sql: string; params?: unknown[] }[]): Promise<string[]> {
  const notices: string[] = [];
  if (db.url === undefined) {
    const { pglite } = db.sql as unknown as { pglite: PGlite };
    await pglite.transaction(async (tx) => {
      const onNotice = (notice: { severity?: string; message?: string }) => notices.push(`${notice.severity}: ${notice.message}`);
      await tx.query('SET LOCAL ROLE supabase_auth_admin', [], { onNotice });
      await tx.query('SET LOCAL search_path = auth', [], { onNotice });
      for (const { sql, params } of statements) await tx.query(sql, params ?? [], { onNotice });
    });
    return notices;
  }
  const client = new pg.Client({ connectionString: db.url });
  client.on('notice', (notice) => notices.push(`${notice.severity}: ${notice.message}`));
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL ROLE supabase_auth_admin; SET LOCAL search_path = auth');
    for (const { sql, params } of statements) await client.query(sql, params ?? []);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
  return notices;
}
