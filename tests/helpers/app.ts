/**
 * Builds the whole app for a test, on a test database, through the same `buildApp` the server
 * uses. On the real server the app opens its own pool from DATABASE_URL (postgres mode, as in
 * production); on PGlite it is handed the test's in-memory database.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/config.ts';
import { loggerOptions } from '../../src/logging.ts';
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase, type TestDatabaseOptions } from './database.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdefghijklmnop';
export const OTHER_TOKEN = 'test-other-token-0123456789abcdefghijklmnop';
/** Holds only the `read` scope. */
export const READER_TOKEN = 'test-reader-token-0123456789abcdefghijklmno';
export const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };

export interface TestApp {
  app: FastifyInstance;
  /** http://127.0.0.1:<port>, for supertest and concurrent clients. */
  url: string;
  /** Every log line the app wrote, as text. */
  logs: () => string;
  close(): Promise<void>;
}

/** With `db` null, the app opens what `env` names (embedded mode unless DATABASE_URL is set). */
export async function startApp(db: TestDatabase | null, env: Record<string, string> = {}): Promise<TestApp> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const config = loadConfig({
    SERVICE_TOKENS: `admin:${ADMIN_TOKEN},other:${OTHER_TOKEN},reader[read]:${READER_TOKEN}`,
    ...(db?.url ? { DATABASE_URL: db.url } : {}),
    // No background runs unless a test asks: they would write while tests count rows.
    RECONCILE_INTERVAL_SECONDS: '0',
    DEFERRED_SYNC_INTERVAL_SECONDS: '0',
    // Nor capture: its drain would sync users a test inserts to find them missing. The capture
    // tests turn it on.
    CAPTURE: 'off',
    // Tests poll and fan out; the rate-limit test turns it on for itself.
    RATE_LIMIT_MAX: '0',
    RATE_LIMIT_USER_MAX: '0',
    // Many tests send bad credentials on purpose, all from 127.0.0.1; tests/auth-failures.test.ts
    // turns the per-address block on.
    AUTH_FAILURE_LIMIT: '0',
    // A loaded test machine must not shed the suite's requests; the overload test turns it on.
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    // Closing an app in a test need not wait for clients to notice.
    SHUTDOWN_DRAIN_MS: '0',
    ...env,
  });
  // The logger goes through the same redaction settings as production's.
  const logger = pino(loggerOptions(env.LOG_LEVEL ?? 'info', false, config.secrets), sink);
  const app = await buildApp(config, { logger, ...(db && !db.url ? { sql: db.sql } : {}) });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, logs: () => lines.join(''), close: () => app.close() };
}

export interface AppContext {
  db: TestDatabase;
  t: TestApp;
  /** Shorthand for `t.url`. */
  url: string;
}

/**
 * Runs `open` before the enclosing `describe`'s tests and closes what it opened after them
 * (the app, anything else it returns a `close` for, then the database).
 */
export function useAppContext(
  open: () => Promise<{ db: TestDatabase; t: TestApp; close?: () => Promise<void> }>,
): AppContext {
  let opened: Awaited<ReturnType<typeof open>> | undefined;
  beforeAll(async () => {
    opened = await open();
  });
  afterAll(async () => {
    await opened?.t.close();
    await opened?.close?.();
    await opened?.db.close();
  });
  return {
    get db() {
      return opened!.db;
    },
    get t() {
      return opened!.t;
    },
    get url() {
      return opened!.t.url;
    },
  };
}

/**
 * Gives the enclosing `describe` a fresh test database and an app on it, built before its tests
 * and closed after them. `prepare` fills the database before the app starts.
 */
export function useTestApp(
  options: { db?: TestDatabaseOptions; env?: Record<string, string>; prepare?: (db: TestDatabase) => Promise<void> } = {},
): AppContext {
  return useAppContext(async () => {
    const db = await createTestDatabase(options.db);
    await options.prepare?.(db);
    return { db, t: await startApp(db, options.env) };
  });
}
