/**
 * The back end under test for the contract suite: the SQL back end (PGlite, or PostgreSQL with
 * TEST_DATABASE=postgres), or with TEST_BACKEND=supabase the Supabase API back end, talking
 * through the real supabase-js client to a local stand-in of Supabase's HTTP APIs that is
 * backed by the same test database.
 */
import { startSupabaseStandIn, type SupabaseStandIn } from '../supabase-stand-in/index.ts';
import { startApp, useAppContext, type AppContext, type TestApp } from './app.ts';
import { createTestDatabase, type TestDatabase, type TestDatabaseOptions } from './database.ts';

export const onSupabase = process.env.TEST_BACKEND === 'supabase';
export const SERVICE_ROLE_KEY = 'stand-in-service-role-key-0123456789abcdefghij';

export async function startBackendApp(
  db: TestDatabase,
  env: Record<string, string> = {},
): Promise<{ t: TestApp; standIn: SupabaseStandIn | undefined }> {
  if (!onSupabase) return { t: await startApp(db, env), standIn: undefined };
  const standIn = await startSupabaseStandIn({ sql: db.sql, serviceKey: SERVICE_ROLE_KEY });
  try {
    const t = await startApp(null, { SUPABASE_URL: standIn.url, SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY, ...env });
    return { t, standIn };
  } catch (error) {
    await standIn.close();
    throw error;
  }
}

/** A fresh database and an app on the back end under test, for the enclosing `describe`. */
export function useBackendApp(options: { db?: TestDatabaseOptions; env?: Record<string, string> } = {}): AppContext {
  return useAppContext(async () => {
    const db = await createTestDatabase(options.db);
    const { t, standIn } = await startBackendApp(db, options.env);
    return { db, t, close: async () => standIn?.close() };
  });
}
