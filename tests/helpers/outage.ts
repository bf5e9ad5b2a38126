/**
 * An app whose database can be taken away in the middle of a test. On PostgreSQL the app reaches
 * the server through a TCP proxy that can cut every connection and later accept them again; on
 * PGlite the embedded database is closed, and cannot come back.
 */
import { afterAll, beforeAll } from 'vitest';
import { startApp, type TestApp } from './app.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './database.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

export interface OutageContext {
  db: TestDatabase;
  t: TestApp;
  /** Cuts the app off from its database. */
  down(): Promise<void>;
  /** Gives the database back; false where it cannot come back (PGlite). */
  up(): Promise<boolean>;
}

/** An app on the PostgreSQL test database `db` that reaches it through a TCP proxy the test controls. */
export async function startAppBehindProxy(db: TestDatabase, env: Record<string, string>): Promise<{ t: TestApp; proxy: TcpProxy }> {
  const target = new URL(db.url!);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(db.url!);
  viaProxy.port = String(proxy.port);
  try {
    return { t: await startApp({ ...db, url: viaProxy.toString() }, env), proxy };
  } catch (error) {
    await proxy.close();
    throw error;
  }
}

export function useAppWithOutage(env: Record<string, string> = {}): OutageContext {
  let db: TestDatabase | undefined;
  let t: TestApp | undefined;
  let proxy: TcpProxy | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    if (onPostgres) {
      ({ t, proxy } = await startAppBehindProxy(db, env));
    } else {
      t = await startApp(db, env);
    }
  });
  afterAll(async () => {
    await t?.close();
    await proxy?.close();
    // A closed PGlite is already gone; a PostgreSQL test database is dropped.
    if (onPostgres) await db?.close();
  });
  return {
    get db() {
      return db!;
    },
    get t() {
      return t!;
    },
    down: () => (proxy ? proxy.down() : db!.sql.close()),
    async up() {
      if (!proxy) return false;
      await proxy.up();
      return true;
    },
  };
}
