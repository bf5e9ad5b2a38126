/**
 * The back end under test for the contract suite: the SQL back end (PGlite, or PostgreSQL with
 * TEST_DATABASE=postgres), or with TEST_BACKEND=supabase the Supabase API back end, talking
 * through the real supabase-js client to a local stand-in of Supabase's HTTP APIs that is
 * backed by the same test database.
 */
import { startSupabaseStandIn, type SupabaseStandIn } from '../supabase-stand-in/index.ts';
import { startApp, useAppContext, type AppContext, type TestApp } from './app.ts';
import { createTestDatabase, onPostgres, type TestDatabase, type TestDatabaseOptions } from './database.ts';
import { startAppBehindProxy } from './outage.ts';
import { withSqlOutage } from './sql-outage.ts';

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

/** Takes the app's data away and gives it back, on whichever back end is under test. */
export interface Outage {
  down(): Promise<void>;
  up(): Promise<void>;
}

/**
 * A fresh database and an app on the back end under test whose data can be taken away mid-test:
 * on PostgreSQL through a TCP proxy that resets every connection, on PGlite through an
 * in-process cut (sql-outage.ts), and on the Supabase APIs by the stand-in's gateway answering
 * 503 to every request until `up()`.
 */
export function useBackendAppWithOutage(env: Record<string, string> = {}): AppContext & { outage: Outage } {
  let outage: Outage | undefined;
  const ctx = useAppContext(async () => {
    const db = await createTestDatabase();
    if (onSupabase) {
      const { t, standIn } = await startBackendApp(db, env);
      outage = {
        down: async () => standIn!.failNext(Number.POSITIVE_INFINITY),
        up: async () => standIn!.failNext(0),
      };
      return { db, t, close: async () => standIn?.close() };
    }
    if (onPostgres) {
      const { t, proxy } = await startAppBehindProxy(db, env);
      outage = { down: () => proxy.down(), up: () => proxy.up() };
      return { db, t, close: () => proxy.close() };
    }
    const cut = withSqlOutage(db.sql);
    outage = { down: async () => cut.down(), up: async () => cut.up() };
    return { db, t: await startApp({ ...db, sql: cut.client }, env) };
  });
  // A getter, as the context's own: the outage exists only once beforeAll has run.
  return Object.defineProperty(ctx, 'outage', { get: () => outage! }) as AppContext & { outage: Outage };
}
