/**
 * Shutting down: a request already in flight finishes and gets its answer; new requests are
 * refused; the process exits cleanly on SIGTERM. Also what the process prints at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApp, type TestApp } from './helpers/app.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.ts';
import { count, insertAuthUser, profileOf, updateAuthUser } from './helpers/users.ts';
import { waitFor, within } from './helpers/wait-for.ts';

/** The grace the server gives itself after SIGTERM (src/server.ts): past it, it exits anyway, code 1. */
const EXIT_GRACE_MS = 10_000;

describe('closing the app', () => {
  let db: TestDatabase;
  let t: TestApp;
  /** Calls the app made into its database client (PGlite only: on PostgreSQL it has a pool of its own). */
  let appCalls = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    if (onPostgres) t = await startApp(db);
    else {
      // The app's one embedded database, with each call it makes counted on the way in.
      const sql = new Proxy(db.sql, {
        get(target, key, receiver) {
          const value: unknown = Reflect.get(target, key, receiver);
          if (typeof value !== 'function' || key === 'close') return value;
          return (...args: unknown[]) => {
            appCalls++;
            return (value as (...args: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      t = await startApp({ ...db, sql });
    }
  });
  afterAll(async () => {
    await db?.close();
  });

  /**
   * Resolves once the app has a statement waiting behind the row lock the test holds. PostgreSQL
   * shows it as a session waiting on a lock; PGlite runs one statement at a time, so there any
   * call the app makes waits for the test's open transaction to end: it is seen as it goes in.
   */
  const appWaitsOnTheLock = (callsBefore: number) =>
    waitFor(
      async () =>
        onPostgres
          ? (await count(db.sql, `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)) > 0
          : appCalls > callsBefore,
      { timeoutMs: 10_000, what: 'the in-flight sync to wait on the locked row' },
    );

  it('lets an in-flight sync finish and refuses new requests meanwhile', async () => {
    const id = await insertAuthUser(db.sql, { email: 'draining@example.com' });
    await request(t.url).post(`/sync/${id}`).set(auth).expect(200);
    await updateAuthUser(db.sql, id, { email: 'drained@example.com' });

    // Hold the profile row locked, so the next sync blocks inside the database.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.sql.transaction(async (tx) => {
      await tx.query('SELECT id FROM public.users WHERE id = $1 FOR UPDATE', [id]);
      locked();
      await released;
    });
    await isLocked;

    try {
      const callsBefore = appCalls;
      const inFlight = request(t.url).post(`/sync/${id}`).set(auth).then((res) => res);
      // Closing begins only once the sync is in the database, blocked: well past any check at its arrival.
      await appWaitsOnTheLock(callsBefore);
      const closing = t.close();

      // A new request is refused (connection refused, or 503 on a kept-alive socket), never served.
      const late = await fetch(`${t.url}/health`).then(
        (res) => res.status,
        (error: Error & { cause?: { code?: string } }) => error.cause?.code,
      );
      expect([503, 'ECONNREFUSED', 'ECONNRESET']).toContain(late);

      release();
      await holder;
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(res.body.action).toBe('updated');
      // Finished while closing: the connection ends with it rather than idling into the close.
      expect(res.headers.connection).toBe('close');
      await closing;
    } finally {
      release();
      await holder;
    }
    expect(await profileOf(db.sql, id)).toMatchObject({ email: 'drained@example.com' });
  });
});

describe('the server process', () => {
  const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
  const server = fileURLToPath(new URL('../src/server.ts', import.meta.url));

  /** Starts the real server in embedded mode on a free port; resolves once it prints its banner. */
  function start(env: Record<string, string>): Promise<{ child: ChildProcess; stdout: () => string; url: string }> {
    const child = spawn(tsx, [server], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', EMBEDDED_DATA_DIR: 'memory://', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner in 30 s:\n${out}`)), 30_000);
      child.stdout.on('data', () => {
        const match = /Swagger UI: (http:\/\/[^/\s]+)\/docs/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve({ child, stdout: () => out, url: match[1]! });
        }
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
  }

  const exitOf = (child: ChildProcess) =>
    new Promise<{ code: number | null }>((resolve) => {
      child.on('exit', (code) => resolve({ code }));
    });

  it('with no SERVICE_TOKENS prints Swagger UI and a generated token that works; exits 0 on SIGTERM within its grace', async () => {
    const { child, stdout, url } = await start({});
    const token = /made an admin token[^\n]*\n\s+(\S+)/.exec(stdout())?.[1];
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await request(url).get('/users/missing').set('Authorization', `Bearer ${token}`).expect(200);
    await request(url).get('/docs/').expect(200);

    const exited = exitOf(child);
    child.kill('SIGTERM');
    // The test waits for the exit as long as the server's own grace, and no longer.
    const { code } = await within(exited, { timeoutMs: EXIT_GRACE_MS, what: 'the server to exit after SIGTERM' });
    expect(code).toBe(0);
  });

  it('with SERVICE_TOKENS set prints no token at all', async () => {
    const configured = 'ops:abcdefghijklmnopqrstuvwxyz0123456789';
    const { child, stdout } = await start({ SERVICE_TOKENS: configured });
    const exited = exitOf(child);
    child.kill('SIGTERM');
    await exited;
    expect(stdout()).toContain('Swagger UI');
    expect(stdout()).not.toMatch(/admin token/);
    expect(stdout()).not.toContain('abcdefghijklmnopqrstuvwxyz0123456789');
  });
});
